"""``mmkit.pipeline(task, model=None, device=None, quantization=None, **kwargs)``: the one front door.

Shaped like ``transformers.pipeline``: ``model=None`` takes the embedded offline default, a hub id or a local
folder takes that model through ``transformers``. Each task's module is imported only when it is asked for, so
``import mmkit`` stays quick.
"""

from __future__ import annotations

from importlib import import_module

from mmkit.errors import InputError
from mmkit.pipelines.base import Pipeline, check_quantization, resolve_device

TASKS = {
    "text-classification": "mmkit.pipelines.text_classification:TextClassificationPipeline",
    "image-captioning": "mmkit.pipelines.captioning:ImageCaptioningPipeline",
    "cross-modal-retrieval": "mmkit.pipelines.retrieval:CrossModalRetrievalPipeline",
    "long-text-qa": "mmkit.pipelines.longqa:LongTextQAPipeline",
}
ALIASES = {
    "image-to-text": "image-captioning",
    "retrieval": "cross-modal-retrieval",
    "question-answering": "long-text-qa",
}


def pipeline(task: str, model=None, device=None, quantization=None, **kwargs) -> Pipeline:
    """Build the pipeline for ``task`` (one of ``TASKS``); see each pipeline class for its call signature."""
    name = ALIASES.get(task, task)
    if name not in TASKS:
        raise InputError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
    module_name, class_name = TASKS[name].split(":")
    pipeline_class = getattr(import_module(module_name), class_name)
    return pipeline_class(
        model=model, device=resolve_device(device), quantization=check_quantization(quantization), **kwargs
    )


__all__ = ["TASKS", "Pipeline", "pipeline"]
