from pathlib import Path

import pytest

import mmkit
from mmkit.errors import InputError
from mmkit.models import is_ready

IMAGES = Path(__file__).resolve().parents[2] / "data" / "examples" / "images"
needs_model = pytest.mark.skipif(
    not is_ready("tiny-captioner"),
    reason="tiny-captioner is not trained: python -m mmkit.training.recipes tiny-captioner",
)


def test_unknown_hub_id_names_the_embedded_alternative(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="tiny-captioner"):
        mmkit.pipeline("image-captioning", model="no-such-org/no-such-captioner")


@pytest.fixture(scope="module")
def cap():
    return mmkit.pipeline("image-captioning", model="tiny-captioner")


@needs_model
def test_greedy_beam_and_attention(cap):
    greedy = cap(str(IMAGES / "red_apple.png"))
    assert greedy["caption"]
    assert cap(str(IMAGES / "red_apple.png"), num_beams=1) == greedy
    explained = cap(str(IMAGES / "red_apple.png"), return_attention=True)
    assert explained["caption"] == greedy["caption"]
    assert len(explained["attention"]) == len(explained["words"])
    chinese = cap(str(IMAGES / "red_apple.png"), lang="zh")["caption"]
    assert chinese and all("\u4e00" <= ch <= "\u9fff" or not ch.isalpha() for ch in chinese)


@needs_model
def test_bad_images_are_clear_errors(cap, tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not an image" * 10)
    with pytest.raises(InputError):
        cap(str(fake))
    with pytest.raises(InputError, match="num_beams"):
        cap(str(IMAGES / "red_apple.png"), num_beams=50)
