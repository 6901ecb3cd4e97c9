"""The apps' quantization box: switching it back to "none" gives a float model, in both apps.

Each app keeps one pipeline per (task, model, quantization) for the whole process; the handlers are called here as
the apps call them, in-process, so that the layers of the pipeline they used can be counted. Captioning names
tiny-captioner: the default photo model (a 19 MB CNN) is not quantized.
"""

import sys
from pathlib import Path

import pytest

import mmkit.models.registry as registry
from mmkit.models import is_ready

bnb = pytest.importorskip("bitsandbytes")
pytest.importorskip("gradio")
pytest.importorskip("streamlit")

APPS = Path(__file__).resolve().parents[2] / "apps"
IMAGE = APPS.parent / "data" / "examples" / "images" / "red_apple.png"
SWITCHES = ["8bit", "none", "4bit", "none"]


@pytest.fixture(scope="module")
def apps():
    sys.path.insert(0, str(APPS))
    try:
        import gradio_app
        import st_common

        yield gradio_app, st_common
    finally:
        sys.path.remove(str(APPS))


def quantized_layers(module) -> int:
    return sum(isinstance(m, (bnb.nn.Linear8bitLt, bnb.nn.Linear4bit)) for m in module.modules())


def check(pipeline, quantization: str) -> None:
    if quantization == "none":
        assert quantized_layers(pipeline.module) == 0
        assert pipeline.describe().startswith("not quantized") and "quantization=" not in repr(pipeline)
    else:
        assert quantized_layers(pipeline.module) > 0
        assert f"quantization='{quantization}'" in repr(pipeline)


def test_gradio_classify_back_to_none_is_float(apps):
    gradio_app, _ = apps
    for quantization in SWITCHES:
        scores = gradio_app.classify("The striker scored twice in the final.", "sports, cooking", "", quantization)
        assert max(scores, key=scores.get) == "sports"
        check(gradio_app.get_pipeline("text-classification", "", quantization), quantization)
    assert quantized_layers(registry.load("minilm")) == 0


@pytest.mark.skipif(not is_ready("tiny-captioner"), reason="the tiny captioner is not trained yet")
def test_gradio_caption_back_to_none_is_float(apps):
    gradio_app, _ = apps
    for quantization in SWITCHES:
        caption, _, maps = gradio_app.caption(str(IMAGE), "en", 1, "tiny-captioner", quantization)
        assert caption and len(maps) == len(caption.split())
        check(gradio_app.get_pipeline("image-captioning", "tiny-captioner", quantization), quantization)
    assert quantized_layers(registry.load("tiny-captioner")) == 0


@pytest.mark.skipif(not is_ready("tiny-captioner"), reason="the tiny captioner is not trained yet")
def test_streamlit_pipelines_back_to_none_are_float(apps):
    _, st_common = apps
    for quantization in SWITCHES:
        cap = st_common.get_pipeline("image-captioning", "tiny-captioner", quantization)
        assert cap(IMAGE)["caption"]
        check(cap, quantization)
    assert quantized_layers(registry.load("tiny-captioner")) == 0
