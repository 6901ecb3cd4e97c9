import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn
from torch.utils.data import TensorDataset

from mmkit.errors import InputError
from mmkit.training import TrainConfig, apply_lora, classification_eval, train, train_hf, trainable_parameters

ROOT = Path(__file__).resolve().parents[1]


def blobs(n=96, seed=0):
    """Three well-separated Gaussian blobs in 2-D: (n, 2) points, (n,) labels."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centres = torch.tensor([[3.0, 0.0], [-3.0, 3.0], [0.0, -3.0]])
    return centres[y] + 0.6 * torch.randn(n, 2, generator=g), y


def mlp(seed=0, dropout=0.0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 3))


def ce(model, batch):
    return F.cross_entropy(model(batch[0]), batch[1])


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_tiny_classifier_learns_and_reports_history():
    x, y = blobs()
    model = mlp()
    config = TrainConfig(epochs=8, lr=0.02, batch_size=16, warmup_ratio=0.1)
    history = train(model, TensorDataset(x, y), TensorDataset(*blobs(48, seed=1)), config,
                    loss_fn=ce, eval_fn=classification_eval)
    assert [h["epoch"] for h in history] == list(range(1, 9))
    assert {"train_loss", "lr", "eval_loss", "eval_accuracy", "eval_f1", "time_s"} <= set(history[-1])
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert history[-1]["eval_accuracy"] > 0.9
    assert history[-1]["lr"] == pytest.approx(0.0, abs=1e-9)  # the cosine schedule ends at zero


class DictModel(nn.Module):
    """Hugging Face calling convention: model(**batch) returns loss and logits."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Linear(2, 3)

    def forward(self, x, labels=None):
        logits = self.net(x)
        return {"logits": logits, "loss": F.cross_entropy(logits, labels) if labels is not None else None}


def test_dict_batches_use_the_models_own_loss():
    x, y = blobs()
    data = [{"x": a, "labels": b} for a, b in zip(x, y)]
    history = train(DictModel(), data, data[:30], TrainConfig(epochs=4, lr=0.05, batch_size=16),
                    eval_fn=classification_eval)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["eval_accuracy"] > 0.9


def test_tuple_batches_without_loss_fn_get_a_clear_error():
    x, y = blobs(16)
    with pytest.raises(InputError, match="loss_fn"):
        train(mlp(), TensorDataset(x, y), config=TrainConfig(epochs=1))


def test_config_is_validated():
    with pytest.raises(InputError):
        TrainConfig(mixed_precision="fp8")
    with pytest.raises(InputError):
        TrainConfig(warmup_ratio=1.0)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_grad_accumulation_equals_one_full_batch(optimizer):
    x, y = blobs(32)
    data = TensorDataset(x, y)
    common = dict(epochs=2, lr=0.5, optimizer=optimizer, max_grad_norm=0.5, warmup_ratio=0.25)
    full, accumulated, half = mlp(), mlp(), mlp()
    start = weights(full)
    train(full, data, config=TrainConfig(batch_size=16, **common), loss_fn=ce)
    train(accumulated, data, config=TrainConfig(batch_size=8, grad_accum_steps=2, **common), loss_fn=ce)
    train(half, data, config=TrainConfig(batch_size=8, **common), loss_fn=ce)
    for name, value in weights(full).items():
        assert not torch.allclose(value, start[name])
        torch.testing.assert_close(weights(accumulated)[name], value, rtol=1e-5, atol=1e-6)
    # without accumulation the half batches take twice as many steps: a different result
    assert not all(torch.allclose(weights(half)[k], v, atol=1e-4) for k, v in weights(full).items())


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    x, y = blobs(48)
    data, held_out = TensorDataset(x, y), TensorDataset(*blobs(24, seed=1))

    def config(out):
        return TrainConfig(epochs=3, lr=0.01, batch_size=8, warmup_ratio=0.2, output_dir=str(out), seed=7)

    straight = mlp(dropout=0.3)  # dropout + shuffling: RNG state must be restored too
    full_history = train(straight, data, held_out, config(tmp_path / "a"), loss_fn=ce)

    checkpoint = tmp_path / "a" / "checkpoint-epoch1"
    assert (checkpoint / "model.safetensors").is_file()
    assert not list(checkpoint.glob("pytorch_model*"))
    assert (tmp_path / "a" / "model" / "model.safetensors").is_file()
    saved = load_file(checkpoint / "model.safetensors")
    assert set(saved) == set(straight.state_dict())

    resumed = mlp(seed=123, dropout=0.3)  # different initial weights: the checkpoint must overwrite them
    history = train(resumed, data, held_out, config(tmp_path / "b"), loss_fn=ce, resume_from=checkpoint)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[0] == full_history[0]  # epoch 1 comes from the checkpoint
    assert history[2]["train_loss"] == pytest.approx(full_history[2]["train_loss"], rel=1e-6)
    for name, value in weights(straight).items():
        torch.testing.assert_close(weights(resumed)[name], value, rtol=0, atol=0)


def test_bf16_mixed_precision_runs_on_this_device():
    x, y = blobs(32)
    history = train(mlp(), TensorDataset(x, y), config=TrainConfig(epochs=2, lr=0.05, batch_size=16,
                                                                  mixed_precision="bf16"), loss_fn=ce)
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in history)


# --- LoRA ---------------------------------------------------------------------------------------------------


def tiny_bert(num_labels=2):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32, num_labels=num_labels)
    return BertForSequenceClassification(config)


def token_task(n=64, length=8, seed=0):
    """Label 1 iff token 7 occurs in the sequence: learnable by a tiny encoder in a few epochs."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(8, 30, (n, length), generator=g)
    labels = torch.arange(n) % 2
    ids[labels == 1, 3] = 7
    ids[:, 0] = 2  # [CLS]
    return [{"input_ids": i, "attention_mask": torch.ones(length, dtype=torch.long), "labels": label}
            for i, label in zip(ids, labels)]


def test_lora_on_hf_bert_trains_only_adapters_and_head():
    model = tiny_bert()
    query = model.bert.encoder.layer[0].attention.self.query.weight.detach().clone()
    peft_model = apply_lora(model, r=4, alpha=8)
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "classifier" in n for n in trainable)
    assert any("query.lora_A" in n for n in trainable) and any("value.lora_B" in n for n in trainable)
    # 2 layers x (query, value) x r (16 + 16), plus the classifier (16 x 2 + 2)
    assert trainable_parameters(peft_model)[0] == 2 * 2 * 4 * 32 + 34

    data = token_task()
    history = train(peft_model, data, data[:32], TrainConfig(epochs=6, lr=5e-3, batch_size=16),
                    eval_fn=classification_eval)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    torch.testing.assert_close(model.bert.encoder.layer[0].attention.self.query.base_layer.weight, query)


class TinyEncoderClassifier(nn.Module):
    """Embedding -> mmkit TransformerEncoder (q_proj/k_proj/v_proj/out_proj) -> mean pool -> head."""

    def __init__(self):
        from mmkit.nn import TransformerEncoder

        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(30, 16)
        self.encoder = TransformerEncoder(d_model=16, n_heads=2, num_layers=2)
        self.head = nn.Linear(16, 2)

    def forward(self, input_ids):
        return self.head(self.encoder(self.embed(input_ids)).mean(1))


def test_lora_on_an_own_module_targets_q_and_v_projections():
    model = TinyEncoderClassifier()
    attention = model.encoder.layers[0].self_attn
    q_before = attention.q_proj.weight.detach().clone()
    peft_model = apply_lora(model, r=2, alpha=4, modules_to_save=["head"])
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert sum("q_proj.lora_A" in n for n in trainable) == 2 and sum("v_proj.lora_B" in n for n in trainable) == 2
    assert not any("k_proj" in n or "out_proj" in n or "embed" in n for n in trainable)
    # 2 layers x (q, v) x r (16 + 16) + head (16 x 2 + 2)
    assert trainable_parameters(peft_model)[0] == 2 * 2 * 2 * 32 + 34

    rows = token_task()
    x = torch.stack([r["input_ids"] for r in rows])
    y = torch.stack([r["labels"] for r in rows])
    history = train(peft_model, TensorDataset(x, y), config=TrainConfig(epochs=6, lr=1e-2, batch_size=16),
                    loss_fn=ce)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    torch.testing.assert_close(attention.q_proj.base_layer.weight, q_before)  # the base weight stays frozen


def test_lora_names_the_fix_when_no_layer_matches():
    with pytest.raises(InputError, match="target_modules"):
        apply_lora(mlp())


# --- transformers.Trainer -----------------------------------------------------------------------------------


def test_train_hf_runs_an_epoch_on_raw_text(tmp_path):
    from transformers import BertTokenizerFast

    words = ["good", "great", "fine", "bad", "awful", "poor", "movie", "food", "day"]
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tokenizer = BertTokenizerFast.from_pretrained(tmp_path)  # transformers 5 ignores vocab_file=
    rows = [{"text": f"{w} {n}", "label": int(w in words[3:6])} for w in words[:6] for n in words[6:]] * 2
    model = tiny_bert()
    history = train_hf(model, tokenizer, rows, rows[:12],
                       TrainConfig(epochs=1, lr=1e-3, batch_size=8, output_dir=str(tmp_path / "out")))
    assert len(history) == 1
    assert {"train_loss", "eval_loss", "eval_accuracy", "eval_f1", "time_s"} <= set(history[0])
    assert 0.0 <= history[0]["eval_accuracy"] <= 1.0
    assert (tmp_path / "out" / "model" / "model.safetensors").is_file()


# --- two processes ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SCRIPT = ROOT / "tests" / "accelerate_train_script.py"


def run_in_this_process(out: Path) -> dict:
    spec = importlib.util.spec_from_file_location("accelerate_train_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.main(str(out))
    return json.loads((out / "history.json").read_text())


def launch_two_processes(out: Path) -> dict:
    # `accelerate launch --cpu --num_processes 2` starts only one process (its simple launcher), so the CPU run
    # goes through the torchrun launcher (--multi_gpu) with ACCELERATE_USE_CPU forcing CPU + gloo.
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(free_port()), str(SCRIPT), str(out)]
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "history.json").read_text())


@pytest.mark.slow  # 45-110 s on the shared 2-core machine: three interpreters import torch + transformers
def test_two_processes_match_one_process(tmp_path):
    one, two = run_in_this_process(tmp_path / "one"), launch_two_processes(tmp_path / "two")
    assert (one["processes"], two["processes"]) == (1, 2)
    for a, b in zip(one["history"], two["history"]):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
        assert b["lr"] == pytest.approx(a["lr"], rel=1e-9)
    w1 = load_file(tmp_path / "one" / "model" / "model.safetensors")
    w2 = load_file(tmp_path / "two" / "model" / "model.safetensors")
    assert set(w1) == set(w2)
    for name in w1:
        torch.testing.assert_close(w2[name], w1[name], rtol=1e-5, atol=1e-5)
    assert one["history"][-1]["train_loss"] < 0.5 * one["history"][0]["train_loss"]  # it did train
