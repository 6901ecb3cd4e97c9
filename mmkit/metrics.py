"""Evaluation metrics, computed offline with numpy and scikit-learn.

One module every evaluation in mmkit uses (training loop, pipelines, benches, notebooks), so numbers are
comparable across chapters. Nothing is fetched from the hub (``evaluate.load`` downloads its metric scripts).
Inputs may be lists, numpy arrays or torch tensors.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from sklearn import metrics as skm

from mmkit.cjk import CJK_CHAR
from mmkit.errors import InputError


def _array(values) -> np.ndarray:
    if hasattr(values, "detach"):  # torch tensor, possibly on a GPU
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = _array(y_true), _array(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise InputError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must be 1-D and the same length.")
    if y_true.size == 0:
        raise InputError("No examples to score: y_true is empty.")
    return y_true, y_pred


def accuracy(y_true, y_pred) -> float:
    """Fraction of positions where ``y_pred == y_true``; both (N,)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float((y_true == y_pred).mean())


def precision_recall_f1(y_true, y_pred, average: str = "macro") -> dict[str, float]:
    """Precision, recall and F1 over (N,) labels; ``macro`` = unweighted mean over classes.

    A class never predicted has precision 0 (not a warning), so a degenerate model scores low, not NaN.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
    return {"precision": float(p), "recall": float(r), "f1": float(f)}


def confusion_matrix(y_true, y_pred, labels: Sequence | None = None) -> np.ndarray:
    """(C, C) counts; row = true class, column = predicted class, in the order of ``labels`` (default:
    sorted)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return skm.confusion_matrix(y_true, y_pred, labels=labels)


def classification_report(y_true, y_pred) -> dict[str, float]:
    """accuracy plus macro precision / recall / F1 in one dict (what the training loops report)."""
    return {"accuracy": accuracy(y_true, y_pred), **precision_recall_f1(y_true, y_pred)}


def recall_at_k(sim_or_ranked, k: int, targets=None) -> float:
    """Retrieval recall@k as reported by CLIP/ALBEF: the fraction of queries with a relevant item in the top
    k.

    Args:
        sim_or_ranked: either a float (Q, N) similarity matrix (query x candidate, higher = closer) or integer
            (Q, M) candidate ids already ranked best-first, M >= k.
        targets: the relevant candidate per query, (Q,) ids or one collection of ids per query. Default: query
            i matches candidate i (paired image-text retrieval).
    """
    scores = _array(sim_or_ranked)
    if scores.ndim != 2:
        raise InputError(f"Expected a (queries, candidates) matrix, got shape {scores.shape}.")
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}.")
    if np.issubdtype(scores.dtype, np.floating):
        # A stable sort keeps ties in candidate order, so the result does not depend on the platform.
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    else:
        top = scores[:, :k]
    if targets is None:
        targets = np.arange(scores.shape[0])
    elif hasattr(targets, "detach"):
        targets = _array(targets)
    if len(targets) != scores.shape[0]:
        raise InputError(f"{len(targets)} targets for {scores.shape[0]} queries.")
    hits = [bool(set(_ids(t)) & set(row.tolist())) for t, row in zip(targets, top)]
    return float(np.mean(hits))


def _ids(target) -> list:
    if isinstance(target, Iterable) and not isinstance(target, str | bytes):
        return [int(t) for t in target]
    return [int(target)]


def perplexity(mean_loss: float) -> float:
    """exp(mean token cross-entropy in nats); the number of equally likely tokens the model hesitates
    between."""
    return math.exp(mean_loss)


# --- extractive QA (SQuAD v1.1 scoring), with CJK text scored per character ---------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _is_punct(ch: str) -> bool:
    # ASCII punctuation plus every Unicode P* category, so 。，！“” are dropped like .,!" are
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower-case, drop punctuation and English articles, collapse whitespace. An answer
    made only of punctuation (a key such as "%" or ")") keeps its characters, or every such answer would match
    every other one and the empty string."""
    kept = " ".join(_ARTICLES.sub(" ", "".join(ch for ch in text.lower() if not _is_punct(ch))).split())
    return kept or " ".join(text.lower().split())


def answer_tokens(text: str) -> list[str]:
    """Normalised tokens: whitespace words, except that each CJK character is its own token
    (Chinese has no spaces, and the CMRC/DuReader convention scores it per character)."""
    spaced = CJK_CHAR.sub(lambda m: f" {m.group(0)} ", normalize_answer(text))
    return spaced.split()


def _golds(gold: str | Sequence[str]) -> list[str]:
    golds = [gold] if isinstance(gold, str) else list(gold)
    if not golds:
        raise InputError("At least one reference answer is needed.")
    return golds


def exact_match(prediction: str, gold: str | Sequence[str]) -> float:
    """1.0 if the normalised prediction equals any normalised reference, else 0.0."""
    pred = answer_tokens(prediction)
    return float(any(pred == answer_tokens(g) for g in _golds(gold)))


def token_f1(prediction: str, gold: str | Sequence[str]) -> float:
    """Best F1 over references of the bag-of-tokens overlap (see :func:`answer_tokens`)."""

    def f1(pred: list[str], ref: list[str]) -> float:
        if not pred or not ref:
            return float(pred == ref)
        common = sum((Counter(pred) & Counter(ref)).values())
        if common == 0:
            return 0.0
        precision, recall = common / len(pred), common / len(ref)
        return 2 * precision * recall / (precision + recall)

    pred = answer_tokens(prediction)
    return max(f1(pred, answer_tokens(g)) for g in _golds(gold))
