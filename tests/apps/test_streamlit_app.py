"""Every page of the Streamlit app driven by streamlit's AppTest, with good and bad input."""

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from mmkit.models import is_ready  # noqa: E402

needs_image_models = pytest.mark.skipif(
    not (is_ready("tiny-clip") and is_ready("tiny-captioner")),
    reason="the embedded image models are not trained: "
    "python -m mmkit.training.recipes tiny-clip (then tiny-captioner)",
)
APP = str(Path(__file__).resolve().parents[2] / "apps" / "streamlit_app.py")
TIMEOUT = 300  # the first run of a page loads its model


def open_page(page: str | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    if page:
        app.switch_page(page)
        app.run()
    assert not app.exception, app.exception
    return app


def click(app: AppTest, key: str) -> AppTest:
    app.button(key=key).click()
    app.run()
    assert not app.exception, app.exception
    return app


def test_classify_page_zero_shot_and_empty_text():
    app = open_page()
    app.text_area(key="clf_text").input("Whisk the eggs and bake the cake.")
    app.text_input(key="clf_labels").input("cooking, sports")
    click(app, "clf_go")
    assert not app.error
    table = app.dataframe[0].value
    assert table.index[0] == "cooking"
    app.text_area(key="clf_text").input("   ")
    click(app, "clf_go")
    assert "empty" in app.error[0].value


@needs_image_models
def test_caption_page():
    app = open_page("st_pages/caption.py")
    click(app, "cap_go")
    assert not app.error
    assert app.subheader[0].value == "red apple"


@needs_image_models
def test_retrieval_page_search_before_and_after_index():
    app = open_page("st_pages/retrieval.py")
    click(app, "ret_search")
    assert app.warning, "searching before indexing should warn"
    click(app, "ret_build")
    assert app.success and "indexed" in app.success[0].value
    click(app, "ret_search")
    assert not app.error


def test_qa_page_answers_and_refuses_an_empty_question():
    app = open_page("st_pages/qa.py")
    click(app, "qa_go")
    assert "Jupiter" in app.subheader[0].value and app.caption[0].value == "Evidence in the document"
    app.text_input(key="qa_question").input("Who was the first person to walk on Mars?")
    click(app, "qa_go")
    assert app.subheader[0].value == "Not in the document."
    assert app.caption[0].value == "closest sentence (no answer)"  # the sentence shown is no evidence
    app.text_input(key="qa_question").input("  ")
    click(app, "qa_go")
    assert app.error and "empty" in app.error[0].value
