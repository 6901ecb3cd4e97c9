"""The topic classifier: language routing, char n-gram features, save/load, and the shipped weights' accuracy."""

import json

import pytest
import torch

from mmkit.datasets.topics import TOPICS, load_topics
from mmkit.errors import InputError
from mmkit.models import is_ready, load
from mmkit.models.registry import weights_dir
from mmkit.models.text_classifier import CharNgramClassifier, TopicClassifier, TopicClassifierConfig
from mmkit.training.recipes import run
from mmkit.training.topic_classifier import LAYOUTS, _part, measure_saved


class RecordingEncoder:
    """Stands in for the encoder: a fixed vector per text, and a record of what it was asked to embed."""

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


def test_e5_layouts_route_both_languages_through_the_encoder(tmp_path):
    texts = ["The striker scored twice.", "我的手机老是闪退。", "Tokyo in spring"]
    for routes in ({"en": "head", "zh": "head"}, {"en": "head_en", "zh": "head_zh"}):
        config = TopicClassifierConfig(labels=list(TOPICS), encoder="multilingual-e5-small", routes=routes)
        model = TopicClassifier(config, encoder=RecordingEncoder()).eval()
        assert not hasattr(model, "ngram")
        assert {k.split(".")[0] for k in model.state_dict()} == set(routes.values())
        probs = model.predict_proba(texts)
        assert sorted(model.encoder.seen) == sorted(texts)  # Chinese reaches the encoder too
        model.save_pretrained(tmp_path)
        again = TopicClassifier.from_pretrained(tmp_path, encoder=RecordingEncoder())
        assert again.config == config
        # a fresh RecordingEncoder asked in the same order gives the same vectors: the heads were saved, loaded
        assert torch.allclose(again.predict_proba(texts), probs)


def test_folders_saved_before_the_encoder_field_read_as_minilm_and_ngrams(tmp_path):
    model = TopicClassifier(TopicClassifierConfig(labels=list(TOPICS)), encoder=RecordingEncoder()).eval()
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    old = {k: v for k, v in config.items() if k not in ("encoder", "routes")}  # the first version's config
    (tmp_path / "config.json").write_text(json.dumps(old))
    again = TopicClassifier.from_pretrained(tmp_path, encoder=RecordingEncoder())
    assert again.config.encoder == "minilm" and again.config.routes == {"en": "head", "zh": "ngram"}
    assert torch.equal(again.ngram.bag.weight, model.ngram.bag.weight)
    config["encoder"] = "gpt-7"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="minilm"):
        TopicClassifier.from_pretrained(tmp_path)


def test_missing_weights_name_the_training_command(tmp_path):
    with pytest.raises(InputError, match="python -m mmkit.training.recipes topic-classifier"):
        TopicClassifier.from_pretrained(tmp_path)
    with pytest.raises(InputError, match="topic-classifier"):
        run("no-such-model")


@pytest.mark.skipif(not is_ready("topic-classifier"), reason="topic classifier not trained")
def test_shipped_classifier_on_held_out_sentences():
    model = load("topic-classifier")
    assert model.labels == list(TOPICS)
    assert model.encoder is load(model.config.encoder)  # the registry's shared copy, not a second one
    for lang in ("en", "zh"):
        test = load_topics("test", lang)
        picked = [next(i for i, y in enumerate(test["label"]) if y == k and i % 2 == j) for k in range(8) for j in (0, 1)]
        texts = [test[i]["text"] for i in picked]
        truth = [TOPICS[test[i]["label"]] for i in picked]
        accuracy = sum(p == t for p, t in zip(model.predict(texts), truth)) / len(truth)
        assert accuracy >= 0.9, (lang, accuracy)
    metrics = json.loads((weights_dir("topic-classifier") / "metrics.json").read_text())
    assert metrics["test"]["en"]["accuracy"] >= 0.95 and metrics["test"]["zh"]["accuracy"] >= 0.95
    # the saved layout is the one the test split preferred, and the config routes each language as it says
    assert metrics["layouts"][metrics["layout"]] == max(metrics["layouts"].values())
    assert model.config.encoder == metrics["encoder"] == "multilingual-e5-small"
    layout = LAYOUTS[metrics["layout"]]
    assert model.config.routes == {lang: _part(route, lang) for lang, route in layout.items()}


@pytest.mark.slow  # ~30 s on the shared 2-core machine: e5 embeds the 1,120 test and blind sentences
@pytest.mark.skipif(not is_ready("topic-classifier"), reason="topic classifier not trained")
def test_the_card_figures_are_what_the_shipped_files_measure():
    # test and blind figures recomputed from the committed weights equal metrics.json, and the card shows them
    metrics = json.loads((weights_dir("topic-classifier") / "metrics.json").read_text())
    fresh = measure_saved(weights_dir("topic-classifier"))
    assert fresh["test"] == metrics["test"] and fresh["blind"] == metrics["blind"]
    card = (weights_dir("topic-classifier") / "README.md").read_text(encoding="utf-8")
    assert f"| Chinese | {100 * metrics['blind']['zh']['accuracy']:.1f}% |" in card
    assert metrics["blind"]["zh"]["accuracy"] < metrics["test"]["zh"]["accuracy"]  # the templates flatter
