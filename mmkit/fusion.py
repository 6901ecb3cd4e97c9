"""Multimodal fusion: early (feature level), late (decision level), cross-attention, gated and token fusion.

One design for all of them: a fusion is an ``nn.Module`` built as ``Fusion(dims, num_classes, ...)`` where
``dims`` maps each modality name to its encoder width, and called as ``fusion(features) -> logits`` with
``features`` a dict ``{modality: EncoderOutput}`` (tokens (B, N_m, D_m), mask (B, N_m) True = real, pooled (B,
D_m)) and logits of shape (B, num_classes). Every fusion ends in its own classifier head, so fusions are
interchangeable in :class:`MultimodalClassifier`, in the bench and in user code. ``FUSIONS`` maps short names
to the classes.

Where each one fuses (seed 001 §2.3/§4.3 names the first two; the rest are its "deep" fusion):

* :class:`EarlyFusion`   pooled vectors, concatenated or as a learned weighted sum ``sum_i w_i f_i``; then an
  MLP.
* :class:`LateFusion`    one head per modality; decisions combined as ``softmax(sum_i w_i z_i)``.
* :class:`CrossAttentionFusion`  one modality's tokens attend to the other modalities' tokens.
* :class:`GatedFusion`   a per-dimension gate mixes the modalities' projected pooled vectors (GMU).
* :class:`TokenFusion`   all tokens, tagged with a modality embedding (seed 002 §4.2), in one joint
  Transformer.
"""

import torch
from torch import nn

from mmkit.encoders.base import Encoder, EncoderOutput
from mmkit.errors import InputError
from mmkit.nn import ModalityEmbedding, MultiHeadAttention, TransformerEncoder


def mlp_head(in_dim: int, hidden: int, num_classes: int) -> nn.Sequential:
    """(B, in_dim) -> (B, num_classes): LayerNorm, Linear, GELU, Linear."""
    return nn.Sequential(
        nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, num_classes)
    )


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the real tokens only: tokens (B, N, D), mask (B, N) True = real -> (B, D)."""
    weights = mask.unsqueeze(-1).to(tokens.dtype)
    return (tokens * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class Fusion(nn.Module):
    """Shared bookkeeping: the modality order (that of ``dims``) and a check that every modality was given."""

    def __init__(self, dims: dict[str, int], num_classes: int):
        super().__init__()
        if not dims or num_classes < 1:
            raise InputError(
                f"need at least one modality and num_classes >= 1, got dims={dims}, num_classes={num_classes}"
            )
        self.dims, self.num_classes, self.modalities = dict(dims), num_classes, list(dims)

    def check(self, features: dict[str, EncoderOutput]) -> None:
        missing = [m for m in self.modalities if m not in features]
        if missing:
            raise InputError(
                f"{type(self).__name__} needs every modality of {self.modalities}; missing {missing}. "
                "LateFusion can predict from a subset."
            )


class EarlyFusion(Fusion):
    """Feature-level fusion of the pooled vectors, then an MLP head.

    ``mode="concat"``: each pooled vector (B, D_m) is LayerNormed (so no modality dominates by scale) and the
    vectors are concatenated to (B, sum D_m). ``mode="weighted_sum"``: each is projected to (B, hidden) and
    they are summed with learned weights ``w = softmax(alpha)`` (seed 001 §4.3: fused = w_1 f_1 + ... + w_n
    f_n).
    """

    def __init__(self, dims: dict[str, int], num_classes: int, mode: str = "concat", hidden: int = 256):
        super().__init__(dims, num_classes)
        if mode not in ("concat", "weighted_sum"):
            raise InputError(f"unknown EarlyFusion mode {mode!r}; choose 'concat' or 'weighted_sum'")
        self.mode = mode
        if mode == "concat":
            self.norms = nn.ModuleDict({m: nn.LayerNorm(d) for m, d in dims.items()})
            self.head = mlp_head(sum(dims.values()), hidden, num_classes)
        else:
            self.proj = nn.ModuleDict({m: nn.Linear(d, hidden) for m, d in dims.items()})
            self.alpha = nn.Parameter(torch.zeros(len(dims)))
            self.head = mlp_head(hidden, hidden, num_classes)

    def forward(self, features: dict[str, EncoderOutput]) -> torch.Tensor:
        self.check(features)
        if self.mode == "concat":
            fused = torch.cat([self.norms[m](features[m].pooled) for m in self.modalities], dim=-1)
        else:
            w = self.alpha.softmax(0)
            fused = sum(w[i] * self.proj[m](features[m].pooled) for i, m in enumerate(self.modalities))
        return self.head(fused)


class LateFusion(Fusion):
    """Decision-level fusion, seed 001 §4.3: ``P = softmax(w_1 z_1 + ... + w_n z_n)``.

    Each modality has its own head giving logits ``z_i`` (B, C); the output is the fused logits ``sum_i w_i
    z_i`` (B, C), so ``softmax`` of the output is exactly the seed's fused result. The ``z_i`` could as well
    be log-probabilities ``log p_i``: they differ from the logits by a per-row constant that the softmax
    removes. The result is a weighted product of experts, ``P ∝ prod_i p_i ** w_i`` — not the arithmetic mean
    ``sum_i w_i p_i`` that the seed's prose ("weighted average") would suggest.

    Weights are ``w = softmax(log_weights)`` over the modalities present: fixed (``weights={"image": 2, ...}``
    relative, normalised to sum to 1; default equal) or learned (``learn_weights=True``, initialised from
    ``weights``). A modality left out of ``features`` is dropped and the remaining weights renormalised, so a
    model trained on all modalities still predicts when one is missing.
    """

    def __init__(
        self,
        dims: dict[str, int],
        num_classes: int,
        weights: dict[str, float] | None = None,
        learn_weights: bool = False,
        hidden: int = 256,
    ):
        super().__init__(dims, num_classes)
        weights = weights or {m: 1.0 for m in dims}
        if set(weights) != set(dims) or min(weights.values()) <= 0:
            raise InputError(f"weights need one positive number per modality {list(dims)}, got {weights}")
        log_weights = torch.log(torch.tensor([float(weights[m]) for m in self.modalities]))
        if learn_weights:
            self.log_weights = nn.Parameter(log_weights)
        else:
            self.register_buffer("log_weights", log_weights)
        self.heads = nn.ModuleDict({m: mlp_head(d, hidden, num_classes) for m, d in dims.items()})

    def modality_weights(self, present: list[str] | None = None) -> dict[str, float]:
        """The normalised weights w_i for the modalities in ``present`` (default: all)."""
        present = self.modalities if present is None else present
        w = self.log_weights[[self.modalities.index(m) for m in present]].softmax(0)
        return dict(zip(present, w.tolist()))

    def forward(self, features: dict[str, EncoderOutput]) -> torch.Tensor:
        unknown = [m for m in features if m not in self.dims]
        present = [m for m in self.modalities if m in features]
        if unknown or not present:
            raise InputError(f"LateFusion knows modalities {self.modalities}; got {list(features)}")
        w = self.log_weights[[self.modalities.index(m) for m in present]].softmax(0)
        return sum(w[i] * self.heads[m](features[m].pooled) for i, m in enumerate(present))


class CrossAttentionFusion(Fusion):
    """The ``query`` modality's tokens attend to the tokens of all other modalities, then a masked mean and a
    head.

    Every modality's tokens are projected to ``d_model``. One pre-norm block:
    ``x = q + MHA(LN(q), LN(ctx), key_padding_mask = ~ctx_mask)``, ``x = x + FFN(LN(x))``, where ``ctx``
    (B, sum N_other, d_model) concatenates the other modalities' tokens. The result (B, N_query, d_model) is
    averaged over the query's real tokens to (B, d_model) and classified. Padding in either modality changes
    nothing: padded keys get zero attention and padded queries are left out of the mean.
    """

    def __init__(
        self,
        dims: dict[str, int],
        num_classes: int,
        d_model: int = 256,
        n_heads: int = 4,
        query: str = "text",
        dropout: float = 0.0,
    ):
        super().__init__(dims, num_classes)
        if query not in dims or len(dims) < 2:
            raise InputError(
                f"CrossAttentionFusion needs the query modality {query!r} and at least one other "
                f"among {list(dims)}"
            )
        self.query = query
        self.proj = nn.ModuleDict({m: nn.Linear(d, d_model) for m, d in dims.items()})
        self.norm_q, self.norm_kv, self.norm_ff = (
            nn.LayerNorm(d_model),
            nn.LayerNorm(d_model),
            nn.LayerNorm(d_model),
        )
        self.attn = MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.ffn = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))
        self.head = mlp_head(d_model, d_model, num_classes)

    def forward(self, features: dict[str, EncoderOutput], need_weights: bool = False):
        """Logits (B, C); with ``need_weights=True`` also the attention weights (B, H, N_query, N_context)."""
        self.check(features)
        q_out = features[self.query]
        others = [m for m in self.modalities if m != self.query]
        q = self.proj[self.query](q_out.tokens)
        ctx = torch.cat([self.proj[m](features[m].tokens) for m in others], dim=1)
        ctx_mask = torch.cat([features[m].mask for m in others], dim=1)
        kv = self.norm_kv(ctx)
        attended, weights = self.attn(
            self.norm_q(q),
            kv,
            kv,
            key_padding_mask=~ctx_mask,
            need_weights=need_weights,
            average_attn_weights=False,
        )
        x = q + attended
        x = x + self.ffn(self.norm_ff(x))
        logits = self.head(masked_mean(x, q_out.mask))
        return (logits, weights) if need_weights else logits


class GatedFusion(Fusion):
    """Gated multimodal unit (Arevalo et al., 2017) on the pooled vectors.

    ``h_m = tanh(W_m x_m)`` (B, d_model) for each modality; gates ``g = softmax_m(W_g [x_1; ...; x_M])`` give
    one weight per modality *per dimension*, summing to 1 over modalities; ``h = sum_m g_m * h_m`` goes to the
    head. With two modalities this is the GMU's ``z = sigmoid(.)``, ``h = z h_1 + (1 - z) h_2``, since a
    softmax over two logits is a sigmoid of their difference. :meth:`gates` returns g to inspect which
    modality each example leans on.
    """

    def __init__(self, dims: dict[str, int], num_classes: int, d_model: int = 256):
        super().__init__(dims, num_classes)
        self.d_model = d_model
        self.norms = nn.ModuleDict({m: nn.LayerNorm(d) for m, d in dims.items()})
        self.proj = nn.ModuleDict({m: nn.Linear(d, d_model) for m, d in dims.items()})
        self.gate = nn.Linear(sum(dims.values()), len(dims) * d_model)
        self.head = mlp_head(d_model, d_model, num_classes)

    def gates(self, features: dict[str, EncoderOutput]) -> torch.Tensor:
        """(B, M, d_model) gate values, modalities in the order of ``dims``; they sum to 1 over M."""
        self.check(features)
        x = torch.cat([self.norms[m](features[m].pooled) for m in self.modalities], dim=-1)
        return self.gate(x).view(x.shape[0], len(self.modalities), self.d_model).softmax(dim=1)

    def forward(self, features: dict[str, EncoderOutput]) -> torch.Tensor:
        g = self.gates(features)
        h = torch.stack(
            [torch.tanh(self.proj[m](self.norms[m](features[m].pooled))) for m in self.modalities], 1
        )
        return self.head((g * h).sum(1))


class TokenFusion(Fusion):
    """Single-stream fusion: every modality's tokens in one joint Transformer encoder, read out by a [CLS]
    token.

    Tokens (B, N_m, D_m) are projected to d_model and tagged ``x + W[m]`` with a learned modality embedding
    (seed 002 §4.2), so attention can tell an image patch from a word. The sequence is ``[CLS; tokens_1; ...;
    tokens_M]`` (B, 1 + sum N_m, d_model) with padding masked out of every attention; the [CLS] output (B,
    d_model) goes to the head.
    """

    def __init__(
        self,
        dims: dict[str, int],
        num_classes: int,
        d_model: int = 256,
        n_heads: int = 4,
        num_layers: int = 2,
        dropout: float = 0.0,
    ):
        super().__init__(dims, num_classes)
        self.proj = nn.ModuleDict({m: nn.Linear(d, d_model) for m, d in dims.items()})
        self.modality_embedding = ModalityEmbedding(len(dims), d_model)
        self.cls = nn.Parameter(torch.randn(1, 1, d_model) * 0.02)
        self.encoder = TransformerEncoder(d_model, n_heads, num_layers, dropout=dropout)
        self.head = mlp_head(d_model, d_model, num_classes)

    def forward(self, features: dict[str, EncoderOutput]) -> torch.Tensor:
        self.check(features)
        batch = features[self.modalities[0]].pooled.shape[0]
        parts = [self.cls.expand(batch, -1, -1)]
        masks = [torch.ones(batch, 1, dtype=torch.bool, device=self.cls.device)]
        for i, m in enumerate(self.modalities):
            parts.append(self.modality_embedding(self.proj[m](features[m].tokens), i))
            masks.append(features[m].mask)
        x = self.encoder(torch.cat(parts, dim=1), key_padding_mask=~torch.cat(masks, dim=1))
        return self.head(x[:, 0])


class MultimodalClassifier(nn.Module):
    """Encoders plus a fusion head: ``forward(batch) -> logits`` (B, num_classes).

    ``batch`` maps each modality to the tensors its encoder's ``preprocess`` made (see
    :func:`mmkit.datasets.shapes.make_collate`); each encoder turns them into an EncoderOutput and the fusion
    combines them. Modalities absent from ``batch`` are not encoded, which only :class:`LateFusion` accepts.
    """

    def __init__(self, encoders: dict[str, Encoder], fusion: Fusion):
        super().__init__()
        unknown = set(encoders) - set(fusion.dims)
        wrong = {
            m: (e.dim, fusion.dims[m])
            for m, e in encoders.items()
            if m in fusion.dims and e.dim != fusion.dims[m]
        }
        if unknown or wrong:
            raise InputError(
                f"encoders and fusion disagree: modalities unknown to the fusion {sorted(unknown)}, "
                f"widths (encoder, fusion) {wrong}; build the fusion with dims={{m: e.dim}}"
            )
        self.encoders = nn.ModuleDict(encoders)
        self.fusion = fusion

    def encode(self, batch: dict[str, dict[str, torch.Tensor]]) -> dict[str, EncoderOutput]:
        """{modality: preprocessed tensors} -> {modality: EncoderOutput}."""
        unknown = [m for m in batch if m not in self.encoders]
        if unknown:
            raise InputError(f"no encoder for modalities {unknown}; this model has {list(self.encoders)}")
        return {m: self.encoders[m](**inputs) for m, inputs in batch.items()}

    def forward(self, batch: dict[str, dict[str, torch.Tensor]]) -> torch.Tensor:
        return self.fusion(self.encode(batch))


FUSIONS: dict[str, type[Fusion]] = {
    "early": EarlyFusion,
    "late": LateFusion,
    "cross_attention": CrossAttentionFusion,
    "gated": GatedFusion,
    "token": TokenFusion,
}
