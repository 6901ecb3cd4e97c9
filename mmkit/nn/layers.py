"""Transformer blocks: the position-wise feed-forward network, an encoder layer and a decoder layer.

Post-norm (``norm_first=False``, the 2017 paper and torch's default)::

    x = norm1(x + SelfAttn(x));  x = norm2(x + FFN(x))

Pre-norm (``norm_first=True``, GPT-2 and later; trains deeper stacks without warm-up tricks)::

    x = x + SelfAttn(norm1(x));  x = x + FFN(norm2(x))

Sub-module names follow ``torch.nn.TransformerEncoderLayer`` / ``TransformerDecoderLayer`` (``self_attn``,
``norm1``...), with ``ff.linear1`` / ``ff.linear2`` for their ``linear1`` / ``linear2``, so
:meth:`load_torch_weights` can copy a torch layer in and the tests can compare the two numerically.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmkit.errors import InputError
from mmkit.nn.attention import KVCache, MultiHeadAttention

_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


class FeedForward(nn.Module):
    """linear2(dropout(activation(linear1(x)))): (B, L, D) -> (B, L, D), applied to every position alone."""

    def __init__(
        self,
        d_model: int,
        dim_feedforward: int,
        dropout: float = 0.0,
        activation: str = "relu",
        bias: bool = True,
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise InputError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.activation = _ACTIVATIONS[activation]

    def forward(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(self.activation(self.linear1(x))))


class TransformerEncoderLayer(nn.Module):
    """Self-attention + feed-forward, each in a residual branch with LayerNorm. (B, L, D) -> (B, L, D).

    With ``is_causal=True`` and a :class:`KVCache` it is also the block of a decoder-only language model.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        layer_norm_eps: float = 1e-5,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout, bias=bias)
        self.ff = FeedForward(d_model, dim_feedforward, dropout, activation, bias=bias)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.last_attn_weights: Tensor | None = None

    def _sa(self, x, key_padding_mask, attn_mask, is_causal, need_weights, cache) -> Tensor:
        out, weights = self.self_attn(
            x,
            key_padding_mask=key_padding_mask,
            attn_mask=attn_mask,
            is_causal=is_causal,
            need_weights=need_weights,
            average_attn_weights=False,
            cache=cache,
        )
        self.last_attn_weights = weights
        return self.dropout1(out)

    def forward(
        self,
        x: Tensor,
        key_padding_mask: Tensor | None = None,
        attn_mask: Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = False,
        cache: KVCache | None = None,
    ) -> Tensor:
        """x (B, L, D); key_padding_mask (B, L) True = padding; attn_mask as in :class:`MultiHeadAttention`.

        need_weights keeps the self-attention weights (B, H, L, L) on ``self.last_attn_weights``.
        """
        if self.norm_first:
            x = x + self._sa(self.norm1(x), key_padding_mask, attn_mask, is_causal, need_weights, cache)
            return x + self.dropout2(self.ff(self.norm2(x)))
        x = self.norm1(x + self._sa(x, key_padding_mask, attn_mask, is_causal, need_weights, cache))
        return self.norm2(x + self.dropout2(self.ff(x)))

    @torch.no_grad()
    def load_torch_weights(self, layer: nn.TransformerEncoderLayer) -> TransformerEncoderLayer:
        """Copy a ``torch.nn.TransformerEncoderLayer`` (same sizes) into this layer."""
        self.self_attn.load_torch_weights(layer.self_attn)
        self.ff.linear1.load_state_dict(layer.linear1.state_dict())
        self.ff.linear2.load_state_dict(layer.linear2.state_dict())
        self.norm1.load_state_dict(layer.norm1.state_dict())
        self.norm2.load_state_dict(layer.norm2.state_dict())
        return self


class TransformerDecoderLayer(nn.Module):
    """Causal self-attention, cross-attention over ``memory``, feed-forward. (B, L, D) -> (B, L, D)."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        layer_norm_eps: float = 1e-5,
        bias: bool = True,
        memory_dim: int | None = None,
    ) -> None:
        """memory_dim: width of ``memory`` when it is not d_model (e.g. an image encoder's features)."""
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout, bias=bias)
        self.cross_attn = MultiHeadAttention(
            d_model, n_heads, dropout=dropout, bias=bias, kdim=memory_dim, vdim=memory_dim
        )
        self.ff = FeedForward(d_model, dim_feedforward, dropout, activation, bias=bias)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm3 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)
        self.last_cross_attn_weights: Tensor | None = None

    def _sa(self, x, tgt_key_padding_mask, tgt_is_causal, cache) -> Tensor:
        out, _ = self.self_attn(
            x, key_padding_mask=tgt_key_padding_mask, is_causal=tgt_is_causal, cache=cache
        )
        return self.dropout1(out)

    def _ca(self, x, memory, memory_key_padding_mask, need_weights, cache) -> Tensor:
        out, weights = self.cross_attn(
            x,
            memory,
            key_padding_mask=memory_key_padding_mask,
            need_weights=need_weights,
            average_attn_weights=False,
            cache=cache,
        )
        # a call without weights (another thread's generation step) leaves the last ones alone
        if need_weights:
            self.last_cross_attn_weights = weights
        return self.dropout2(out)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool = True,
        cache: KVCache | None = None,
        need_weights: bool = False,
    ) -> Tensor:
        """x (B, L, D) target tokens; memory (B, M, memory_dim) encoder output.

        tgt_key_padding_mask (B, L) / memory_key_padding_mask (B, M): True = padding. With a cache, x holds
        only the new positions, tgt_key_padding_mask covers cached + new positions, and the memory's
        keys/values are computed on the first call only. need_weights keeps cross-attention weights (B, H, L,
        M) on ``self.last_cross_attn_weights`` until the next need_weights call.
        """
        if self.norm_first:
            x = x + self._sa(self.norm1(x), tgt_key_padding_mask, tgt_is_causal, cache)
            x = x + self._ca(self.norm2(x), memory, memory_key_padding_mask, need_weights, cache)
            return x + self.dropout3(self.ff(self.norm3(x)))
        x = self.norm1(x + self._sa(x, tgt_key_padding_mask, tgt_is_causal, cache))
        x = self.norm2(x + self._ca(x, memory, memory_key_padding_mask, need_weights, cache))
        return self.norm3(x + self.dropout3(self.ff(x)))

    @torch.no_grad()
    def load_torch_weights(self, layer: nn.TransformerDecoderLayer) -> TransformerDecoderLayer:
        """Copy a ``torch.nn.TransformerDecoderLayer`` (same sizes) into this layer."""
        self.self_attn.load_torch_weights(layer.self_attn)
        self.cross_attn.load_torch_weights(layer.multihead_attn)
        self.ff.linear1.load_state_dict(layer.linear1.state_dict())
        self.ff.linear2.load_state_dict(layer.linear2.state_dict())
        for name in ("norm1", "norm2", "norm3"):
            getattr(self, name).load_state_dict(getattr(layer, name).state_dict())
        return self
