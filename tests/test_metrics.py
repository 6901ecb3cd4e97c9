import math

import numpy as np
import pytest
import torch

from mmkit.errors import InputError
from mmkit.metrics import (
    accuracy,
    answer_tokens,
    classification_report,
    confusion_matrix,
    exact_match,
    normalize_answer,
    perplexity,
    precision_recall_f1,
    recall_at_k,
    token_f1,
)

Y_TRUE = [0, 0, 1, 1, 2, 2]
Y_PRED = [0, 1, 1, 1, 2, 0]


def test_accuracy_accepts_lists_arrays_and_tensors():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)
    assert accuracy(np.array(Y_TRUE), torch.tensor(Y_PRED)) == pytest.approx(4 / 6)


def test_macro_precision_recall_f1_by_hand():
    # class 0: tp 1, predicted 2, true 2 -> p 1/2, r 1/2;  class 1: tp 2, predicted 3, true 2 -> p 2/3, r 1
    # class 2: tp 1, predicted 1, true 2 -> p 1, r 1/2
    p = (1 / 2 + 2 / 3 + 1) / 3
    r = (1 / 2 + 1 + 1 / 2) / 3
    f = (1 / 2 + 2 * (2 / 3) / (2 / 3 + 1) + 2 * 0.5 / 1.5) / 3
    got = precision_recall_f1(Y_TRUE, Y_PRED)
    assert got == pytest.approx({"precision": p, "recall": r, "f1": f})
    report = classification_report(Y_TRUE, Y_PRED)
    assert report["accuracy"] == pytest.approx(4 / 6) and report["f1"] == pytest.approx(f)


def test_never_predicted_class_scores_zero_not_nan():
    got = precision_recall_f1([0, 1], [0, 0])
    assert got["precision"] == pytest.approx((0.5 + 0.0) / 2)


def test_confusion_matrix_rows_are_truth():
    cm = confusion_matrix(Y_TRUE, Y_PRED)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert confusion_matrix(["b", "a"], ["a", "a"], labels=["a", "b"]).tolist() == [[1, 0], [1, 0]]


def test_bad_shapes_are_refused():
    with pytest.raises(InputError):
        accuracy([0, 1], [0])
    with pytest.raises(InputError):
        accuracy([], [])


def test_recall_at_k_from_similarity():
    sim = np.array([
        [0.9, 0.1, 0.0],  # query 0: candidate 0 first -> hit at 1
        [0.8, 0.5, 0.1],  # query 1: candidate 1 second -> hit at 2
        [0.1, 0.7, 0.2],  # query 2: candidate 2 second -> hit at 2
    ])
    assert recall_at_k(sim, 1) == pytest.approx(1 / 3)
    assert recall_at_k(sim, 2) == pytest.approx(1.0)
    assert recall_at_k(torch.tensor(sim), 1, targets=torch.tensor([0, 0, 1])) == pytest.approx(1.0)


def test_recall_at_k_from_ranked_ids_with_several_relevant():
    ranked = np.array([[4, 2, 7], [1, 3, 5]])
    assert recall_at_k(ranked, 1, targets=[4, 3]) == pytest.approx(0.5)
    assert recall_at_k(ranked, 2, targets=[{9, 2}, [5]]) == pytest.approx(0.5)
    assert recall_at_k(ranked, 3, targets=[{9, 2}, [5]]) == pytest.approx(1.0)


def test_squad_normalisation():
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert exact_match("the eiffel tower.", ["Eiffel Tower", "Paris"]) == 1.0
    assert exact_match("Eiffel", "Eiffel Tower") == 0.0
    # a key made of punctuation keeps its characters: stripped, ")" would equal "%" and ""
    assert exact_match(")", ["%"]) == 0.0 and exact_match("%", ["%"]) == 1.0 and exact_match("", ["%"]) == 0.0


def test_token_f1_by_hand():
    # pred {cat, sat, on, mat} vs ref {cat, sat, on, red, mat}: common 4, p 4/4, r 4/5 -> F1 = 8/9
    assert token_f1("The cat sat on the mat", "a cat sat on a red mat") == pytest.approx(8 / 9)
    assert token_f1("nothing alike", "zzz") == 0.0
    assert token_f1("", "") == 1.0


def test_chinese_is_scored_per_character():
    assert answer_tokens("北京大学，BERT模型") == ["北", "京", "大", "学", "bert", "模", "型"]
    # pred 北京大学 vs ref 北京: common 2, p 2/4, r 2/2 -> F1 = 2/3
    assert token_f1("北京大学", "北京。") == pytest.approx(2 / 3)
    assert exact_match("“北京”", "北京") == 1.0


def test_perplexity_of_uniform_guess_is_vocabulary_size():
    assert perplexity(math.log(50)) == pytest.approx(50)
