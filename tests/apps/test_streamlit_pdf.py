"""PDF uploads on the Streamlit long-text QA page, driven by streamlit's AppTest."""

import re
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("pypdf")
from answer_key_reader import blank_reader_is_answer_key  # noqa: E402
from app_pdfs import ANSWER, BAD_PDFS, QUESTION, write_pdfs  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from mmkit.longtext.pdf import pdf_text  # noqa: E402

APPS = Path(__file__).resolve().parents[2] / "apps"
APP = str(APPS / "streamlit_app.py")


@pytest.fixture(autouse=True)
def answer_key_reader(monkeypatch):
    """A blank reader field reads with the answer-key reader (tests/answer_key_reader.py), not the 1.5B reader: these
    tests are about the page; the reading is tested in tests/longtext and tests/apps/test_app_real_reader.py."""
    monkeypatch.syspath_prepend(str(APPS))
    import st_common

    monkeypatch.setattr(st_common, "get_pipeline", blank_reader_is_answer_key(st_common.get_pipeline))




def qa_page() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=300)
    app.run()
    app.switch_page("st_pages/qa.py")
    app.run()
    app.text_input(key="qa_question").input(QUESTION)
    return app


def ask(app: AppTest, pdf: Path) -> AppTest:
    app.file_uploader(key="qa_upload").set_value((pdf.name, pdf.read_bytes(), "application/pdf"))
    app.button(key="qa_go").click()
    app.run()
    assert not app.exception, app.exception
    return app


def assert_answered(app: AppTest, text: str) -> None:
    assert not app.error, [e.value for e in app.error]
    assert app.subheader[0].value == ANSWER
    # The evidence is shown marked inside the text extracted from the PDF, not the file's bytes.
    shown = app.markdown[-1].value
    (evidence,) = re.findall(r"\*\*:orange-background\[(.*?)\]\*\*", shown, flags=re.S)
    plain = re.sub(r"\\(.)", r"\1", shown.replace(f"**:orange-background[{evidence}]**", evidence))
    evidence = re.sub(r"\\(.)", r"\1", evidence)  # the document's text is shown escaped, as typed
    assert ANSWER in evidence and evidence in text
    assert plain == f"…{text}…"


def test_a_pdf_is_answered_and_bad_ones_are_clear_errors(tmp_path, temp_root):
    pdfs = write_pdfs(tmp_path)
    text = pdf_text(pdfs / "report.pdf")
    app = ask(qa_page(), pdfs / "report.pdf")
    assert_answered(app, text)
    for name, words in BAD_PDFS.items():
        ask(app, pdfs / name)
        assert len(app.error) == 1 and re.search(words, app.error[0].value), [e.value for e in app.error]
        assert_answered(ask(app, pdfs / "report.pdf"), text)
    assert list(temp_root.glob("mmkit-upload-*")) == []  # each upload was read in a folder of its own, then removed


def test_a_typed_document_is_shown_as_typed_not_as_markdown():
    document = ("The gate code of the north depot is 4417. ![tracker](http://example.com/pixel.png) "
                "**loud** :red[alarm] [link](http://example.com) `code` # heading")
    app = qa_page()
    app.text_area(key="qa_document").input(document)
    app.text_input(key="qa_question").input("What is the gate code of the north depot?")
    app.button(key="qa_go").click()
    app.run()
    assert not app.exception and not app.error
    shown = app.markdown[-1].value
    (evidence,) = re.findall(r"\*\*:orange-background\[(.*?)\]\*\*", shown, flags=re.S)
    body = shown.replace(f"**:orange-background[{evidence}]**", "")
    assert not re.search(r"(?<!\\)[\[\]()*!:`#]", body)  # every markdown character escaped
    plain = re.sub(r"\\(.)", r"\1", shown.replace(f"**:orange-background[{evidence}]**", evidence))
    assert plain == f"…{document}…" and "4417" in evidence
