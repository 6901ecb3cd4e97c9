"""Find each sentence of data/topics/test.jsonl (960, English and Chinese) again from a damaged copy of it:
a third of its tokens dropped and the rest shuffled, as a user's half-remembered query would be."""

import json
import random

from submission import BM25, recall_at_k, tokenize

from mmkit.datasets.topics import DATA_DIR


def corpus_and_queries(n_queries=150, seed=7):
    docs = [json.loads(line)["text"] for line in (DATA_DIR / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    rng = random.Random(seed)
    targets = rng.sample(range(len(docs)), n_queries)
    queries = []
    for i in targets:
        tokens = tokenize(docs[i])
        kept = rng.sample(tokens, max(1, (2 * len(tokens)) // 3))
        queries.append(" ".join(kept))
    return docs, queries, targets


def test_recall_on_damaged_queries():
    docs, queries, targets = corpus_and_queries()
    engine = BM25(docs)
    ranked = [engine.search(q, k=10) for q in queries]
    assert recall_at_k(ranked, targets, k=1) >= 0.8
    assert recall_at_k(ranked, targets, k=10) >= 0.95


def test_empty_query_and_unknown_words():
    engine = BM25(["one two", "three four"])
    assert engine.scores("") == [0.0, 0.0]
    assert engine.scores("zzz") == [0.0, 0.0]
    assert engine.search("zzz", k=2) == [0, 1]
