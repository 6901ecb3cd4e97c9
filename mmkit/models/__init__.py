"""The embedded default models: ``list_models()``, ``load(name)`` (once per process, shared), ``card(name)``.

Names: "minilm" (text encoder), "qwen-reader" (the long-text QA reader, English and Chinese), "smollm2-reader"
(small English reader), "gemma3-reader-zh" (small Chinese reader),
"topic-classifier" (8 topics, English and Chinese), and "tiny-clip" / "tiny-captioner" (trained in this repository
by ``python -m mmkit.models.train NAME``). Readers load through :mod:`mmkit.models.readers` and :mod:`mmkit.models.qwen_reader`.
"""

from mmkit.models.registry import ModelSpec, card, get_spec, is_ready, list_models, load, unload

__all__ = ["ModelSpec", "card", "get_spec", "is_ready", "list_models", "load", "unload"]
