"""Attention written out: scaled dot-product attention, multi-head attention and the key/value cache.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + M) V

Shapes: B batch, H heads, Lq query length, Lk key length, D model width, d_k = d_v = D / H per head. Two paths
compute the same numbers: the explicit one above (it can return the attention weights) and PyTorch's fused
kernel ``F.scaled_dot_product_attention`` (faster, no weights). ``tests/nn/test_attention.py`` checks that
both agree with each other and with ``nn.MultiheadAttention``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmkit.errors import InputError


def causal_mask(lq: int, lk: int, device: torch.device | None = None) -> Tensor:
    """Bool (Lq, Lk) mask, True = may attend, aligned to the bottom right.

    Query ``i`` sits at position ``Lk - Lq + i``, so it sees every key up to and including itself. With ``Lq
    == Lk`` this is the usual lower triangle; with a cache (Lk > Lq) the new queries also see all the past.
    """
    return torch.ones(lq, lk, dtype=torch.bool, device=device).tril(lk - lq)


def _as_additive(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """Bool mask (True = may attend) -> float mask with 0 where allowed and -inf where blocked."""
    if mask.dtype != torch.bool:
        return mask.to(dtype)
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, float("-inf"))


def combine_masks(a: Tensor | None, b: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """Merge two masks in the SDPA convention (bool True = may attend, or additive float) into one."""
    if a is None or b is None:
        return a if b is None else b
    if a.dtype == torch.bool and b.dtype == torch.bool:
        return a & b
    return _as_additive(a, dtype) + _as_additive(b, dtype)


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    need_weights: bool = True,
    scale: float | None = None,
) -> tuple[Tensor, Tensor | None]:
    """softmax(Q K^T * scale + mask) V.

    Args:
        q: (B, H, Lq, d_k); k: (B, H, Lk, d_k); v: (B, H, Lk, d_v).
        mask: bool (True = may attend, as in ``F.scaled_dot_product_attention``) or additive float,
            broadcastable to (B, H, Lq, Lk).
        is_causal: also block the future, aligned bottom-right (see :func:`causal_mask`); may be combined with
        mask.
        need_weights: True runs the explicit maths and returns the weights; False runs PyTorch's fused kernel.
        scale: defaults to 1 / sqrt(d_k).

    Returns:
        output (B, H, Lq, d_v) and weights (B, H, Lq, Lk) or None. A query row whose keys are all blocked gets
        zero weights and a zero output (the fused kernel does the same), never NaN.
    """
    lq, lk = q.shape[-2], k.shape[-2]
    if is_causal and lq == 1:  # a single newest query sees every key
        is_causal = False
    if is_causal and (mask is not None or lq != lk or need_weights):
        mask = combine_masks(mask, causal_mask(lq, lk, q.device), q.dtype)
        is_causal = False
    if not need_weights:
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale
        )
        return out, None

    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q @ k.transpose(-2, -1)) * scale  # (B, H, Lq, Lk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        # softmax over a row of -inf is NaN; a query that may see nothing attends to nothing.
        weights = weights.masked_fill(scores.isneginf().all(dim=-1, keepdim=True), 0.0)
    dropped = F.dropout(weights, p=dropout_p) if dropout_p > 0 else weights
    return dropped @ v, weights


class KVCache:
    """Keys and values kept between decoding steps, so a new token costs O(L) instead of recomputing O(L^2).

    One ``KVCache`` serves a whole model: pass the same object to every layer. Each
    :class:`MultiHeadAttention` that receives it keeps its own slot (keyed by the module), holding k and v as
    (B, H, L, d_head):

    - self-attention slots grow by the new positions on every call;
    - cross-attention slots are filled from the memory on the first call and reused afterwards.

    Usage::

        cache = KVCache()
        logits = model(prompt_ids, cache=cache)            # fills the cache with the prompt
        logits = model(next_ids[:, None], cache=cache)     # only the new position is computed

    Beam search reorders the batch with :meth:`reorder`.
    """

    def __init__(self) -> None:
        self.self_attn: dict[int, tuple[Tensor, Tensor]] = {}
        self.cross_attn: dict[int, tuple[Tensor, Tensor]] = {}

    @property
    def seq_len(self) -> int:
        """Number of positions already cached by self-attention (0 when empty): the offset of the next
        token."""
        return next(iter(self.self_attn.values()))[0].shape[2] if self.self_attn else 0

    def append(self, module: nn.Module, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Add new self-attention keys/values (B, H, L_new, d) and return everything cached so far."""
        past = self.self_attn.get(id(module))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        self.self_attn[id(module)] = (k, v)
        return k, v

    def memory(self, module: nn.Module) -> tuple[Tensor, Tensor] | None:
        """Cross-attention keys/values computed on an earlier call, or None."""
        return self.cross_attn.get(id(module))

    def set_memory(self, module: nn.Module, k: Tensor, v: Tensor) -> None:
        self.cross_attn[id(module)] = (k, v)

    def reorder(self, index: Tensor) -> None:
        """Keep batch rows ``index`` (a 1-D LongTensor) in every slot, e.g. the surviving beams."""
        for store in (self.self_attn, self.cross_attn):
            for key, (k, v) in store.items():
                store[key] = (k.index_select(0, index), v.index_select(0, index))


class MultiHeadAttention(nn.Module):
    """Multi-head attention, batch-first, mask conventions of ``nn.MultiheadAttention``.

    Args:
        d_model: width D of queries and of the output; must be divisible by n_heads.
        kdim, vdim: widths of keys and values when they differ from D (cross-attention over another modality).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        kdim: int | None = None,
        vdim: int | None = None,
    ) -> None:
        super().__init__()
        if d_model % n_heads:
            raise InputError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(kdim or d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(vdim or d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def _split_heads(self, x: Tensor) -> Tensor:
        """(B, L, D) -> (B, H, L, d_head)."""
        b, seq, _ = x.shape
        return x.view(b, seq, self.n_heads, self.d_head).transpose(1, 2)

    def _sdpa_mask(self, key_padding_mask, attn_mask, b: int, lk: int, dtype) -> Tensor | None:
        """Turn torch's nn.MultiheadAttention masks (True = BLOCKED) into one SDPA mask (True = may
        attend)."""
        mask = None
        if key_padding_mask is not None:
            if key_padding_mask.shape != (b, lk):
                raise InputError(
                    f"key_padding_mask must be (B, Lk) = {(b, lk)} (with a cache: all cached positions too), "
                    f"got {tuple(key_padding_mask.shape)}"
                )
            kpm = key_padding_mask[:, None, None, :]  # (B, 1, 1, Lk)
            mask = ~kpm if kpm.dtype == torch.bool else kpm.to(dtype)
        if attn_mask is not None:
            if attn_mask.dim() == 3:  # (B*H, Lq, Lk), batch-major as in torch
                attn_mask = attn_mask.view(b, self.n_heads, *attn_mask.shape[1:])
            attn_mask = ~attn_mask if attn_mask.dtype == torch.bool else attn_mask.to(dtype)
            mask = combine_masks(mask, attn_mask, dtype)
        return mask

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
        attn_mask: Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = False,
        average_attn_weights: bool = True,
        cache: KVCache | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query`` (B, Lq, D) to ``key`` (B, Lk, kdim) / ``value`` (B, Lk, vdim).

        key=None means self-attention (key = value = query). value=None means value = key.
        key_padding_mask: (B, Lk), True = padding (ignored). attn_mask: (Lq, Lk), (B*H, Lq, Lk) or
        (B, H, Lq, Lk), bool True = blocked, or additive float. is_causal: query i sees keys <= i.
        cache: a :class:`KVCache`. Self-attention (key=None; passing query as key too counts as
        cross-attention) appends the new keys/values; cross-attention computes the memory's keys/values on the
        first call and reuses them afterwards, ignoring the key/value passed later.

        Returns (output (B, Lq, D), weights): weights are None unless need_weights, then (B, Lq, Lk) averaged
        over heads or (B, H, Lq, Lk) with average_attn_weights=False (taken before dropout).
        """
        b = query.shape[0]
        q = self._split_heads(self.q_proj(query))
        if key is None:
            k, v = self._split_heads(self.k_proj(query)), self._split_heads(self.v_proj(query))
            if cache is not None:
                k, v = cache.append(self, k, v)
        else:
            stored = cache.memory(self) if cache is not None else None
            if stored is None:
                value = key if value is None else value
                k, v = self._split_heads(self.k_proj(key)), self._split_heads(self.v_proj(value))
                if cache is not None:
                    cache.set_memory(self, k, v)
            else:
                k, v = stored
        mask = self._sdpa_mask(key_padding_mask, attn_mask, b, k.shape[2], q.dtype)
        out, weights = scaled_dot_product_attention(
            q,
            k,
            v,
            mask=mask,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=is_causal,
            need_weights=need_weights,
        )
        out = self.out_proj(out.transpose(1, 2).reshape(b, -1, self.d_model))
        if weights is not None and average_attn_weights:
            weights = weights.mean(dim=1)
        return out, weights

    @torch.no_grad()
    def load_torch_weights(self, mha: nn.MultiheadAttention) -> MultiHeadAttention:
        """Copy the weights of a ``torch.nn.MultiheadAttention`` (packed or separate q/k/v) into this
        module."""
        if mha._qkv_same_embed_dim:
            wq, wk, wv = mha.in_proj_weight.chunk(3)
        else:
            wq, wk, wv = mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight
        for proj, w in ((self.q_proj, wq), (self.k_proj, wk), (self.v_proj, wv)):
            proj.weight.copy_(w)
        if mha.in_proj_bias is not None:
            for proj, bias in zip((self.q_proj, self.k_proj, self.v_proj), mha.in_proj_bias.chunk(3)):
                proj.bias.copy_(bias)
        self.out_proj.load_state_dict(mha.out_proj.state_dict())
        return self
