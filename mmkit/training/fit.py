"""The course's one training call: fit a classifier on prepared tensors and get its history as a table.

Chapters 1, 2, 5, 8 and 9 train small classifiers on inputs that were pre-processed once (a dict of tensors
per modality, or frozen ``EncoderOutput`` features). :func:`fit` batches them with :func:`tensor_loader`, runs
:func:`mmkit.training.train` without progress output, and returns one row per epoch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from mmkit.encoders.base import EncoderOutput
from mmkit.errors import InputError
from mmkit.training.loop import TrainConfig, classification_eval, train


def index_inputs(inputs: dict, index: torch.Tensor) -> dict:
    """The rows ``index`` (K,) of prepared inputs ``{modality: {name: (N, ...)} or EncoderOutput}``; same
    form, K rows."""

    def pick(value):
        if isinstance(value, EncoderOutput):
            return EncoderOutput(value.tokens[index], value.mask[index], value.pooled[index])
        return {name: tensor[index] for name, tensor in value.items()}

    return {modality: pick(value) for modality, value in inputs.items()}


def tensor_loader(inputs: dict, labels: torch.Tensor, shuffle: bool, batch_size: int = 32) -> DataLoader:
    """A DataLoader over inputs prepared once (by :func:`make_collate` or a frozen encoder) and labels (N,).

    Each batch is ``(index_inputs(inputs, rows), labels[rows])``: no pre-processing runs per batch, only
    indexing.
    """
    sizes = set()
    for value in inputs.values():
        tensors = [value.tokens, value.pooled] if isinstance(value, EncoderOutput) else list(value.values())
        sizes.update(len(t) for t in tensors)
    if sizes != {len(labels)}:
        raise InputError(
            f"every input tensor needs one row per label ({len(labels)} labels), found {sorted(sizes)}."
        )

    def collate(rows: list[int]):
        index = torch.tensor(rows)
        return index_inputs(inputs, index), labels[index]

    return DataLoader(range(len(labels)), batch_size=batch_size, shuffle=shuffle, collate_fn=collate)


def cross_entropy(model: nn.Module, batch) -> torch.Tensor:
    """Loss of a ``(inputs, labels)`` batch: ``F.cross_entropy(model(inputs), labels)``; logits (B, C), labels
    (B,)."""
    inputs, labels = batch
    return F.cross_entropy(model(inputs), labels)


def fit(
    model: nn.Module,
    train_data: tuple,
    test_data: tuple | None = None,
    epochs: int = 3,
    lr: float = 1e-3,
    batch_size: int = 32,
    loss_fn=cross_entropy,
    **config,
):
    """Train ``model`` in place on ``train_data = (inputs, labels)``; returns the history as a pandas
    DataFrame.

    ``inputs`` is ``{modality: {name: (N, ...)} or EncoderOutput}`` (what ``make_collate`` or a frozen encoder
    gives), ``labels`` is (N,). With ``test_data`` (same form) every epoch ends with an evaluation: columns
    ``eval_loss``, ``eval_accuracy``, ``eval_f1`` beside ``train_loss``, ``lr`` and ``time_s``; the index is
    the epoch (1, 2, ...). Other keyword arguments go to :class:`TrainConfig` (``warmup_ratio=0.1``,
    ``seed=1``).
    """
    import pandas as pd

    test = tensor_loader(*test_data, shuffle=False, batch_size=batch_size) if test_data is not None else None
    history = train(
        model,
        tensor_loader(*train_data, shuffle=True, batch_size=batch_size),
        test,
        TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, progress=False, **config),
        loss_fn=loss_fn,
        eval_fn=classification_eval if test is not None else None,
    )
    return pd.DataFrame(history).set_index("epoch")
