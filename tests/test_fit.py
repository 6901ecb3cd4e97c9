import pytest
import torch
from torch import nn

from mmkit.encoders import EncoderOutput
from mmkit.errors import InputError
from mmkit.fusion import EarlyFusion
from mmkit.training import cross_entropy, fit
from mmkit.training.fit import index_inputs, tensor_loader


def blob_inputs(n, seed):
    """Two modalities of frozen features: class c sits at +/-3 on feature c of "a" (c < 2) or of "b" (c >= 2)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    a, b = torch.randn(n, 3, 4, generator=g), torch.randn(n, 3, 4, generator=g)
    sign = torch.where(y % 2 == 0, 3.0, -3.0)
    a[y < 2, :, 0] += sign[y < 2, None]
    b[y >= 2, :, 0] += sign[y >= 2, None]
    mask = torch.ones(n, 3, dtype=torch.bool)
    return {"a": EncoderOutput(a, mask, a.mean(1)), "b": EncoderOutput(b, mask, b.mean(1))}, y


def test_tensor_loader_batches_by_indexing_dicts_and_encoder_outputs():
    inputs, y = blob_inputs(10, 0)
    inputs["c"] = {"input_ids": torch.arange(10)[:, None].repeat(1, 2)}
    batches = list(tensor_loader(inputs, y, shuffle=False, batch_size=4))
    assert [len(labels) for _, labels in batches] == [4, 4, 2]
    first, labels = batches[0]
    assert first["c"]["input_ids"][:, 0].tolist() == [0, 1, 2, 3] and labels.tolist() == y[:4].tolist()
    assert torch.equal(first["a"].tokens, inputs["a"].tokens[:4]) and torch.equal(first["b"].pooled,
                                                                                  inputs["b"].pooled[:4])
    shuffled = torch.cat([b[0]["c"]["input_ids"][:, 0] for b in tensor_loader(inputs, y, shuffle=True)])
    assert sorted(shuffled.tolist()) == list(range(10))
    picked = index_inputs(inputs, torch.tensor([7, 2]))
    assert picked["c"]["input_ids"][:, 0].tolist() == [7, 2] and picked["a"].mask.shape == (2, 3)


def test_tensor_loader_refuses_rows_that_do_not_match_the_labels():
    inputs, y = blob_inputs(10, 0)
    with pytest.raises(InputError, match="one row per label"):
        tensor_loader(inputs, y[:9], shuffle=False)


def test_fit_learns_quietly_and_returns_one_row_per_epoch(capsys):
    torch.manual_seed(0)
    head = EarlyFusion({"a": 4, "b": 4}, 4, hidden=16)
    history = fit(head, blob_inputs(256, 0), blob_inputs(128, 1), epochs=6, lr=3e-2)
    assert history.index.tolist() == [1, 2, 3, 4, 5, 6]
    assert {"train_loss", "eval_loss", "eval_accuracy", "eval_f1", "lr", "time_s"} <= set(history.columns)
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    assert history["eval_accuracy"].iloc[-1] > 0.9  # chance is 0.25; needs both modalities
    out = capsys.readouterr()
    assert out.out == "" and "epoch" not in out.err


def test_fit_without_test_data_and_with_another_loss():
    torch.manual_seed(0)
    inputs, y = blob_inputs(64, 0)
    head = EarlyFusion({"a": 4, "b": 4}, 4, hidden=16)
    seen = []

    def loss_fn(model, batch):
        seen.append(len(batch[1]))
        return cross_entropy(model, batch) + 0.0 * sum(p.sum() for p in model.parameters())

    history = fit(head, (inputs, y), epochs=2, lr=1e-2, batch_size=16, loss_fn=loss_fn)
    assert "eval_loss" not in history.columns and len(history) == 2
    assert seen == [16] * 8
    expected = nn.functional.cross_entropy(head(inputs), y)
    assert torch.isclose(cross_entropy(head, (inputs, y)), expected)
