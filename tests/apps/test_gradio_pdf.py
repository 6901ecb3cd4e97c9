"""PDF uploads in the Gradio app's long-text QA tab, through its API on a live server."""

import re

import pytest

gradio_client = pytest.importorskip("gradio_client")
pytest.importorskip("pypdf")
from app_pdfs import ANSWER, BAD_PDFS, QUESTION, write_pdfs  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from mmkit.longtext.pdf import pdf_text  # noqa: E402


@pytest.fixture(scope="module")
def client(gradio_url):
    return gradio_client.Client(gradio_url, verbose=False)


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory):
    return write_pdfs(tmp_path_factory.mktemp("pdfs"))


def ask(client, path, question=QUESTION):
    # A blank model field reads with the answer-key reader here (tests/apps/answer_key_app.py): quick; the reading
    # itself is tested in tests/longtext and tests/apps/test_app_real_reader.py.
    return client.predict("", gradio_client.handle_file(str(path)), question, "", "none", "en",
                          api_name="/answer")


def assert_answered(answer, highlighted, text):
    assert answer == ANSWER
    # The highlighted view is the text extracted from the PDF (not the file's bytes), the evidence marked in it.
    assert "".join(part["token"] for part in highlighted) == text
    evidence = [part["token"] for part in highlighted if part.get("class_or_confidence") == "evidence"]
    assert len(evidence) == 1 and ANSWER in evidence[0] and evidence[0] in text


def test_a_pdf_is_answered_with_its_evidence_highlighted_in_the_extracted_text(client, pdfs):
    answer, highlighted = ask(client, pdfs / "report.pdf")
    assert_answered(answer, highlighted, pdf_text(pdfs / "report.pdf"))


@pytest.mark.parametrize("name", list(BAD_PDFS))
def test_a_bad_pdf_is_a_clear_error_and_the_next_pdf_is_answered(client, pdfs, name):
    with pytest.raises(AppError) as caught:
        ask(client, pdfs / name)
    message = str(caught.value)
    assert re.search(BAD_PDFS[name], message), message
    assert not any(word in message for word in ("Something went wrong", "Traceback", "/tmp/gradio")), message
    assert_answered(*ask(client, pdfs / "report.pdf"), pdf_text(pdfs / "report.pdf"))
