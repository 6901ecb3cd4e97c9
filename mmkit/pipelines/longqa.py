"""Long-text reading comprehension: answer a question about a long document, with the evidence's offsets.

``qa(question=..., document=text_or_path, top_k=3, max_new_tokens=32)`` -> ``{"answer", "found", "evidence",
"start", "end", "score", "chunks", ...}``; the work is done by :class:`mmkit.longtext.qa.LongTextQA` (retrieve
sentence windows with BM25 + embeddings, let the reader copy the answer from them, map it to a span of the
document).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from mmkit.errors import InputError
from mmkit.longtext.qa import LongTextQA
from mmkit.pipelines.base import Pipeline


class QuantizedLongTextQA(LongTextQA):
    """LongTextQA whose reader has bitsandbytes 8-bit or 4-bit layers; it is this object's own copy.

    The float embedded reader is shared by every pipeline of the process (the registry keeps one copy), so a
    quantized pipeline never quantizes it in place: it loads its own from the reader's float32 cache folder
    through :func:`mmkit.quant.load_quantized`, on first use. A retrieval encoder, if given, stays in float.
    """

    def __init__(self, bits: int, reader=None, **kwargs) -> None:
        super().__init__(reader=reader, **kwargs)
        self.bits = bits

    def reader(self, lang: str | None = None):
        if self._reader is None:
            self._reader = quantized_reader(self._reader_spec, self.bits)
        return self._reader


def quantized_reader(spec, bits: int):
    """A reader whose model has ``bits``-bit layers: the embedded reader (spec None) or a folder / hub id of a
    causal LM or an extractive QA model."""
    import json

    from mmkit.longtext.reader import ExtractiveReader, GenerativeReader

    if spec is None:
        from mmkit.models.qwen_reader import load_qwen_reader

        return GenerativeReader(*load_qwen_reader(bits=bits))
    if not isinstance(spec, str | Path):
        raise InputError("quantization needs the reader as a folder or hub id; quantize a reader object's model "
                         "yourself with mmkit.quant.quantize, or load it with mmkit.quant.load_quantized")
    config = Path(spec) / "config.json"
    architectures = json.loads(config.read_text()).get("architectures", []) if config.is_file() else []
    if any(name.endswith("ForQuestionAnswering") for name in architectures):
        return ExtractiveReader.from_pretrained(spec, bits=bits)
    return GenerativeReader.from_pretrained(spec, bits=bits)


class LongTextQAPipeline(Pipeline):
    """``pipeline("long-text-qa", model=None | causal LM or extractive QA hub id / folder, lang="auto")``.

    model=None reads ``$MMKIT_QA_READER`` when it is set (a Space that cannot install the embedded reader's wheels
    names a hub model there, e.g. Qwen/Qwen2.5-1.5B-Instruct), else the embedded reader (Qwen2.5-Coder-1.5B-Instruct,
    English and Chinese). quantization="8bit" | "4bit" loads the reader with bitsandbytes layers (see
    :class:`QuantizedLongTextQA`); a reader given by id is loaded at once, the embedded one on first use.
    ``describe_reader()`` says which layers are quantized.
    """

    task = "long-text-qa"

    def __init__(self, model=None, device=None, quantization=None, encoder=None, lang: str = "auto", top_k: int = 3,
                 captioner=None):
        super().__init__("", device, quantization)
        self.captioner_spec = captioner  # None: the embedded captioner, loaded when a document first has figures
        self._captioner = None
        self._caption_cache: dict[tuple, str] = {}  # (sha256 of the image file, lang) -> caption
        model = model or os.environ.get("MMKIT_QA_READER") or None
        if isinstance(model, str):  # a bad id fails here, as for the other tasks
            from transformers import AutoConfig

            from mmkit.hub import load_auto

            load_auto(AutoConfig, model, alternative="model=None (the embedded reader)")
        if quantization:
            self.qa = QuantizedLongTextQA(8 if quantization == "8bit" else 4, encoder=encoder, reader=model,
                                          lang=lang, top_k=top_k)
            if model is not None:  # a bad or unquantizable model fails here, not at the first question
                self.qa.reader("any")
        else:
            self.qa = LongTextQA(encoder=encoder, reader=model, lang=lang, top_k=top_k)
        self.model_name = (
            "embedded reader Qwen2.5-Coder-1.5B-Instruct + BM25 sentence-window retrieval"
            if model is None
            else str(model)
        )

    def describe_reader(self, lang: str = "en") -> str:
        """What the reader for ``lang`` holds, e.g. "8-bit: 210 Linear layers quantized, 1 kept" (loads it)."""
        from mmkit.quant import describe

        reader = self.qa.reader(lang)
        return describe(reader.model)

    def __call__(self, question: str, document, top_k: int | None = None, max_new_tokens: int | None = 32,
                 as_text: bool = False, figures: bool = True, progress=None) -> dict:
        """as_text=True: ``document`` is the text itself, never a file name (what apps pass for typed text).

        figures=True: the local images a .md file references are captioned and read beside the text
        (:mod:`mmkit.longtext.figures`); an answer found in a figure's caption adds ``"figure": {"path", "caption",
        "start", "end"}``, and every offset points at the ``![alt](path)`` reference in the original file.
        progress: None or a callable given each stage's name: "retrieving", then "reading" (apps show it).
        """
        from mmkit.longtext.qa import read_document

        text = read_document(document, as_text=as_text)  # read once; the engine gets the text itself
        # read_document returns a string it took as text unchanged (the same object), so anything else came from a file
        from_markdown_file = text is not document and str(document).lower().endswith(".md")
        described = self._described(text, Path(document).parent) if figures and from_markdown_file else None
        result = self.qa(question=question, document=described.text if described else text, top_k=top_k,
                         max_new_tokens=max_new_tokens, as_text=True, progress=progress)
        return _in_original_offsets(result, described) if described else result

    def _described(self, text: str, folder: Path):
        """The Markdown ``text`` (a file in ``folder``) with its figures captioned, or None when it has no local
        figures."""
        from mmkit.longtext.figures import describe_figures, find_figures
        from mmkit.longtext.retrieval import detect_language

        found = find_figures(text, folder)
        if not found:
            return None
        lang = detect_language(text) if self.qa.lang == "auto" else self.qa.lang
        return describe_figures(text, found, self._captions([f.path for f in found], lang))

    def _captions(self, paths: list[Path], lang: str) -> list[str]:
        """One caption per image, each captioned once per content; an image the captioner refuses
        (corrupt, too large) gets an empty caption."""
        if self._captioner is None:
            from mmkit.pipelines import pipeline

            spec = self.captioner_spec
            self._captioner = spec if callable(spec) else pipeline("image-captioning", model=spec, device=self.device)
        captions = []
        for path in paths:
            key = (hashlib.sha256(path.read_bytes()).hexdigest(), lang)  # a changed file is captioned again
            if key not in self._caption_cache:
                try:
                    self._caption_cache[key] = self._captioner(path, lang=lang)["caption"]
                except InputError:
                    self._caption_cache[key] = ""
            captions.append(self._caption_cache[key])
        return captions


def _in_original_offsets(result: dict, described) -> dict:
    """``result`` of a question over ``described.text``, its offsets mapped to the original document.

    When the evidence is a figure (its reference and inserted caption) and the reader's answer is not text outside
    it, the answer is the figure's caption: what the picture shows is all the text can say about it.
    """
    at = described.figure_at
    figure = at(result["start"], result["end"]) if result.get("start") is not None else None
    if figure is not None and result.get("answer_start") is not None:
        figure = figure if at(result["answer_start"], result["answer_end"]) == figure else None
    mapped = dict(result)
    for start, end in (("start", "end"), ("answer_start", "answer_end")):
        if mapped.get(start) is not None:
            mapped[start], mapped[end] = described.original(mapped[start]), described.original(mapped[end], "end")
    mapped["chunks"] = [{**chunk, "start": described.original(chunk["start"]),
                         "end": described.original(chunk["end"], "end")} for chunk in result["chunks"]]
    if figure is not None:
        picture, caption = figure
        mapped.update(answer=caption, found=True, answer_start=picture.start, answer_end=picture.end,
                      figure={"path": str(picture.path), "caption": caption, "start": picture.start,
                              "end": picture.end})
    return mapped
