"""PDF input: the text layer page by page, offsets into the extracted text, clear errors for PDFs without one."""

import pytest

pytest.importorskip("pypdf")

from answer_key_reader import AnswerKeyReader  # noqa: E402
from pdf_files import write_pdf  # noqa: E402

from mmkit.errors import InputError  # noqa: E402
from mmkit.longtext.pdf import page_of, page_starts, pdf_pages, pdf_text  # noqa: E402
from mmkit.longtext.qa import LongTextQA  # noqa: E402

HEADER = "Harlow Freight annual report"
PAGES = [
    [HEADER, "The company moved its depot twice in the last decade.", "Most parcels now travel by rail."],
    [HEADER, "The lighthouse on Wyke Island was built by Elsa Brandt in 1901.", "It still guides the ferries."],
    [HEADER, "The footbridge over the Swale River is 120 metres long.", "It was repainted last spring."],
]


@pytest.fixture()
def report(tmp_path):
    return write_pdf(tmp_path / "report.pdf", PAGES)


def test_pages_are_extracted_in_order_and_joined_by_a_blank_line(report):
    pages = pdf_pages(report)
    assert [page.splitlines() for page in pages] == PAGES
    text = pdf_text(report)
    assert text == "\n\n".join(pages)
    starts = page_starts(pages)
    assert starts[0] == 0 and text[starts[2]:].startswith(HEADER)
    assert page_of(text.index("Swale"), starts) == 3 and page_of(0, starts) == 1


def test_qa_on_a_pdf_path_answers_with_offsets_into_the_extracted_text(report):
    qa = LongTextQA(encoder=False, reader=AnswerKeyReader({"Who built the lighthouse on Wyke Island?": "Elsa Brandt",
                                                           "How long is the footbridge over the Swale River?":
                                                           "120 metres"}))
    text = pdf_text(report)
    for question, answer, page in [("Who built the lighthouse on Wyke Island?", "Elsa Brandt", 2),
                                   ("How long is the footbridge over the Swale River?", "120 metres", 3)]:
        for document in (report, str(report)):  # a Path and a string path both read the PDF
            out = qa(question, document)
            assert out["found"] and out["answer"] == answer
            assert text[out["answer_start"] : out["answer_end"]] == answer
            assert answer in text[out["start"] : out["end"]]
            assert page_of(out["start"], page_starts(pdf_pages(report))) == page
    # the header repeated on every page is boilerplate: no evidence or chunk is made of it alone
    out = qa("Who built the lighthouse on Wyke Island?", report)
    assert HEADER not in out["evidence"]


def test_a_pdf_encrypted_with_an_empty_user_password_opens(tmp_path):
    path = write_pdf(tmp_path / "restricted.pdf", [["The access code for the Quenby storage room is 4242."]],
                     password="")
    question = "What is the access code for the Quenby storage room?"
    out = LongTextQA(encoder=False, reader=AnswerKeyReader({question: "4242"}))(question, path)
    assert out["answer"] == "4242"


def test_a_password_protected_pdf_is_refused(tmp_path):
    path = write_pdf(tmp_path / "locked.pdf", [["secret"]], password="hunter2")
    with pytest.raises(InputError, match="password-protected"):
        pdf_text(path)


def test_a_scanned_pdf_without_a_text_layer_is_refused(tmp_path):
    from PIL import Image

    path = tmp_path / "scan.pdf"
    Image.new("RGB", (300, 400), "white").save(path)  # Pillow writes an image-only PDF
    with pytest.raises(InputError, match="no text layer"):
        LongTextQA(encoder=False, reader=AnswerKeyReader())("What is on page 1?", path)


def test_corrupt_empty_and_mislabelled_pdfs_are_refused(tmp_path, report):
    data = report.read_bytes()
    cases = {
        "truncated.pdf": (data[: len(data) // 3], "could not be read as a PDF"),
        "garbage.pdf": (b"%PDF-1.4\n" + bytes(range(256)) * 8, "could not be read as a PDF"),
        "renamed.pdf": (b"just some text, not a PDF", "not a PDF"),
        "empty.pdf": (b"", "empty"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InputError, match=message):
            pdf_text(tmp_path / name)
    with pytest.raises(InputError, match="no file"):
        pdf_text(tmp_path / "missing.pdf")
