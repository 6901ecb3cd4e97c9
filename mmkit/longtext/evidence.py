"""Pick the evidence sentence from the question and the retrieved passages, never from a generated answer.

Every sentence of the top chunks is scored by how much of the question it covers, weighting each question term by
its idf over the document (a sentence holding the rare words of the question covers most of it), mixed with the
MiniLM cosine between question and sentence when an encoder is given. Coverage is also the test for "not in the
document": a question whose rare words appear in no passage has no sentence that supports an answer, and a question
that names a number or a capitalised name the document never holds (:func:`absent_names`) has none either.
"""

import re
from dataclasses import dataclass

import numpy as np

from mmkit.longtext.retrieval import DocumentIndex, Hit, terms


@dataclass
class Evidence:
    """A candidate evidence sentence: cleaned-text span [start, end), its ``coverage`` of the question (0..1),
    ``cosine`` to the question (0 without an encoder) and the mixed ``score`` used to rank."""

    start: int
    end: int
    text: str
    coverage: float
    cosine: float
    score: float
    chunk_index: int


def coverage(question_terms: list[str], text_terms: set[str], index: DocumentIndex) -> float:
    """idf-weighted share of the question's distinct terms that occur in ``text_terms`` (0 when none)."""
    distinct = set(question_terms)
    total = sum(index.idf(term) for term in distinct)
    if total <= 0:
        return 0.0
    return sum(index.idf(term) for term in distinct if term in text_terms) / total


def absent_names(question: str, index: DocumentIndex) -> list[str]:
    """Terms of ``question`` that name something, a number or version ("0.9", "2019") or a capitalised word past
    the first ("Acme"), and that no sentence of the document holds. A question about a thing the document never
    mentions is not answered from it, however close the rest of the question comes."""
    tokens = re.findall(r"[A-Za-z0-9][A-Za-z0-9.'_-]*", question)
    named = [token for k, token in enumerate(tokens)
             if any(char.isdigit() for char in token) or (k > 0 and token[0].isupper())]
    return [term for token in named for term in terms(token) if term not in index.sentence_frequency]


def rank_evidence(question: str, hits: list[Hit], index: DocumentIndex, encoder=None,
                  query: np.ndarray | None = None, cosine_weight: float = 0.35) -> list[Evidence]:
    """All sentences of ``hits``' chunks, best evidence first; ``query`` (D,) is the question's embedding.

    A sentence is scored with its neighbours' terms at half weight, so "It was built in 1949." after
    "The lighthouse on Wyke Island ..." still covers a question about the lighthouse.
    """
    question_terms = terms(question)
    seen, sentences = set(), []
    for hit in hits:
        for start, end in hit.chunk.sentences:
            if start not in seen:
                seen.add(start)
                sentences.append((start, end, hit.chunk.index))
    if not sentences:
        return []
    text = index.clean.text
    own = [set(terms(text[start:end])) for start, end, _ in sentences]
    order = sorted(range(len(sentences)), key=lambda i: sentences[i][0])
    scores = []
    for position, i in enumerate(order):
        neighbours = set()
        for j in (position - 1, position + 1):
            if 0 <= j < len(order) and abs(sentences[order[j]][0] - sentences[i][1]) < 400:
                neighbours |= own[order[j]]
        alone = coverage(question_terms, own[i], index)
        with_context = coverage(question_terms, own[i] | neighbours, index)
        scores.append((i, alone, 0.5 * (alone + with_context)))
    cosines = np.zeros(len(sentences), dtype=np.float32)
    use_cosine = encoder is not None and query is not None
    if use_cosine:
        keys = [start for start, _, _ in sentences]
        cosines = index.vectors("sentence", keys, [text[s:e] for s, e, _ in sentences], encoder) @ query
    ranked = []
    for i, alone, mixed in scores:
        start, end, chunk_index = sentences[i]
        weight = cosine_weight if use_cosine else 0.0
        score = (1 - weight) * mixed + weight * float(cosines[i])
        ranked.append(Evidence(start, end, text[start:end], alone, float(cosines[i]), score, chunk_index))
    ranked.sort(key=lambda evidence: -evidence.score)
    return ranked
