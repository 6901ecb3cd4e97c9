"""mmkit: a compact multimodal deep-learning kit.

The front door is :func:`mmkit.pipeline`; the building blocks live in ``mmkit.nn``, ``mmkit.encoders`` and
``mmkit.fusion``.
"""

__version__ = "0.1.0"


def pipeline(task: str, model=None, device=None, quantization=None, **kwargs):
    """``mmkit.pipeline(task)``: task is "text-classification", "image-captioning", "cross-modal-retrieval"
    or "long-text-qa".

    See :func:`mmkit.pipelines.pipeline`; imported lazily so that ``import mmkit`` does not load torch models.
    """
    from mmkit.pipelines import pipeline as build

    return build(task, model=model, device=device, quantization=quantization, **kwargs)
