"""PDF documents: the text layer of every page, through ``pypdf``.

``pypdf`` is pure Python (BSD licence, a ~0.4 MB wheel, no compiled parts), so a PDF costs mmkit nothing to
install on a laptop or a Space; it reads the text layer a PDF already has and does no OCR. Pages are joined by
a blank line (``PAGE_SEPARATOR``), so a page break is a paragraph break for the chunker and a header or footer
repeated on every page is dropped by :mod:`mmkit.longtext.cleaning` like any other repeated line.

Offsets returned by the long-text QA pipeline for a PDF refer to this extracted text (:func:`pdf_text`), not
to bytes of the file: ``pdf_text(path)[out["start"]:out["end"]]`` is the evidence, and :func:`page_of` says on
which page it is.
"""

import os
from bisect import bisect_right

from mmkit.errors import InputError, MissingDependencyError
from mmkit.inputs import checked_file

MAX_PDF_BYTES = 50_000_000  # a PDF carries fonts and images beside its text, so it may be larger than a .txt
MAX_PDF_PAGES = 3000
PAGE_SEPARATOR = "\n\n"


def _pypdf():
    try:
        import pypdf
    except ImportError as error:
        raise MissingDependencyError(
            "reading PDF needs pypdf: pip install pypdf (or pip install mmkit)"
        ) from error
    return pypdf


def pdf_pages(path: str | os.PathLike) -> list[str]:
    """The text of each page of the PDF at ``path``, in order ("" for a page without text).

    Raises InputError for a missing, empty, oversized, corrupt or password-protected file, and for a PDF with
    no text layer at all (a scan), naming what to do instead.
    """
    pypdf = _pypdf()
    path, _ = checked_file(path, MAX_PDF_BYTES)
    with open(path, "rb") as f:
        if not f.read(1024).lstrip().startswith(b"%PDF-"):
            raise InputError(f"'{path.name}' is not a PDF (it does not start with %PDF-)")
    try:
        reader = pypdf.PdfReader(path)
        if reader.is_encrypted:
            # Many PDFs are encrypted only to restrict printing or copying, with an empty user password: those
            # open.
            try:
                opened = reader.decrypt("")
            except pypdf.errors.DependencyError as error:  # AES needs the optional `cryptography` package
                raise InputError(
                    f"'{path.name}' is encrypted with AES; pip install cryptography to open it, or "
                    "save an unencrypted copy"
                ) from error
            if not opened:
                raise InputError(
                    f"'{path.name}' is password-protected; save an unencrypted copy and upload that"
                )
        count = len(reader.pages)
        if count > MAX_PDF_PAGES:
            raise InputError(f"the PDF has {count} pages; the limit is {MAX_PDF_PAGES}")
        pages = []
        for number, page in enumerate(reader.pages, 1):
            try:
                pages.append(page.extract_text() or "")
            except InputError:
                raise
            except Exception as error:  # pypdf raises many types on a damaged content stream
                raise InputError(f"page {number} of '{path.name}' could not be read: {error}") from error
    except InputError:
        raise
    except Exception as error:  # PdfReadError, or ValueError/KeyError/... on a damaged cross-reference table
        raise InputError(
            f"'{path.name}' could not be read as a PDF ({type(error).__name__}: {error}); "
            "it may be damaged or truncated"
        ) from error
    if not any(page.strip() for page in pages):
        raise InputError(
            f"'{path.name}' has no text layer ({count} page(s), no extractable text): it is probably a "
            "scan; run OCR on it first (e.g. ocrmypdf) or upload the text"
        )
    return pages


def pdf_text(path: str | os.PathLike) -> str:
    """The extracted text of the whole PDF: its pages joined by ``PAGE_SEPARATOR``, "\\r\\n" made "\\n"."""
    return PAGE_SEPARATOR.join(page.replace("\r\n", "\n").replace("\r", "\n") for page in pdf_pages(path))


def page_starts(pages: list[str]) -> list[int]:
    """Offset in the joined text (as :func:`pdf_text` builds it) where each page begins."""
    starts, position = [], 0
    for page in pages:
        starts.append(position)
        position += len(page.replace("\r\n", "\n").replace("\r", "\n")) + len(PAGE_SEPARATOR)
    return starts


def page_of(offset: int, starts: list[int]) -> int:
    """The 1-based page number holding character ``offset`` of the joined text, given :func:`page_starts`."""
    return max(1, bisect_right(starts, offset))
