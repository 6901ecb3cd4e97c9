"""The topic classifier: language routing, char n-gram features, save/load, and the shipped weights' accuracy."""

import json

import pytest
import torch

from mmkit.data_topics import TOPICS, load_topics
from mmkit.errors import InputError
from mmkit.models import is_ready, load
from mmkit.models.registry import weights_dir
from mmkit.models.text_classifier import (
    CharNgramClassifier,
    TopicClassifier,
    TopicClassifierConfig,
    measure_saved,
)
from mmkit.models.train import run


class RecordingEncoder:
    """Stands in for MiniLM: a fixed vector per text, and a record of what it was asked to embed."""

    dim = 384

    def __init__(self):
        self.seen = []

    def embed(self, texts):
        self.seen.extend(texts)
        generator = torch.Generator().manual_seed(len(self.seen))
        return torch.nn.functional.normalize(torch.randn(len(texts), self.dim, generator=generator), dim=-1)


def test_char_ngrams_and_bag_layout():
    model = CharNgramClassifier(num_labels=8, buckets=1024, dim=4, orders=(1, 2))
    assert model.ngram_ids("Ab") == model.ngram_ids("ab")  # lower-cased
    assert len(model.ngram_ids("饺子")) == 4 + 3  # " 饺子 ": 4 characters, 3 bigrams
    ids, offsets = model.featurize(["饺子", "hello"])
    assert offsets.tolist() == [0, 7] and len(ids) == 7 + 7 + 6
    assert model(ids, offsets).shape == (2, 8)


def test_ngram_ids_are_pinned():
    # The shipped weights were trained with these ids: crc32 of "order:gram" modulo 32768. Python's hash() would
    # change with every process (PYTHONHASHSEED) and silently scramble a saved model.
    assert CharNgramClassifier(8).ngram_ids("体育 ok") == [
        10244, 5273, 22431, 10244, 29701, 12316, 10244, 25195, 895, 28137, 22299, 16584, 7636
    ]


def test_routes_each_language_and_round_trips(tmp_path):
    encoder = RecordingEncoder()
    model = TopicClassifier(TopicClassifierConfig(labels=list(TOPICS)), encoder=encoder).eval()
    texts = ["The striker scored twice.", "我的手机老是闪退。", "Tokyo in spring"]
    probs = model.predict_proba(texts)
    assert probs.shape == (3, len(TOPICS)) and torch.allclose(probs.sum(-1), torch.ones(3))
    assert encoder.seen == [texts[0], texts[2]]  # Chinese never reaches MiniLM
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").stat().st_size < 30e6
    again = TopicClassifier.from_pretrained(tmp_path, encoder=RecordingEncoder())
    assert not any(name.startswith("encoder") for name in again.state_dict())  # MiniLM is not saved
    assert torch.allclose(again.predict_proba(texts[1:2]), probs[1:2])
    assert again.predict(texts[1]) == model.predict(texts[1])


def test_missing_weights_name_the_training_command(tmp_path):
    with pytest.raises(InputError, match="python -m mmkit.models.train topic-classifier"):
        TopicClassifier.from_pretrained(tmp_path)
    with pytest.raises(InputError, match="topic-classifier"):
        run("no-such-model")


@pytest.mark.skipif(not is_ready("topic-classifier"), reason="topic classifier not trained")
def test_shipped_classifier_on_held_out_sentences():
    model = load("topic-classifier")
    assert model.labels == list(TOPICS)
    for lang, floor in (("en", 0.9), ("zh", 0.75)):
        test = load_topics("test", lang)
        picked = [next(i for i, y in enumerate(test["label"]) if y == k and i % 2 == j) for k in range(8) for j in (0, 1)]
        texts = [test[i]["text"] for i in picked]
        truth = [TOPICS[test[i]["label"]] for i in picked]
        accuracy = sum(p == t for p, t in zip(model.predict(texts), truth)) / len(truth)
        assert accuracy >= floor, (lang, accuracy)
    metrics = json.loads((weights_dir("topic-classifier") / "metrics.json").read_text())
    assert metrics["test"]["en"]["accuracy"] >= 0.95 and metrics["test"]["zh"]["accuracy"] >= 0.85
    assert metrics["routes"]["char-ngram"]["zh"]["accuracy"] > metrics["routes"]["minilm-head"]["zh"]["accuracy"]


@pytest.mark.skipif(not is_ready("topic-classifier"), reason="topic classifier not trained")
def test_the_card_figures_are_what_the_shipped_files_measure():
    # test and blind figures recomputed from the committed weights equal metrics.json, and the card shows them
    metrics = json.loads((weights_dir("topic-classifier") / "metrics.json").read_text())
    fresh = measure_saved(weights_dir("topic-classifier"))
    assert fresh["test"] == metrics["test"] and fresh["blind"] == metrics["blind"]
    card = (weights_dir("topic-classifier") / "README.md").read_text(encoding="utf-8")
    assert f"| Chinese | {100 * metrics['blind']['zh']['accuracy']:.1f}% |" in card
    assert metrics["blind"]["zh"]["accuracy"] < metrics["test"]["zh"]["accuracy"]  # templates flatter the n-grams
