"""What attention cannot see by itself: a token's position and the modality it came from.

Attention is permutation-equivariant, so order has to be added to the tokens:

- :class:`SinusoidalPositionalEncoding` (fixed): PE[p, 2i] = sin(p / 10000^(2i/D)), PE[p, 2i+1] = cos(same);
- :class:`LearnedPositionalEmbedding`: one trained vector per position (GPT-2, BERT, ViT);
- :class:`ModalityEmbedding`: one trained vector per modality, so a fused sequence of text, image and audio
  tokens still says which is which.

``offset`` is the position of the first token of ``x``: with a :class:`~mmkit.nn.KVCache` the new tokens start
at ``cache.seq_len``, not at 0.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from mmkit.errors import InputError


def _check_range(offset: int, n: int, max_len: int) -> None:
    if offset + n > max_len:
        raise InputError(
            f"positions {offset}..{offset + n - 1} exceed max_len={max_len}; shorten the input or build the "
            f"module with a larger max_len"
        )


class SinusoidalPositionalEncoding(nn.Module):
    """x + PE[offset : offset + N], then dropout. (B, N, D) -> (B, N, D)."""

    def __init__(self, d_model: int, max_len: int = 4096, dropout: float = 0.0) -> None:
        super().__init__()
        self.max_len = max_len
        self.dropout = nn.Dropout(dropout)
        position = torch.arange(max_len, dtype=torch.float32)[:, None]  # (max_len, 1)
        inv_freq = torch.exp(
            torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model)
        )
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * inv_freq)
        pe[:, 1::2] = torch.cos(position * inv_freq[: d_model // 2])
        # A function of the position, not a weight: recomputed on load rather than stored in checkpoints.
        self.register_buffer("pe", pe, persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        _check_range(offset, x.shape[1], self.max_len)
        return self.dropout(x + self.pe[offset : offset + x.shape[1]].to(x.dtype))


class LearnedPositionalEmbedding(nn.Module):
    """x + P[offset : offset + N] with a trained table P (max_len, D). (B, N, D) -> (B, N, D)."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        self.max_len = max_len
        self.weight = nn.Parameter(torch.randn(max_len, d_model) * 0.02)

    def forward(self, x: Tensor, offset: int = 0, positions: Tensor | None = None) -> Tensor:
        """positions: optional (B, N) LongTensor overriding ``offset``, e.g. to start each left-padded row at
        0."""
        if positions is None:
            _check_range(offset, x.shape[1], self.max_len)
            return x + self.weight[offset : offset + x.shape[1]]
        if positions.numel() and int(positions.max()) >= self.max_len:
            raise InputError(f"position {int(positions.max())} exceeds max_len={self.max_len}")
        return x + self.weight[positions]


class ModalityEmbedding(nn.Module):
    """x + W[modality]: the same trained vector added to every token of one modality. (B, N, D) -> (B, N,
    D)."""

    def __init__(self, num_modalities: int, d_model: int) -> None:
        super().__init__()
        self.num_modalities = num_modalities
        self.weight = nn.Parameter(torch.randn(num_modalities, d_model) * 0.02)

    def forward(self, x: Tensor, modality: int) -> Tensor:
        if not 0 <= modality < self.num_modalities:
            raise InputError(f"modality must be in 0..{self.num_modalities - 1}, got {modality}")
        return x + self.weight[modality]
