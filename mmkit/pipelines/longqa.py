"""Long-text reading comprehension: answer a question about a long document, with the evidence's offsets.

``qa(question=..., document=text_or_path, top_k=None, max_new_tokens=32)`` -> ``{"answer", "found",
"evidence", "start", "end", "score", "chunks", ...}``; the work is done by
:class:`mmkit.longtext.qa.LongTextQA` (retrieve sentence windows with BM25 + embeddings, let the reader copy
the answer from them, map it to a span of the document).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from mmkit.errors import InputError
from mmkit.longtext.qa import TOP_K, LongTextQA
from mmkit.models import list_models
from mmkit.pipelines.base import Pipeline, own_model


class LongTextQAPipeline(Pipeline):
    """``pipeline("long-text-qa", model=None | embedded reader name | causal LM or extractive QA hub id /
    folder, lang="auto")``.

    model=None reads ``$MMKIT_QA_READER`` when it is set (a Space that cannot install the embedded reader's
    wheels names a hub model there, e.g. Qwen/Qwen2.5-1.5B-Instruct), else the embedded reader
    (Qwen2.5-Coder-1.5B-Instruct, English and Chinese). quantization="8bit" | "4bit" gives the reader
    bitsandbytes layers, in this pipeline's own copy (the embedded readers are shared by every pipeline of the
    process and stay float); the small embedded readers are selectable by name ("smollm2-reader",
    "gemma3-reader-zh"); a reader given by id is loaded at once, the embedded ones on first use.
    ``describe()`` says which layers are quantized.
    """

    task = "long-text-qa"

    def __init__(
        self,
        model=None,
        device=None,
        quantization=None,
        encoder=None,
        lang: str = "auto",
        top_k: int = TOP_K,
        captioner=None,
    ):
        super().__init__("", device, quantization)
        # None: the embedded tiny-captioner, loaded when a document first has figures (it writes English and
        # Chinese; the photo model has English class names only so far)
        self.captioner_spec = captioner or "tiny-captioner"
        self._captioner = None
        self._caption_cache: dict[tuple, str] = {}  # (sha256 of the image file, lang) -> caption
        model = model or os.environ.get("MMKIT_QA_READER") or None
        embedded = {spec.name for spec in list_models(kind="reader")}
        if isinstance(model, str) and model not in embedded:  # a bad id fails here, as for the other tasks
            from transformers import AutoConfig

            from mmkit.hub import load_auto

            load_auto(AutoConfig, model, alternative="model=None (the embedded reader)")
        # loaded by this pipeline from a folder or hub id (an embedded reader named here is the registry's,
        # shared)
        self._reader_is_own = isinstance(model, str | Path) and model not in embedded
        self.qa = LongTextQA(encoder=encoder, reader=model, lang=lang, top_k=top_k, prepare=self._own_reader)
        # a bad or unquantizable model fails here, not at the first question
        if quantization and model is not None:
            self.qa.reader("any")
        self.model_name = (
            "embedded reader Qwen2.5-Coder-1.5B-Instruct + BM25 and multilingual-e5-small sentence-window "
            "retrieval"
            if model is None
            else str(model)
        )

    def _own_reader(self, reader):
        """The reader as this pipeline runs it (:func:`own_model`): the embedded reader is the registry's
        shared ones and a reader object is the caller's, so quantizing or moving them takes a copy; a reader
        loaded here from a folder or hub id is this pipeline's own."""
        if not hasattr(reader, "model"):
            if self.quantization:
                raise InputError(f"{type(reader).__name__} has no model to quantize; pass quantization=None")
            return reader
        return own_model(
            reader,
            self.device,
            self.quantization,
            shared=not self._reader_is_own,
            part="model",
            # the output heads stay float, as transformers keeps them
            skip=("lm_head", "qa_outputs"),
        )

    def describe(self, lang: str = "en") -> str:
        """What the reader for ``lang`` holds, e.g. "8-bit: 210 Linear layers quantized, 1 kept" (loads
        it)."""
        from mmkit.quant import describe

        reader = self.qa.reader(lang)
        return describe(reader.model)

    describe_reader = describe

    def __call__(
        self,
        question: str,
        document,
        top_k: int | None = None,
        max_new_tokens: int | None = 32,
        as_text: bool = False,
        figures: bool = True,
        progress=None,
    ) -> dict:
        """as_text=True: ``document`` is the text itself, never a file name (what apps pass for typed text).

        figures=True: the local images a .md file references are captioned and read beside the text
        (:mod:`mmkit.longtext.figures`); an answer found in a figure's caption adds ``"figure": {"path",
        "caption", "start", "end"}``, and every offset points at the ``![alt](path)`` reference in the
        original file.
        progress: None or a callable given each stage's name: "retrieving", then "reading" (apps show it).
        """
        from mmkit.longtext.documents import read_document

        text = read_document(document, as_text=as_text)  # read once; the engine gets the text itself
        # read_document returns a string it took as text unchanged (the same object), so anything else came
        # from a file
        from_markdown_file = text is not document and str(document).lower().endswith(".md")
        described = self._described(text, Path(document).parent) if figures and from_markdown_file else None
        result = self.qa(
            question=question,
            document=described.text if described else text,
            top_k=top_k,
            max_new_tokens=max_new_tokens,
            as_text=True,
            progress=progress,
        )
        return _in_original_offsets(result, described) if described else result

    def _described(self, text: str, folder: Path):
        """The Markdown ``text`` (a file in ``folder``) with its figures captioned, or None when it has no
        local figures."""
        from mmkit.cjk import detect_lang
        from mmkit.longtext.figures import describe_figures, find_figures

        found = find_figures(text, folder)
        if not found:
            return None
        lang = detect_lang(text) if self.qa.lang == "auto" else self.qa.lang
        return describe_figures(text, found, self._captions([f.path for f in found], lang))

    def _captions(self, paths: list[Path], lang: str) -> list[str]:
        """One caption per image, each captioned once per content; an image the captioner refuses
        (corrupt, too large) gets an empty caption."""
        if self._captioner is None:
            from mmkit.pipelines import pipeline

            spec = self.captioner_spec
            self._captioner = (
                spec if callable(spec) else pipeline("image-captioning", model=spec, device=self.device)
            )
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

    When the evidence is a figure (its reference and inserted caption) and the reader's answer is not text
    outside it, the answer is the figure's caption: what the picture shows is all the text can say about it.
    """
    at = described.figure_at
    figure = at(result["start"], result["end"]) if result.get("start") is not None else None
    if figure is not None and result.get("answer_start") is not None:
        figure = figure if at(result["answer_start"], result["answer_end"]) == figure else None
    mapped = dict(result)
    for start, end in (("start", "end"), ("answer_start", "answer_end")):
        if mapped.get(start) is not None:
            mapped[start], mapped[end] = (
                described.original(mapped[start]),
                described.original(mapped[end], "end"),
            )
    mapped["chunks"] = [
        {**chunk, "start": described.original(chunk["start"]), "end": described.original(chunk["end"], "end")}
        for chunk in result["chunks"]
    ]
    if figure is not None:
        picture, caption = figure
        mapped.update(
            answer=caption,
            found=True,
            answer_start=picture.start,
            answer_end=picture.end,
            figure={
                "path": str(picture.path),
                "caption": caption,
                "start": picture.start,
                "end": picture.end,
            },
        )
    return mapped
