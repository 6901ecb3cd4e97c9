import math

from submission import BM25, recall_at_k, tokenize


def test_tokenize_mixed_text():
    assert tokenize("I like 绿茶, Tea2!") == ["i", "like", "tea2", "绿茶"]
    assert tokenize("多模态") == ["多模", "模态"]
    assert tokenize("猫") == ["猫"]


def test_idf_and_a_score_by_hand():
    engine = BM25(["red apple", "green apple", "red car"], k1=1.2, b=0.0)
    assert abs(engine.idf_of(2) - math.log(1 + 1.5 / 2.5)) < 1e-9
    # b = 0: score = idf * tf * (k1 + 1) / (tf + k1); 'car' is in 1 of 3 documents, tf = 1
    expected = math.log(1 + 2.5 / 1.5) * 2.2 / 2.2
    assert abs(engine.scores("car")[2] - expected) < 1e-9
    assert engine.scores("car")[:2] == [0.0, 0.0]


def test_search_ranks_the_best_match_first():
    engine = BM25(["the cat sat on the mat", "dogs chase cats", "a cat and a hat", "今天天气很好"])
    assert engine.search("cat on a mat", k=2)[0] == 0
    assert engine.search("天气", k=1) == [3]


def test_recall_at_k():
    ranked = [[3, 1, 2], [0, 2, 1], [1, 0, 3]]
    assert recall_at_k(ranked, [1, 1, 2], k=1) == 0.0
    assert abs(recall_at_k(ranked, [1, 1, 2], k=2) - 1 / 3) < 1e-9
    assert abs(recall_at_k(ranked, [1, 1, 2], k=3) - 2 / 3) < 1e-9
