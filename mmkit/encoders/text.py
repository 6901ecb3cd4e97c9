"""Text encoders: a small Transformer we train ourselves, and any Hugging Face encoder (default:
all-MiniLM-L6-v2).

Both take a string or a list of strings, tokenize with a ``transformers`` tokenizer and return an
:class:`~mmkit.encoders.base.EncoderOutput` whose ``pooled`` vector is the mean of the real (non-padding)
tokens. ``embed(texts)`` is the bulk path that retrieval and classification call for thousands of sentences:
it tokenizes once, sorts by length so each batch carries almost no padding, runs in ``inference_mode`` and
restores the order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from mmkit.encoders.base import Encoder, EncoderOutput
from mmkit.errors import InputError
from mmkit.hub import default_text_model_path, load_auto
from mmkit.nn import LearnedPositionalEmbedding, TransformerEncoder

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def as_texts(texts: str | list[str]) -> list[str]:
    """A string or a list of strings -> a non-empty list of strings; anything else is an InputError."""
    if isinstance(texts, str):
        return [texts]
    texts = list(texts)
    if not texts:
        raise InputError("no text given: pass a string or a non-empty list of strings")
    bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
    if bad:
        raise InputError(f"texts must be strings, got {bad[0]}")
    return texts


def masked_mean(tokens: Tensor, mask: Tensor) -> Tensor:
    """Mean over the real tokens: tokens (B, N, D), mask (B, N) bool -> (B, D). Padding contributes
    nothing."""
    weights = mask.to(tokens.dtype).unsqueeze(-1)  # (B, N, 1)
    return (tokens * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def load_tokenizer(tokenizer=None):
    """A tokenizer object, a hub id / folder, or None for the embedded MiniLM WordPiece tokenizer (30522
    words)."""
    from transformers import AutoTokenizer

    if tokenizer is None:
        return load_auto(AutoTokenizer, default_text_model_path())
    if isinstance(tokenizer, str):
        return load_auto(
            AutoTokenizer, tokenizer, alternative="tokenizer=None (the embedded MiniLM tokenizer)"
        )
    return tokenizer


KINDS = ("query", "passage")


class _TextEncoder(Encoder):
    """What both text encoders share: tokenizing, and the length-sorted bulk ``embed``."""

    modality = "text"
    tokenizer = None
    max_length = 256
    prefixes: dict[str, str] = {}  # kind -> text put before every input of that kind (E5: "query: ")
    languages: tuple[str, ...] = ("en",)  # what the encoder was trained to read (declared, not detected)

    def prefixed(self, texts: str | list[str], kind: str = "query") -> list[str]:
        """``texts`` as a list, each with the prefix of ``kind``: "query" (also for symmetric tasks such as
        classification) or "passage" (the documents a query is matched against)."""
        if kind not in KINDS:
            raise InputError(f"kind must be one of {KINDS}, got {kind!r}")
        prefix = self.prefixes.get(kind, "")
        return [prefix + text for text in as_texts(texts)]

    def preprocess(self, inputs: str | list[str]) -> dict[str, Tensor]:
        """Strings -> {"input_ids": (B, L) long, "attention_mask": (B, L) long}, padded to the longest.

        Each string gets the "query" prefix (none unless the encoder was built with ``prefixes``)."""
        return dict(
            self.tokenizer(
                self.prefixed(inputs),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_token_type_ids=False,
                return_tensors="pt",
            )
        )

    def _pad(self, rows: list[list[int]]) -> dict[str, Tensor]:
        # Right padding by hand: tokenizer.pad on python lists costs more than the model on short batches.
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], dtype=torch.long)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=torch.long)
        return {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device)}

    def embed(
        self, texts: str | list[str], batch_size: int = 64, progress: bool = False, kind: str = "query"
    ) -> Tensor:
        """Pooled vectors (B, D) on the CPU for any number of texts (none gives (0, D)), in the order given.

        kind: "query" or "passage", which of ``prefixes`` goes before each text (see :meth:`prefixed`). Runs
        in eval mode (dropout off) and ``inference_mode``; the module's train/eval state is restored after.
        """
        if isinstance(texts, list | tuple) and not texts:
            return torch.empty(0, self.dim)
        texts = self.prefixed(texts, kind)
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_length, return_token_type_ids=False)[
            "input_ids"
        ]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]), reverse=True)
        out = torch.empty(len(ids), self.dim)
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                starts = range(0, len(order), batch_size)
                for start in tqdm(starts, desc="embed", disable=not progress):
                    idx = order[start : start + batch_size]
                    pooled = self(**self._pad([ids[i] for i in idx])).pooled
                    out[idx] = pooled.float().cpu()
        finally:
            self.train(was_training)
        return out


class TextTransformerEncoder(_TextEncoder):
    """Our own small text encoder: token embedding + learned positions + pre-norm Transformer encoder.

    input_ids, attention_mask (B, L) -> tokens (B, L, dim), mask (B, L), pooled (B, dim) = masked mean.
    Randomly initialised: train it (fusion heads, contrastive objectives) before its vectors mean anything.
    """

    def __init__(
        self,
        tokenizer=None,
        dim: int = 256,
        n_heads: int = 4,
        num_layers: int = 4,
        max_len: int = 256,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.tokenizer = load_tokenizer(tokenizer)
        self.dim = dim
        self.max_length = max_len
        self.token_embedding = nn.Embedding(len(self.tokenizer), dim, padding_idx=self.tokenizer.pad_token_id)
        self.positions = LearnedPositionalEmbedding(max_len, dim)
        self.dropout = nn.Dropout(dropout)
        self.encoder = TransformerEncoder(dim, n_heads, num_layers, dropout=dropout)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> EncoderOutput:
        mask = attention_mask.bool()  # (B, L) True = real
        x = self.dropout(self.positions(self.token_embedding(input_ids)))
        tokens = self.encoder(x, key_padding_mask=~mask)  # ends in a LayerNorm
        return EncoderOutput(tokens, mask, masked_mean(tokens, mask))


class HFTextEncoder(_TextEncoder):
    """Any Hugging Face text encoder (``AutoModel`` + ``AutoTokenizer``); default: the embedded
    all-MiniLM-L6-v2.

    pooling="mean" averages ``last_hidden_state`` over the attention mask and ``normalize`` L2-normalises it —
    exactly sentence-transformers' Pooling(mean) + Normalize for all-MiniLM-L6-v2 (max_seq_length 256);
    pooling="cls" takes the first token instead. tokens (B, L, D) are the unnormalised ``last_hidden_state``.
    prefixes: {"query": ..., "passage": ...} for models trained with them, e.g. E5's {"query": "query: ",
    "passage": "passage: "}; ``embed(texts, kind=...)`` picks one. model_kwargs go to
    ``AutoModel.from_pretrained``. languages: the languages the model reads, as the registry declares them
    (e5: ("en", "zh", "multilingual")); callers such as ConSE use it to choose which class names to embed.
    """

    def __init__(
        self,
        name_or_path: str | None = None,
        pooling: str = "mean",
        normalize: bool = True,
        max_length: int = 256,
        prefixes: dict[str, str] | None = None,
        model_kwargs: dict | None = None,
        languages: tuple[str, ...] = ("en",),
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        super().__init__()
        if pooling not in ("mean", "cls"):
            raise InputError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        if set(prefixes or {}) - set(KINDS):
            raise InputError(f"prefixes may only name {KINDS}, got {sorted(prefixes)}")
        self.prefixes = dict(prefixes or {})
        self.languages = tuple(languages)
        path = default_text_model_path() if name_or_path is None else name_or_path
        alternative = "HFTextEncoder() with no name (the embedded all-MiniLM-L6-v2)"
        self.name_or_path = MINILM if name_or_path is None else str(name_or_path)
        self.tokenizer = load_auto(AutoTokenizer, path, alternative=alternative)
        self.model = load_auto(AutoModel, path, alternative=alternative, **(model_kwargs or {}))
        self.pooling = pooling
        self.normalize = normalize
        limit = getattr(self.model.config, "max_position_embeddings", max_length)
        self.max_length = min(max_length, limit)
        self.dim = self.model.config.hidden_size
        self.eval()  # a pretrained encoder is used, not trained, unless the caller says .train()

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> EncoderOutput:
        tokens = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.bool()
        pooled = masked_mean(tokens, mask) if self.pooling == "mean" else tokens[:, 0]
        if self.normalize:
            pooled = F.normalize(pooled, p=2, dim=1)
        return EncoderOutput(tokens, mask, pooled)
