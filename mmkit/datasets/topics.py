"""A small bilingual topic-classification data set written for mmkit: 8 topics, English and Chinese.

Every sentence is generated from hand-written templates and slot vocabularies
(``data/topics/templates_en.json``, ``data/topics/templates_zh.json``), deterministically from a seed, by
``python -m mmkit.datasets.topics --build``, which writes ``data/topics/{train,test}.jsonl``: one ``{"text",
"label", "lang", "template"}`` object per line.

Every fourth template of a topic (indices 3, 7, 11, ...) is held out: the test set is made only of those, so a
model cannot score well by memorising sentence frames it saw in training; it has to generalise from the words.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
from pathlib import Path

from mmkit.errors import InputError

TOPIC_LABELS = {
    "sports": "体育",
    "technology": "科技",
    "health": "健康",
    "finance": "财经",
    "food": "美食",
    "travel": "旅行",
    "science": "科学",
    "entertainment": "娱乐",
}
TOPICS = tuple(TOPIC_LABELS)  # class index i <-> TOPICS[i]
LANGS = ("en", "zh")
DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "topics"
SEED = 2026
TRAIN_PER_TOPIC = 300
TEST_PER_TOPIC = 60
HELD_OUT_EVERY = 4  # template i is a test template when i % 4 == 3


def _slot_names(template: str) -> list[str]:
    return [field for _, field, _, _ in string.Formatter().parse(template) if field]


def _fill(template: str, slots: dict[str, list[str]], rng: random.Random) -> str:
    """One sentence: each {slot} drawn from its vocabulary; {team} and {team_2} in one template always
    differ."""
    values: dict[str, str] = {}
    used: dict[str, set[str]] = {}
    for name in _slot_names(template):
        base = re.sub(r"_\d+$", "", name)
        choices = [w for w in slots[base] if w not in used.setdefault(base, set())]
        values[name] = rng.choice(choices)
        used[base].add(values[name])
    text = template.format(**values)
    return text[0].upper() + text[1:]


def _generate(templates: list[tuple[int, str]], slots, count: int, rng: random.Random, seen: set[str]):
    """``count`` new sentences, taking the templates in turn so the small ones are not drowned by the large
    ones.

    A template that yields nothing new in 200 draws is exhausted and dropped. Returns (template index, text)
    pairs.
    """
    rows, live = [], list(templates)
    while len(rows) < count and live:
        for index, template in list(live):
            for _ in range(200):
                text = _fill(template, slots, rng)
                if text not in seen:
                    break
            else:
                live.remove((index, template))
                continue
            seen.add(text)
            rows.append((index, text))
            if len(rows) == count:
                break
    if len(rows) < count:
        raise ValueError(f"templates can only make {len(rows)} distinct sentences, {count} asked")
    return rows


def build(out_dir: Path = DATA_DIR, seed: int = SEED) -> dict[str, int]:
    """Write ``train.jsonl`` and ``test.jsonl`` under ``out_dir``; returns the number of rows in each."""
    rng = random.Random(seed)
    splits: dict[str, list[dict]] = {"train": [], "test": []}
    for lang in LANGS:
        spec = json.loads((DATA_DIR / f"templates_{lang}.json").read_text(encoding="utf-8"))
        common = spec.pop("_common")
        assert tuple(spec) == TOPICS, f"templates_{lang}.json must list the topics in the order of TOPICS"
        seen: set[str] = set()  # across splits: no test sentence is also a training sentence
        for topic in TOPICS:
            slots = {**common, **spec[topic]["slots"]}
            numbered = list(enumerate(spec[topic]["templates"]))
            held_out = [t for t in numbered if t[0] % HELD_OUT_EVERY == HELD_OUT_EVERY - 1]
            kept = [t for t in numbered if t[0] % HELD_OUT_EVERY != HELD_OUT_EVERY - 1]
            for split, templates, count in (
                ("train", kept, TRAIN_PER_TOPIC),
                ("test", held_out, TEST_PER_TOPIC),
            ):
                for index, text in _generate(templates, slots, count, rng, seen):
                    splits[split].append({"text": text, "label": topic, "lang": lang, "template": index})
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        rng.shuffle(rows)
        lines = (json.dumps(row, ensure_ascii=False) for row in rows)
        (out_dir / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {split: len(rows) for split, rows in splits.items()}


def load_topics(split: str = "train", lang: str | None = None):
    """The data set as a ``datasets.Dataset`` with columns text (str), label (ClassLabel over TOPICS), lang,
    template.

    split: "train", "test" (held-out templates) or "blind" (160 sentences written by hand, without looking at
    the templates or the model; no template column). lang: "en", "zh" or None for both.
    ``ds.features["label"].names`` gives the topic names in class order.
    """
    from datasets import ClassLabel, Dataset

    if split not in ("train", "test", "blind"):
        raise InputError(f"split must be 'train', 'test' or 'blind', got {split!r}")
    if lang not in (None, *LANGS):
        raise InputError(f"lang must be one of {LANGS} or None, got {lang!r}")
    path = DATA_DIR / f"{split}.jsonl"
    if not path.exists():
        raise InputError(f"{path} is missing: run `python -m mmkit.datasets.topics --build`")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    rows = [row for row in rows if lang is None or row["lang"] == lang]
    return Dataset.from_list(rows).cast_column("label", ClassLabel(names=list(TOPICS)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="store_true", help="regenerate data/topics/{train,test}.jsonl")
    args = parser.parse_args(argv)
    if args.build:
        print(build())
    for split in ("train", "test"):
        ds = load_topics(split)
        print(split, len(ds), {lang: ds["lang"].count(lang) for lang in LANGS})


if __name__ == "__main__":
    main()
