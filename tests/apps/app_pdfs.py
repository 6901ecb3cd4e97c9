"""Small PDFs for the app tests, built with pypdf in a test's folder: one with text, and the kinds a visitor
may upload by mistake (a scan with no text layer, a damaged file, a password, another file renamed .pdf, nothing)."""

from pathlib import Path

from pdf_files import write_pdf

PAGES = [
    ["Harlow Freight annual report", "The company moved its depot twice in the last decade."],
    ["Harlow Freight annual report", "The lighthouse on Wyke Island was built by Elsa Brandt in 1901."],
]
QUESTION = "Who built the lighthouse on Wyke Island?"
ANSWER = "Elsa Brandt"

# Each bad PDF and the words mmkit's message about it must hold (a regex).
BAD_PDFS = {
    "scan.pdf": "no text layer",
    "damaged.pdf": "could not be read as a PDF",
    "locked.pdf": "password-protected",
    "photo.pdf": "is not a PDF",
    "empty.pdf": "the file is empty",
}


def write_pdfs(folder: Path) -> Path:
    """Write report.pdf (the good one) and every file named in BAD_PDFS into ``folder``."""
    good = write_pdf(folder / "report.pdf", PAGES).read_bytes()
    write_pdf(folder / "scan.pdf", [[], []])  # what a scan without OCR gives: pages, but no text on them
    write_pdf(folder / "locked.pdf", PAGES, password="secret")
    (folder / "damaged.pdf").write_bytes(good[: len(good) // 2])  # an upload cut off half way
    (folder / "photo.pdf").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(500))
    (folder / "empty.pdf").write_bytes(b"")
    return folder
