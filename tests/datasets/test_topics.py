"""The bilingual topic data set: sizes, balance, held-out templates, determinism, and the loader."""

import json
from collections import Counter

import pytest

from mmkit.datasets.topics import DATA_DIR, HELD_OUT_EVERY, LANGS, TOPIC_LABELS, TOPICS, build, load_topics
from mmkit.errors import InputError


def rows(split):
    return [json.loads(line) for line in (DATA_DIR / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_balanced_sizes_per_language_and_topic():
    for split, per in (("train", 300), ("test", 60)):
        counts = Counter((r["lang"], r["label"]) for r in rows(split))
        assert counts == {(lang, topic): per for lang in LANGS for topic in TOPICS}


def test_blind_sentences_are_balanced_and_new():
    blind = rows("blind")
    assert Counter((r["lang"], r["label"]) for r in blind) == {(lang, topic): 10 for lang in LANGS for topic in TOPICS}
    texts = [r["text"] for r in blind]
    assert len(set(texts)) == len(texts) and not set(texts) & {r["text"] for r in rows("train") + rows("test")}
    assert load_topics("blind", "zh").num_rows == 80


def test_test_sentences_come_only_from_held_out_templates():
    train, test = rows("train"), rows("test")
    assert not {r["text"] for r in train} & {r["text"] for r in test}
    assert all(r["template"] % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 for r in test)
    assert all(r["template"] % HELD_OUT_EVERY != HELD_OUT_EVERY - 1 for r in train)
    # every template is used, so the data has as many sentence shapes as were written
    for lang in LANGS:
        spec = json.loads((DATA_DIR / f"templates_{lang}.json").read_text(encoding="utf-8"))
        for topic in TOPICS:
            used = {r["template"] for r in train + test if r["lang"] == lang and r["label"] == topic}
            assert used == set(range(len(spec[topic]["templates"]))), (lang, topic)


def test_sentences_are_distinct_and_chinese_is_chinese():
    for split in ("train", "test"):
        texts = [r["text"] for r in rows(split)]
        assert len(set(texts)) == len(texts)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in r["text"]) for r in rows("test") if r["lang"] == "zh")
    assert all(r["text"].isascii() for r in rows("test") if r["lang"] == "en")


def test_build_reproduces_the_committed_files(tmp_path):
    assert build(tmp_path) == {"train": 4800, "test": 960}
    for split in ("train", "test"):
        assert (tmp_path / f"{split}.jsonl").read_bytes() == (DATA_DIR / f"{split}.jsonl").read_bytes()


def test_loader_gives_class_labels_in_topic_order():
    ds = load_topics("test", lang="zh")
    assert len(ds) == 480 and set(ds["lang"]) == {"zh"}
    assert ds.features["label"].names == list(TOPICS)
    first = rows("test")
    first_zh = next(r for r in first if r["lang"] == "zh")
    assert ds[0]["text"] == first_zh["text"] and TOPICS[ds[0]["label"]] == first_zh["label"]
    assert len(load_topics("train")) == 4800
    assert set(TOPIC_LABELS) == set(TOPICS) and TOPIC_LABELS["finance"] == "财经"


@pytest.mark.parametrize("kwargs", [{"split": "dev"}, {"split": "train", "lang": "fr"}])
def test_loader_rejects_unknown_split_or_language(kwargs):
    with pytest.raises(InputError):
        load_topics(**kwargs)
