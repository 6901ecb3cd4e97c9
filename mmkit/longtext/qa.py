"""LongTextQA: answer a question about a long document with a short span of it, and say where it is.

    qa = LongTextQA()
    out = qa("Who built the lighthouse?", "report.txt")
    out["answer"], out["start"], out["end"]      # the answer span and the evidence sentence's offsets

Steps, each in its own module: clean the text and keep a map to the original (cleaning), split it into overlapping
sentence-aligned chunks (chunking), rank chunks with BM25 and re-rank the best with embeddings, caching the index by
content hash (retrieval), pick the evidence sentence from the question and the passages (evidence), list candidate
spans in it (spans) and let the reader choose one (reader). When no passage covers the question's rare words the
answer is ``None`` with ``found: False`` instead of an invented one.
"""

import json
import os
from pathlib import Path

import numpy as np

from mmkit.errors import InputError
from mmkit.longtext.documents import read_document
from mmkit.longtext.evidence import absent_names, rank_evidence
from mmkit.longtext.reader import CausalLMReader, ExtractiveReader, LexicalReader
from mmkit.longtext.retrieval import IndexCache
from mmkit.longtext.spans import asks_for_number, candidates, has_number, tidy_span

# A question is answered only when its best evidence sentence is supported: coverage (idf-weighted share of the
# question's terms in the sentence) + MiniLM cosine >= MIN_SUPPORT, or coverage alone >= MIN_COVERAGE without an
# encoder; and always coverage >= COVERAGE_FLOOR, because MiniLM (an English model) finds most Chinese sentences
# alike. On needle documents (seeds 100-102) absent-fact questions reach at most 0.13 + 0.30 and planted ones at
# least 0.74 + 0.79; the lowest real-document questions (data/longqa) have 0.26 + 0.89 and 0.54 + 0.56.
MIN_SUPPORT = 0.7
MIN_COVERAGE = 0.5
COVERAGE_FLOOR = 0.2
EVIDENCE_SENTENCES = 2  # candidates come from the best two sentences, in case the best one is a near miss
MAX_CANDIDATES = 8  # the reader scores this many spans, best prior first; each costs a short LM continuation


def _load_reader(spec, lang: str):
    """A reader object from None (the embedded default for ``lang``), "lexical", a path/hub id, or a reader."""
    if spec is None:
        from mmkit.models import load

        # Through the registry: one copy of each reader per process, shared by every pipeline.
        model, tokenizer = load("smollm2-reader" if lang == "en" else "gemma3-reader-zh")
        return CausalLMReader(model, tokenizer)
    if isinstance(spec, str | Path):
        if str(spec) == "lexical":
            return LexicalReader()
        config_path = Path(spec) / "config.json"
        architectures = json.loads(config_path.read_text()).get("architectures", []) if config_path.exists() else []
        if any(name.endswith("ForQuestionAnswering") for name in architectures):
            return ExtractiveReader.from_pretrained(spec)
        return CausalLMReader.from_pretrained(spec)
    return spec


def _load_encoder(spec):
    """None -> the embedded MiniLM; False -> BM25 only; a path -> that encoder; anything with ``embed`` as is."""
    if spec is False:
        return None
    if spec is None or isinstance(spec, str | Path):
        from mmkit.encoders import HFTextEncoder

        return HFTextEncoder() if spec is None else HFTextEncoder(str(spec))
    return spec


class LongTextQA:
    """Question answering over one long document at a time.

    encoder: None for the embedded MiniLM, False for BM25 alone, a path, or any object with
             ``embed(texts) -> (N, D)`` unit vectors.
    reader:  None for the embedded reader of the document's language (SmolLM2-135M-Instruct for English,
             Gemma-3-270M for Chinese), "lexical" for the model-free span prior, a local path or hub id of a causal
             LM or an extractive QA model, or a reader object (see :mod:`mmkit.longtext.reader`).
    lang:    "en", "zh" or "auto" (decided per document).
    prepare: None, or a function called once on each reader when it is loaded, returning the reader to use (the
             pipeline gives itself a private, quantized copy of the shared embedded reader there).
    """

    def __init__(self, encoder=None, reader=None, lang: str = "auto", top_k: int = 3, cache_size: int = 8,
                 min_support: float = MIN_SUPPORT, min_coverage: float = MIN_COVERAGE, prepare=None):
        if lang not in ("auto", "en", "zh"):
            raise InputError(f"lang must be 'auto', 'en' or 'zh', not {lang!r}")
        self._prepare = prepare
        self._encoder_spec, self._reader_spec = encoder, reader
        self._encoder, self._readers = None, {}
        self.lang = lang
        self.top_k = top_k
        self.min_support = min_support
        self.min_coverage = min_coverage
        self.cache = IndexCache(cache_size)

    @property
    def encoder(self):
        if self._encoder is None and self._encoder_spec is not False:
            self._encoder = _load_encoder(self._encoder_spec)
        return self._encoder

    def reader(self, lang: str):
        """The reader for ``lang``, loaded on first use (a given reader object serves every language)."""
        key = lang if self._reader_spec is None else "any"
        if key not in self._readers:
            reader = _load_reader(self._reader_spec, lang)
            self._readers[key] = self._prepare(reader) if self._prepare else reader
        return self._readers[key]

    def _supports(self, evidence, with_cosine: bool) -> bool:
        """Whether ``evidence`` supports an answer at all (see MIN_SUPPORT)."""
        if evidence.coverage < COVERAGE_FLOOR:
            return False
        if with_cosine:
            return evidence.coverage + evidence.cosine >= self.min_support
        return evidence.coverage >= self.min_coverage

    def __call__(self, question: str, document: str | os.PathLike, top_k: int | None = None,
                 max_new_tokens: int | None = 32, as_text: bool = False) -> dict:
        """Answer ``question`` from ``document`` (text, or a .txt/.md/.pdf path; for a PDF every offset refers to
        the text extracted from it, see :func:`read_document`).

        Returns answer (a span of the document, or None when it is not there), found, evidence (the sentence that
        supports it), start/end (the evidence's character offsets in the original document), answer_start/
        answer_end, score, lang, and chunks: the passages read, each {"start", "end", "score", "bm25", "cosine",
        "text"} in original offsets. ``max_new_tokens`` caps the answer length in reader tokens (spans longer than
        that are not considered).
        """
        from mmkit.inputs import validate_text

        question = validate_text(question, what="question")
        text = read_document(document, as_text=as_text)
        index = self.cache.get(text, self.lang)
        encoder = self.encoder
        query = None if encoder is None else np.asarray(encoder.embed([question]), dtype=np.float32)[0]
        hits = index.search(question, top_k=top_k or self.top_k, encoder=encoder, query=query)
        to_original = index.clean.to_original
        chunks = [{"start": s, "end": e, "score": hit.score, "bm25": hit.bm25, "cosine": hit.cosine,
                   "text": text[s:e]} for hit in hits for s, e in [to_original(hit.chunk.start, hit.chunk.end)]]
        result = {"answer": None, "found": False, "evidence": None, "start": None, "end": None,
                  "answer_start": None, "answer_end": None, "score": 0.0, "lang": index.lang, "chunks": chunks}
        ranked = rank_evidence(question, hits, index, encoder, query)
        if not ranked:
            return result
        best = ranked[0]
        evidence_start, evidence_end = to_original(best.start, best.end)
        result.update(evidence=text[evidence_start:evidence_end], start=evidence_start, end=evidence_end)
        if not self._supports(best, query is not None) or absent_names(question, index):
            return result
        spans = []
        # The runner-up sentence adds candidates only if it passes the same support test: a sentence that shares
        # no rare word with the question ("第一讲第一节:移动光标") must not offer its words as answers.
        for evidence in [e for e in ranked[:EVIDENCE_SENTENCES] if self._supports(e, query is not None)]:
            for span in candidates(evidence.text, evidence.start, question):
                span.prior += evidence.score - best.score  # a span from a weaker sentence starts behind
                spans.append(span)
        if asks_for_number(question):
            # "几月", "how many", "what year": a span without a digit or numeral cannot be the answer, and when the
            # evidence offers none the fact is not there ("松溪县的风筝节每年几月举行？" must not get "动物园" from a
            # sentence about 松溪县's zoo that shares the place name).
            spans = [span for span in spans if has_number(span.text)]
            if not spans:
                return result
        spans = sorted(spans, key=lambda span: -span.prior)[:MAX_CANDIDATES]
        reader = self.reader(index.lang)
        if max_new_tokens is not None and hasattr(reader, "tokenizer"):
            spans = [span for span in spans if len(reader.tokenizer(span.text).input_ids) <= max_new_tokens] or spans
        context = "\n".join(e.text for e in sorted(ranked[:EVIDENCE_SENTENCES], key=lambda e: e.start))
        if isinstance(reader, ExtractiveReader):
            start, end, score = reader.best_span(question, best.text)
            answer_start, answer_end = best.start + start, best.start + end
        elif spans:
            choice, scores = reader.choose(question, context, spans)
            answer_start, answer_end, score = spans[choice].start, spans[choice].end, float(scores[choice])
        else:
            return result
        answer_start, answer_end = to_original(answer_start, answer_end)
        result.update(answer=tidy_span(text[answer_start:answer_end]), found=True, score=score,
                      answer_start=answer_start, answer_end=answer_end)
        return result
