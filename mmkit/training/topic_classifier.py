"""The recipe of the shipped topic classifier: e5 heads and char n-gram models trained, the best layout saved.

``python -m mmkit.training.recipes topic-classifier`` calls :func:`train_topic_classifier`, which trains every
route of ``ROUTES`` on ``data/topics`` (:mod:`mmkit.datasets.topics`), keeps the layout of ``LAYOUTS`` with
the best mean test accuracy, saves it as a :class:`~mmkit.models.text_classifier.TopicClassifier` and writes
its metrics and card. :func:`fit_head` is also the recipe of the course's and the bench's e5 heads.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from mmkit.datasets.topics import LANGS, TOPICS, load_topics
from mmkit.metrics import classification_report
from mmkit.models import load
from mmkit.models.text_classifier import CharNgramClassifier, TopicClassifier, TopicClassifierConfig
from mmkit.training.loop import TrainConfig, train

CARD_TEMPLATE = Path(__file__).parents[1] / "models" / "cards" / "topic-classifier.template.md"


def _ngram_collate(model: CharNgramClassifier):
    def collate(rows):
        ids, offsets = model.featurize([text for text, _ in rows])
        return ids, offsets, torch.tensor([label for _, label in rows])

    return collate


def fit_head(train_x: Tensor, train_y: Tensor, num_labels: int, epochs: int = 40, seed: int = 0) -> nn.Linear:
    """A linear head on fixed sentence vectors (N, D) with labels (N,), trained by the mmkit loop."""
    torch.manual_seed(seed)
    head = nn.Linear(train_x.shape[1], num_labels)
    config = TrainConfig(epochs=epochs, lr=1e-2, batch_size=64, weight_decay=0.0, seed=seed)
    train(
        head,
        TensorDataset(train_x, train_y),
        config=config,
        loss_fn=lambda model, batch: F.cross_entropy(model(batch[0]), batch[1]),
    )
    return head.eval()


def fit_ngram(
    texts: list[str], labels: list[int], config: TopicClassifierConfig, epochs: int = 10, seed: int = 0
) -> CharNgramClassifier:
    """A :class:`CharNgramClassifier` trained from scratch on (texts, labels) by the mmkit loop."""
    torch.manual_seed(seed)
    model = CharNgramClassifier(
        len(config.labels), config.ngram_buckets, config.ngram_dim, config.ngram_orders
    )
    # No weight decay: each n-gram vector is updated only when it occurs, decay would erase the rare ones.
    train_config = TrainConfig(
        epochs=epochs, lr=1e-2, batch_size=32, weight_decay=0.0, max_grad_norm=None, seed=seed
    )
    train(
        model,
        list(zip(texts, labels)),
        config=train_config,
        collate_fn=_ngram_collate(model),
        loss_fn=lambda m, batch: F.cross_entropy(m(batch[0], batch[1]), batch[2]),
    )
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
        trained.update(
            {
                ("e5 joint head", lang): joint,
                ("e5 head per language", lang): own,
                ("char n-grams", lang): ngram,
            }
        )
        ngram_inputs = ngram.featurize(data["test", lang]["text"])
        with torch.no_grad():
            for route in ROUTES:
                inputs = ngram_inputs if route == "char n-grams" else (x["test", lang],)
                pred = trained[route, lang](*inputs).argmax(-1)
                routes[route][lang] = classification_report(y["test", lang].numpy(), pred.numpy())
    layouts = {
        name: sum(routes[r][lang]["accuracy"] for lang, r in layout.items()) / len(layout)
        for name, layout in LAYOUTS.items()
    }
    chosen = max(layouts, key=layouts.get)  # max keeps the first of equal values
    config.routes = {lang: _part(route, lang) for lang, route in LAYOUTS[chosen].items()}
    model = TopicClassifier(config, encoder=encoder)
    for lang, route in LAYOUTS[chosen].items():
        getattr(model, _part(route, lang)).load_state_dict(trained[route, lang].state_dict())
    model.save_pretrained(out_dir)
    metrics = {
        **measure_saved(out_dir, encoder),
        "routes": routes,
        "layouts": layouts,
        "layout": chosen,
        "encoder": config.encoder,
        "train_sentences": {lang: len(data["train", lang]) for lang in LANGS},
        "seed": seed,
        "train_time_s": round(time.perf_counter() - started, 1),
    }
    (Path(out_dir) / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    (Path(out_dir) / "README.md").write_text(_card(metrics), encoding="utf-8")
    return metrics


def measure_saved(out_dir: Path, encoder=None) -> dict:
    """Accuracy and macro P/R/F1 per language of the classifier saved in ``out_dir``, reloaded and run through
    the same ``predict()`` users call: {"test": {lang: {...}}, "blind": {lang: {...}}}."""
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
    template = CARD_TEMPLATE.read_text(encoding="utf-8")
    pct = lambda m: f"{100 * m['accuracy']:.1f}%"  # noqa: E731
    rows = [
        f"| {name} | {pct(by_lang['en'])} | {pct(by_lang['zh'])} |"
        for name, by_lang in metrics["routes"].items()
    ]
    layouts = "\n".join(f"| {name} | {100 * acc:.1f}% |" for name, acc in metrics["layouts"].items())
    test, blind = metrics["test"], metrics["blind"]
    return template.format(
        **{
            f"{prefix}{lang}_{key}": value
            for prefix, split in (("", test), ("blind_", blind))
            for lang in ("en", "zh")
            for key, value in (
                ("acc", pct(split[lang])),
                ("f1", f"{split[lang]['f1']:.3f}"),
                ("n", split[lang]["n"]),
            )
        },
        routes="\n".join(rows),
        layouts=layouts,
        layout=metrics["layout"],
        train_time=f"{metrics['train_time_s'] / 60:.1f}",
        n_train_en=metrics["train_sentences"]["en"],
        n_train_zh=metrics["train_sentences"]["zh"],
        h_test_en=round(test["en"]["accuracy"], 4),
        h_test_zh=round(test["zh"]["accuracy"], 4),
        h_blind_en=round(blind["en"]["accuracy"], 4),
        h_blind_zh=round(blind["zh"]["accuracy"], 4),
    )
