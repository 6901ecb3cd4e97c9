"""The course's one training call: fit a classifier on prepared tensors and get its history as a table.

Chapters 1, 2, 5, 8 and 9 train small classifiers on inputs that were pre-processed once (a dict of tensors per
modality, or frozen ``EncoderOutput`` features). :func:`fit` batches them with :func:`mmkit.data.tensor_loader`,
runs :func:`mmkit.training.train` without progress output, and returns one row per epoch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmkit.data import tensor_loader
from mmkit.training.loop import TrainConfig, classification_eval, train


def cross_entropy(model: nn.Module, batch) -> torch.Tensor:
    """Loss of a ``(inputs, labels)`` batch: ``F.cross_entropy(model(inputs), labels)``; logits (B, C), labels (B,)."""
    inputs, labels = batch
    return F.cross_entropy(model(inputs), labels)


def fit(model: nn.Module, train_data: tuple, test_data: tuple | None = None, epochs: int = 3, lr: float = 1e-3,
        batch_size: int = 32, loss_fn=cross_entropy, **config):
    """Train ``model`` in place on ``train_data = (inputs, labels)``; returns the history as a pandas DataFrame.

    ``inputs`` is ``{modality: {name: (N, ...)} or EncoderOutput}`` (what ``make_collate`` or a frozen encoder
    gives), ``labels`` is (N,). With ``test_data`` (same form) every epoch ends with an evaluation: columns
    ``eval_loss``, ``eval_accuracy``, ``eval_f1`` beside ``train_loss``, ``lr`` and ``time_s``; the index is the
    epoch (1, 2, ...). Other keyword arguments go to :class:`TrainConfig` (``warmup_ratio=0.1``, ``seed=1``).
    """
    import pandas as pd

    test = tensor_loader(*test_data, shuffle=False, batch_size=batch_size) if test_data is not None else None
    history = train(model, tensor_loader(*train_data, shuffle=True, batch_size=batch_size), test,
                    TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, progress=False, **config),
                    loss_fn=loss_fn, eval_fn=classification_eval if test is not None else None)
    return pd.DataFrame(history).set_index("epoch")
