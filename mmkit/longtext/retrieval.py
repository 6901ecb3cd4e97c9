"""Find the passages of a long document that a question is about: BM25 over every chunk, embeddings on the few best.

Embedding every chunk of a 100k-token document with MiniLM takes ~13 s on two cores; BM25 over the same chunks takes
milliseconds. So BM25 ranks all chunks, and only its top ``candidates`` are embedded (once, then kept on the index)
and re-ranked by ``bm25_weight * bm25 / max(bm25) + (1 - bm25_weight) * cosine``. A question whose words are nowhere
in the document has no BM25 candidates worth reading, which is also the first sign of "not in the document".

Indexes are cached by the SHA-256 of the document text, so a second question on the same document skips the
clean-up, the chunking and BM25 (``IndexCache.builds`` counts real builds).
"""

import hashlib
import math
import re
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

import bm25s
import numpy as np

from mmkit.cjk import HAN, detect_lang
from mmkit.longtext.chunking import Chunk, chunk_text
from mmkit.longtext.cleaning import CleanText, clean

# A decimal number or version stays one term ("0.9", "3.11"): split, "version 0.9" would match any "0" and "9".
_WORD_RE = re.compile(rf"\d+(?:\.\d+)+|[a-z0-9_]+|[{HAN}]+")
STOPWORDS = frozenset(
    "a an the and or but if of to in on at by for with from as into onto about over under than then that this these "
    "those is are was were be been being am do does did done has have had having it its it's he she they them their "
    "his her we you your i me my our us what which who whom whose when where why how there here not no can could "
    "will would shall should may might must also so such any all each some more most other only own same too very "
    "just s t one name named called".split()
)
# Question words and particles in Chinese; a bigram that contains one says nothing about the passage.
ZH_STOP_CHARS = frozenset("的了是在和与或吗呢吧啊么什哪谁几多少怎如何为请问")


def _stem(word: str) -> str:
    """A light suffix stripper, enough for "continued"/"continue", "moved"/"move", "codes"/"code": strip one of
    -ies, -ing, -ed, -es, -s, then a final -e. A full stemmer is not worth a dependency here."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith(("ss", "us", "is")):
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def terms(text: str) -> list[str]:
    """BM25 terms: lower-cased, stemmed English words without stopwords, and Chinese character bigrams (plus the
    character itself for a one-character run), which need no dictionary and index a megabyte in well under a
    second."""
    out = []
    for token in _WORD_RE.findall(text.lower()):
        if token[0] < "\u3400":
            if token not in STOPWORDS:
                out.append(_stem(token))
        elif len(token) == 1:
            if token not in ZH_STOP_CHARS:
                out.append(token)
        else:
            out.extend(
                token[i : i + 2]
                for i in range(len(token) - 1)
                if token[i] not in ZH_STOP_CHARS and token[i + 1] not in ZH_STOP_CHARS
            )
    return out


@dataclass
class Hit:
    """A ranked chunk: ``score`` mixes ``bm25`` (raw) and ``cosine`` (None when the chunk was not embedded)."""

    chunk: Chunk
    score: float
    bm25: float
    cosine: float | None


@dataclass
class DocumentIndex:
    """Everything a question needs about one document; built once per document text."""

    clean: CleanText
    chunks: list[Chunk]
    lang: str
    bm25: bm25s.BM25
    sentence_frequency: Counter  # term -> number of the document's sentences holding it
    sentence_count: int
    embeddings: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)  # ("chunk"|"sentence", id)

    def idf(self, term: str) -> float:
        """BM25's idf formula for ``term`` over the document's sentences (not its chunks: a short document is one
        or two overlapping chunks, where every word would look equally common); an unseen term gets the largest
        value."""
        df = self.sentence_frequency.get(term, 0)
        return math.log(1 + (self.sentence_count - df + 0.5) / (df + 0.5))

    def bm25_scores(self, question: str) -> np.ndarray:
        """(num_chunks,) BM25 score of every chunk for ``question``."""
        ids = self.bm25.get_tokens_ids(terms(question))
        if not ids:
            return np.zeros(len(self.chunks), dtype=np.float32)
        return self.bm25.get_scores(ids)

    def vectors(self, kind: str, keys: list[int], texts: list[str], encoder) -> np.ndarray:
        """(len(keys), D) embeddings of chunks or sentences (``kind``), computing only those not seen before."""
        missing = [(key, text) for key, text in zip(keys, texts) if (kind, key) not in self.embeddings]
        if missing:
            fresh = np.asarray(encoder.embed([text for _, text in missing]), dtype=np.float32)
            self.embeddings.update(((kind, key), vector) for (key, _), vector in zip(missing, fresh))
        return np.stack([self.embeddings[(kind, key)] for key in keys]) if keys else np.zeros((0, 1), np.float32)

    def search(self, question: str, top_k: int = 3, encoder=None, query: np.ndarray | None = None,
               candidates: int = 24, bm25_weight: float | None = None) -> list[Hit]:
        """The ``top_k`` best chunks for ``question``, best first.

        BM25 picks ``candidates`` chunks; with an ``encoder`` (anything with ``embed(texts) -> (N, D)`` unit
        vectors) and the question's vector ``query`` (D,), those are re-ranked by the hybrid score.
        """
        scores = self.bm25_scores(question)
        order = [int(i) for i in np.argsort(-scores, kind="stable")[: max(candidates, top_k)]]
        best = float(scores[order[0]]) if order else 0.0
        if encoder is None or query is None or best <= 0.0:
            return [Hit(self.chunks[i], float(scores[i]) / best if best > 0 else 0.0, float(scores[i]), None)
                    for i in order[:top_k]]
        cosines = self.vectors("chunk", order, [self.chunks[i].text for i in order], encoder) @ query
        weight = bm25_weight if bm25_weight is not None else (0.7 if self.lang == "zh" else 0.5)
        hits = [Hit(self.chunks[i], weight * float(scores[i]) / best + (1 - weight) * float(cosine), float(scores[i]),
                    float(cosine)) for i, cosine in zip(order, cosines)]
        hits.sort(key=lambda hit: -hit.score)
        return hits[:top_k]


def build_index(document: str, lang: str = "auto") -> DocumentIndex:
    """Clean, chunk and BM25-index ``document``. ``lang`` is "en", "zh" or "auto"."""
    cleaned = clean(document)
    lang = detect_lang(cleaned.text) if lang == "auto" else lang
    chunks = chunk_text(cleaned.text)
    chunk_terms = [terms(chunk.text) or [""] for chunk in chunks]
    sentences = sorted({span for chunk in chunks for span in chunk.sentences})  # chunks overlap: count each once
    sentence_frequency = Counter(term for start, end in sentences for term in set(terms(cleaned.text[start:end])))
    retriever = bm25s.BM25()
    retriever.index(chunk_terms, show_progress=False)
    return DocumentIndex(cleaned, chunks, lang, retriever, sentence_frequency, len(sentences))


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
