"""mmkit: a compact multimodal deep-learning kit.

The front door is :func:`mmkit.pipeline`; the building blocks live in ``mmkit.nn``, ``mmkit.encoders`` and
``mmkit.fusion``.
"""

__version__ = "0.1.0"
