"""Faults on disk that the existing tests do not reach, checked through the code a user calls.

Already covered elsewhere (and not repeated here): interrupted index saves, SIGKILL mid-save and checksums of
``VectorIndex`` (tests/test_index.py), a flipped byte in a retrieval index (tests/pipelines/test_retrieval.py), and
``ensure_cached`` rebuilding a damaged folder (tests/models/test_gguf_cache.py). Added here: the retrieval pipeline's
``load()`` on half-written, truncated, mismatched and partly corrupt saves, and the reader cache damaged after a
real GGUF conversion, detected and rebuilt on the way to ``from_pretrained``.
"""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

import mmkit
from mmkit.errors import InputError
from mmkit.index import VectorIndex
from mmkit.models.gguf_cache import MANIFEST, load_cached_gguf, verify_cache

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "data" / "examples" / "images"


# ------------------------------------------------------------------------------------------- retrieval load()


@pytest.fixture(scope="module")
def retriever(tiny_clip_folder):
    ret = mmkit.pipeline("cross-modal-retrieval", model=str(tiny_clip_folder))
    ret.add(sorted(IMAGES.glob("*.png"))[:6])
    ret.add_captions(["a red apple", "a dog's face", "a rocket"], ids=["apple", "dog", "rocket"])
    return ret


@pytest.fixture
def saved(retriever, tmp_path):
    retriever.save(tmp_path / "idx")
    return tmp_path / "idx"


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize(("damage", "words"), [
    (lambda d: _truncate(d / "images" / "meta.json"), "index at .* is corrupt: meta.json cannot be read"),
    (lambda d: (d / "images" / "meta.json").write_text(""), "is corrupt: meta.json cannot be read"),
    (lambda d: _truncate(d / "images" / "vectors.safetensors"), r"index file is corrupt \(checksum mismatch\)"),
    (lambda d: (d / "images" / "vectors.safetensors").unlink(), r"index file is corrupt \(checksum mismatch\)"),
    (lambda d: (d / "images" / "meta.json").unlink(), "no index at .*meta.json is missing"),
    (lambda d: _truncate(d / "captions" / "vectors.safetensors", 0.9), r"checksum mismatch\) in .*captions"),
], ids=["half-written meta", "empty meta", "truncated vectors", "missing vectors", "missing meta",
        "truncated captions"])
def test_damaged_saved_index_is_refused_by_load(retriever, saved, damage, words):
    damage(saved)
    with pytest.raises(InputError, match=words):
        retriever.fresh().load(saved)


def test_load_that_fails_leaves_the_pipeline_as_it_was(retriever, saved):
    """A save whose image index is fine but whose caption index is damaged must not be half loaded."""
    current = retriever.fresh()
    current.add([IMAGES / "red_apple.png"], ids=["mine"])
    other = retriever.fresh()
    other.add([IMAGES / "dog_face.png"], ids=["theirs"])
    other.add_captions(["a dog"], ids=["dog"])
    other.save(saved.parent / "other")
    _truncate(saved.parent / "other" / "captions" / "vectors.safetensors", 0.9)
    with pytest.raises(InputError, match="checksum mismatch"):
        current.load(saved.parent / "other")
    assert current.images.ids == ["mine"]  # not "theirs": an index from the refused save must not stay loaded
    assert len(current.captions) == 0


def test_index_built_with_another_model_is_refused_at_load(retriever, tmp_path):
    """Vectors of another width come from another model: say so at load, not as a shape error at search time."""
    foreign = VectorIndex(384, backend="exact")
    foreign.add(torch.randn(3, 384), ids=["a", "b", "c"])
    foreign.save(tmp_path / "foreign" / "images")
    assert retriever.dim == 16
    with pytest.raises(InputError, match=r"(?i)384.*16|16.*384"):
        retriever.fresh().load(tmp_path / "foreign")


def test_a_folder_that_is_not_an_index(retriever, tmp_path):
    with pytest.raises(InputError, match="holds no saved index"):
        retriever.fresh().load(tmp_path / "nothing")
    (tmp_path / "file").mkdir()
    (tmp_path / "file" / "images").write_text("not a folder")
    with pytest.raises(InputError, match="no index at"):
        retriever.fresh().load(tmp_path / "file")


def test_a_good_save_still_loads_and_answers(retriever, saved):
    restored = retriever.fresh().load(saved)
    query = IMAGES / "dog_face.png"
    assert [h["id"] for h in restored.search(query, k=3)] == [h["id"] for h in retriever.search(query, k=3)]
    assert restored.captions.ids == ["apple", "dog", "rocket"]


# ------------------------------------------------------------------------------------------- reader cache


def _write_tiny_gguf():
    """write_tiny_gguf from tests/models/test_gguf_cache.py (loaded by path: test folders are not packages)."""
    spec = importlib.util.spec_from_file_location("_mmkit_test_gguf_cache", ROOT / "tests" / "models" / "test_gguf_cache.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_tiny_gguf


@pytest.fixture(scope="module")
def gguf(tmp_path_factory):
    pytest.importorskip("gguf")
    return _write_tiny_gguf()(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def _damage_cache(folder: Path, damage: str) -> None:
    weights = folder / "model.safetensors"
    if damage == "weights cut in half":  # the machine died while the converted weights were being written
        _truncate(weights)
    elif damage == "tokenizer missing":
        next(folder.glob("tokenizer*.json")).unlink()
    elif damage == "manifest half-written":
        _truncate(folder / MANIFEST)
    elif damage == "weights replaced by zeros":  # same size, wrong content
        weights.write_bytes(bytes(weights.stat().st_size))


@pytest.mark.parametrize("damage", ["weights cut in half", "tokenizer missing", "manifest half-written",
                                    "weights replaced by zeros"])
def test_damaged_reader_cache_is_rebuilt_on_load(gguf, tmp_path, damage):
    conversions = []

    def make_gguf(workdir):
        conversions.append(workdir)
        return gguf

    folder = tmp_path / "cache" / "tiny-q8"
    model, tokenizer = load_cached_gguf(folder, make_gguf)
    ids = tokenizer("Hello there", return_tensors="pt").input_ids
    expected = model(ids).logits
    _damage_cache(folder, damage)
    assert not verify_cache(folder)
    model, tokenizer = load_cached_gguf(folder, make_gguf)  # detected before from_pretrained reads it
    assert len(conversions) == 2 and verify_cache(folder)
    assert torch.equal(model(tokenizer("Hello there", return_tensors="pt").input_ids).logits, expected)
    assert sorted(p.name for p in folder.parent.iterdir()) == ["tiny-q8"]  # no partial folder left


def test_conversion_killed_midway_leaves_nothing_that_loads(gguf, tmp_path):
    folder = tmp_path / "cache" / "tiny-q8"

    def dies(workdir):
        (workdir.parent / "model.safetensors").write_bytes(b"half of a model")
        raise KeyboardInterrupt  # Ctrl-C, or the Space restarting, during the first conversion

    with pytest.raises(KeyboardInterrupt):
        load_cached_gguf(folder, dies)
    assert not folder.exists()
    model, _ = load_cached_gguf(folder, lambda workdir: gguf)
    assert verify_cache(folder) and model.config.num_hidden_layers == 1
    assert json.loads((folder / MANIFEST).read_text())["files"]
