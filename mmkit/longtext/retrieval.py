"""Find the passages of a long document a question is about: BM25 over sentence windows, fused with a dense
scorer.

The cleaned document is split into sentences and indexed as overlapping *windows* of ``WINDOW_SENTENCES``
consecutive sentences (one window starts at every sentence), so a fact and the sentence that names its subject
are read together. ``bm25s`` ranks every window; an optional dense encoder (any object with ``embed(texts) ->
(N, D)``) scores only BM25's best ``SHORTLIST`` windows, because embedding every sentence of a 120k-token
document takes minutes on 2 cores; the two rankings are fused by reciprocal rank (``1 / (RRF_K + rank)``
summed). Windows that overlap a better one are skipped, so the ``top_k`` passages are different parts of the
document.

Terms: lower-cased English words without stopwords, lightly stemmed; Chinese words from jieba's search mode.
Indexes are cached by the SHA-256 of the document text (``IndexCache.builds`` counts real builds), and window
vectors on the index, so a second question on the same document only embeds windows it has not seen.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field

import bm25s
import numpy as np

from mmkit.cjk import detect_lang
from mmkit.longtext.chunking import split_sentences
from mmkit.longtext.cleaning import CleanText, clean

WINDOW_SENTENCES = 3
SHORTLIST = 40  # windows a dense encoder embeds: a few seconds of MiniLM on 2 cores
RRF_K = 60  # the usual reciprocal-rank constant (Cormack et al., 2009)

_EN_WORD_RE = re.compile(r"\d+(?:\.\d+)+|[a-z0-9_]+")
STOPWORDS = frozenset(
    "a an the and or but if of to in on at by for with from as into onto about over under than then that "
    "this these those is are was were be been being am do does did done has have had having it its it's he "
    "she they them their his her we you your i me my our us what which who whom whose when where why how "
    "there here not no can could will would shall should may might must also so such any all each some more "
    "most other only own same too very "
    "just s t".split()
)
ZH_STOP_CHARS = frozenset("的了是在和与或吗呢吧啊么什哪谁几多少怎如何为请问")


def _stem(word: str) -> str:
    """Strip one of -ies, -ing, -ed, -es, -s, then a final -e: "continued"/"continue", "codes"/"code"."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith(("ss", "us", "is")):
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)  # its dictionary-loading notice is not for our users
    return jieba


def terms(text: str, lang: str = "en") -> list[str]:
    """BM25 terms of ``text``: English words (stopwords dropped, stemmed); with lang="zh" also jieba's
    words."""
    if lang != "zh":
        return [_stem(w) for w in _EN_WORD_RE.findall(text.lower()) if w not in STOPWORDS]
    out = []
    for word in _jieba().cut_for_search(text.lower()):
        word = word.strip()
        if not word or not any(ch.isalnum() for ch in word) or word in ZH_STOP_CHARS or word in STOPWORDS:
            continue
        out.append(_stem(word) if word.isascii() else word)
    return out


@dataclass
class Passage:
    """A retrieved window: ``start``/``end`` in the cleaned text; ``rank`` 0 is the best; ``bm25`` its raw
    score, ``cosine`` its dense score (None when it was not embedded); ``score`` the fused reciprocal-rank
    score."""

    start: int
    end: int
    text: str
    score: float
    bm25: float
    cosine: float | None
    rank: int = 0


def _unit(vectors) -> np.ndarray:
    """(N, D) float32 rows scaled to length 1."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


@dataclass
class DocumentIndex:
    """A cleaned document, its sentences (start, end) and a BM25 index of its windows."""

    clean: CleanText
    sentences: list[tuple[int, int]]
    lang: str
    bm25: bm25s.BM25 | None
    vectors: dict[int, np.ndarray] = field(default_factory=dict)  # window id -> unit vector (D,)

    def window(self, i: int) -> tuple[int, int]:
        """(start, end) of window ``i``: sentences i .. i + WINDOW_SENTENCES - 1."""
        last = min(i + WINDOW_SENTENCES, len(self.sentences)) - 1
        return self.sentences[i][0], self.sentences[last][1]

    def bm25_scores(self, question: str) -> np.ndarray:
        """(num_windows,) BM25 score of every window."""
        ids = self.bm25.get_tokens_ids(terms(question, self.lang)) if self.bm25 is not None else []
        if not ids:
            return np.zeros(len(self.sentences), dtype=np.float32)
        return np.asarray(self.bm25.get_scores(ids), dtype=np.float32)

    def _cosines(self, ids: list[int], question: str, encoder) -> np.ndarray:
        """(len(ids),) cosine between the question and each window, embedding only windows not seen before."""
        missing = [i for i in ids if i not in self.vectors]
        windows = [self.clean.text[slice(*self.window(i))] for i in missing]
        # E5: "query: " before the question, "passage: " before text
        if "passage" in getattr(encoder, "prefixes", {}):
            query = _unit(encoder.embed([question], kind="query"))[0]
            self.vectors.update(
                zip(missing, _unit(encoder.embed(windows, kind="passage")) if windows else [])
            )
        else:
            vectors = _unit(encoder.embed([question] + windows))
            query = vectors[0]
            self.vectors.update(zip(missing, vectors[1:]))
        return np.stack([self.vectors[i] for i in ids]) @ query

    def search(
        self, question: str, top_k: int = 3, encoder=None, shortlist: int = SHORTLIST
    ) -> list[Passage]:
        """The ``top_k`` best windows for ``question`` that neither overlap nor repeat each other, best first.

        BM25 ranks all windows; with an ``encoder`` its best ``shortlist`` windows are also ranked by cosine
        and the two ranks fused (RRF). Without one, BM25's order stands.
        """
        if not self.sentences:
            return []
        scores = self.bm25_scores(question)
        order = [
            int(i) for i in np.argsort(-scores, kind="stable")[: max(shortlist, top_k * WINDOW_SENTENCES)]
        ]
        fused = {i: 1.0 / (RRF_K + rank) for rank, i in enumerate(order)}
        cosine = {}
        if encoder is not None:
            cosine = dict(zip(order, map(float, self._cosines(order, question, encoder))))
            for rank, i in enumerate(sorted(order, key=lambda i: -cosine[i])):
                fused[i] += 1.0 / (RRF_K + rank)
        passages: list[Passage] = []
        seen: set[str] = set()  # the texts taken, whitespace-normalised
        for i in sorted(order, key=lambda i: -fused[i]):
            start, end = self.window(i)
            words = " ".join(self.clean.text[start:end].split())
            # a window that overlaps a better one, or repeats its text elsewhere (manuals do), adds nothing
            if words in seen or any(start < p.end and p.start < end for p in passages):
                continue
            seen.add(words)
            passages.append(
                Passage(
                    start,
                    end,
                    self.clean.text[start:end],
                    fused[i],
                    float(scores[i]),
                    cosine.get(i),
                    len(passages),
                )
            )
            if len(passages) == top_k:
                break
        return passages

    def sentence_at(self, position: int) -> tuple[int, int]:
        """(start, end) of the sentence holding cleaned-text ``position`` (the nearest one before it
        otherwise)."""
        starts = [s for s, _ in self.sentences]
        k = max(0, int(np.searchsorted(starts, position, side="right")) - 1)
        return self.sentences[k]


def build_index(document: str, lang: str = "auto") -> DocumentIndex:
    """Clean ``document``, split it into sentences and BM25-index its windows. ``lang``: "en", "zh" or
    "auto"."""
    cleaned = clean(document)
    lang = detect_lang(cleaned.text) if lang == "auto" else lang
    sentences = split_sentences(cleaned.text)
    sentence_terms = [terms(cleaned.text[start:end], lang) for start, end in sentences]
    windows = [sum(sentence_terms[i : i + WINDOW_SENTENCES], []) or [""] for i in range(len(sentences))]
    retriever = None
    if windows:
        retriever = bm25s.BM25()
        retriever.index(windows, show_progress=False)
    return DocumentIndex(cleaned, sentences, lang, retriever)


class IndexCache:
    """Least-recently-used cache of DocumentIndex by SHA-256 of (language, text); ``builds`` counts misses."""

    def __init__(self, max_documents: int = 8):
        self.max_documents = max_documents
        self._items: OrderedDict[str, DocumentIndex] = OrderedDict()
        self.builds = 0
        self.hits = 0

    @staticmethod
    def key(document: str, lang: str) -> str:
        return hashlib.sha256(f"{lang}\0{document}".encode("utf-8", "surrogatepass")).hexdigest()

    def get(self, document: str, lang: str = "auto") -> DocumentIndex:
        key = self.key(document, lang)
        if key in self._items:
            self.hits += 1
            self._items.move_to_end(key)
            return self._items[key]
        self.builds += 1
        index = build_index(document, lang)
        self._items[key] = index
        if len(self._items) > self.max_documents:
            self._items.popitem(last=False)
        return index
