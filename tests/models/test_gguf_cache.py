"""The verified model cache: built once, checked on every load, rebuilt when damaged; GGUF conversion."""

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from mmkit.models import gguf_cache
from mmkit.models.gguf_cache import MANIFEST, cache_root, ensure_cached, load_cached_gguf, verify_cache


def tiny_llama(calls: list):
    """A build function that saves a 1-layer Llama (seeded, so every build writes the same weights)."""

    def build(folder):
        from transformers import LlamaConfig, LlamaForCausalLM

        calls.append(folder)
        torch.manual_seed(0)
        config = LlamaConfig(
            vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
            num_key_value_heads=2, max_position_embeddings=32,
        )
        LlamaForCausalLM(config).save_pretrained(folder)

    return build


def write_tiny_gguf(path):
    """A 1-layer Llama GGUF with Q8_0 weights and a character-level BPE tokenizer, like a real converted model."""
    import gguf
    from gguf.quants import quantize

    dim, ffn, vocab = 32, 64, 64
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_context_length(64)
    writer.add_embedding_length(dim)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(2)
    writer.add_head_count_kv(2)
    writer.add_rope_dimension_count(dim // 2)
    writer.add_layer_norm_rms_eps(1e-5)
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    tokens = ["<s>", "</s>", "<unk>", "ab", "Ġ", *letters, ".", "?"]
    tokens += [f"<extra{i}>" for i in range(vocab - len(tokens))]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([3, 3, 2] + [1] * (vocab - 3))
    writer.add_token_merges(["a b"])
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(1)
    rng = np.random.default_rng(0)

    def tensor(name, shape, quantized=True):
        values = (rng.standard_normal(shape) * 0.02).astype(np.float32)
        if quantized:
            q8 = gguf.GGMLQuantizationType.Q8_0
            writer.add_tensor(name, quantize(values, q8), raw_dtype=q8)
        else:
            writer.add_tensor(name, values)

    tensor("token_embd.weight", (vocab, dim))
    tensor("output_norm.weight", (dim,), quantized=False)
    tensor("blk.0.attn_norm.weight", (dim,), quantized=False)
    tensor("blk.0.ffn_norm.weight", (dim,), quantized=False)
    for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
        tensor(f"blk.0.{name}.weight", (dim, dim))
    tensor("blk.0.ffn_gate.weight", (ffn, dim))
    tensor("blk.0.ffn_up.weight", (ffn, dim))
    tensor("blk.0.ffn_down.weight", (dim, ffn))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MMKIT_CACHE", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
    monkeypatch.delenv("MMKIT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "mmkit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "mmkit"


def test_built_once_with_a_manifest_then_reused(tmp_path):
    calls, folder = [], tmp_path / "tiny"
    assert ensure_cached(folder, tiny_llama(calls)) == folder
    manifest = json.loads((folder / MANIFEST).read_text())["files"]
    assert set(manifest) == {"config.json", "generation_config.json", "model.safetensors"}
    weights = folder / "model.safetensors"
    assert manifest["model.safetensors"]["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    ensure_cached(folder, tiny_llama(calls))
    assert len(calls) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]  # no temporary folder left behind


def test_altered_weights_are_detected_and_rebuilt(tmp_path):
    calls, folder = [], tmp_path / "tiny"
    ensure_cached(folder, tiny_llama(calls))
    weights = folder / "model.safetensors"
    original = weights.read_bytes()
    data = bytearray(original)
    data[len(data) // 2] ^= 0xFF  # same size, one byte different: only the checksum can tell
    weights.write_bytes(bytes(data))
    assert not verify_cache(folder)
    ensure_cached(folder, tiny_llama(calls))
    assert len(calls) == 2 and verify_cache(folder)
    assert weights.read_bytes() == original


@pytest.mark.parametrize("damage", ["no manifest", "garbage manifest", "truncated file", "missing file"])
def test_half_written_cache_is_rebuilt(tmp_path, damage):
    calls, folder = [], tmp_path / "tiny"
    ensure_cached(folder, tiny_llama(calls))
    if damage == "no manifest":
        (folder / MANIFEST).unlink()
    elif damage == "garbage manifest":
        (folder / MANIFEST).write_text('{"files": ')
    elif damage == "truncated file":
        with open(folder / "model.safetensors", "r+b") as f:
            f.truncate(100)
    else:
        (folder / "config.json").unlink()
    assert not verify_cache(folder)
    ensure_cached(folder, tiny_llama(calls))
    assert len(calls) == 2 and verify_cache(folder)


def test_failed_build_leaves_no_folder(tmp_path):
    def build(folder):
        (folder / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("killed mid-conversion")

    with pytest.raises(RuntimeError):
        ensure_cached(tmp_path / "tiny", build)
    assert list(tmp_path.iterdir()) == []


def test_stale_partial_folders_are_cleaned(tmp_path):
    stale, fresh = tmp_path / ".tiny.partial-dead", tmp_path / ".tiny.partial-busy"
    stale.mkdir()
    fresh.mkdir()  # another process may still be writing this one
    old = time.time() - gguf_cache.STALE_PARTIAL_S - 60
    os.utime(stale, (old, old))
    ensure_cached(tmp_path / "tiny", tiny_llama([]))
    assert not stale.exists() and fresh.exists()


def test_losing_a_race_keeps_the_winner(tmp_path):
    folder, calls = tmp_path / "tiny", []

    def slow_build(tmp):
        ensure_cached(folder, tiny_llama(calls))  # another process finishes first
        tiny_llama(calls)(tmp)

    assert ensure_cached(folder, slow_build) == folder
    assert verify_cache(folder) and len(calls) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]


def test_gguf_is_converted_into_the_cache(tmp_path):
    from transformers import AutoModelForCausalLM

    source = write_tiny_gguf(tmp_path / "tiny.gguf")
    made = []

    def make_gguf(workdir):  # like Gemma's assemble(): the GGUF is written inside the work folder
        made.append(workdir)
        return Path(shutil.copy(source, workdir / source.name))

    folder = tmp_path / "cache" / "tiny-q8"
    model, tokenizer = load_cached_gguf(folder, make_gguf)
    assert verify_cache(folder) and not (folder / "_gguf").exists()  # the GGUF itself is not kept
    ids = tokenizer("Hello", return_tensors="pt").input_ids
    assert tokenizer.decode(ids[0]) == "Hello"
    # the cached model is the de-quantized GGUF, weight for weight
    direct = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tiny.gguf", dtype=torch.float32)
    assert torch.allclose(model(ids).logits, direct(ids).logits)
    load_cached_gguf(folder, make_gguf)
    assert len(made) == 1
