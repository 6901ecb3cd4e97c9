"""Train on data/topics/train.jsonl, measure on the held-out templates of test.jsonl (never seen in training)."""

import json

import pytest
import torch
from submission import predict, train_classifier

from mmkit.datasets.topics import DATA_DIR, TOPICS


def load(split):
    rows = [json.loads(line) for line in (DATA_DIR / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
    return [r["text"] for r in rows], torch.tensor([TOPICS.index(r["label"]) for r in rows]), [r["lang"] for r in rows]


@pytest.fixture(scope="module")
def trained():
    texts, labels, _ = load("train")
    return train_classifier(texts, labels.tolist(), num_classes=len(TOPICS))


def test_held_out_accuracy_at_least_75_percent(trained):
    texts, labels, _ = load("test")
    accuracy = (predict(*trained, texts) == labels).float().mean().item()
    assert accuracy >= 0.75, f"held-out accuracy {accuracy:.3f} < 0.75"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_each_language_at_least_65_percent(trained, lang):
    texts, labels, langs = load("test")
    keep = [i for i, code in enumerate(langs) if code == lang]
    predicted = predict(*trained, [texts[i] for i in keep])
    accuracy = (predicted == labels[keep]).float().mean().item()
    assert accuracy >= 0.65, f"{lang} held-out accuracy {accuracy:.3f} < 0.65"
