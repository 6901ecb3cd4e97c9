"""Pictures a person would rather look at: attention over an image, evidence highlighted in a document."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def attention_overlay(image: Image.Image, attention, alpha: float = 0.55, size: int = 192) -> Image.Image:
    """Blend an attention map over an image.

    image: a PIL image. attention: (h, w) weights over the encoder's grid (tensor or array, any scale).
    Returns a ``size`` x ``size`` RGB image: the picture, with a red heat map where the weights are high.
    """
    weights = torch.as_tensor(np.asarray(attention, dtype=np.float32))
    weights = weights - weights.min()
    weights = weights / weights.max().clamp(min=1e-8)
    heat = torch.nn.functional.interpolate(weights[None, None], size=(size, size), mode="bilinear")[0, 0]
    base = np.asarray(image.convert("RGB").resize((size, size)), dtype=np.float32)
    red = np.zeros_like(base)
    red[..., 0] = 255.0
    mix = alpha * heat.numpy()[..., None]
    return Image.fromarray((base * (1 - mix) + red * mix).clip(0, 255).astype(np.uint8))


def highlight_segments(
    document: str, start: int | None, end: int | None, context: int = 1500, label: str = "evidence"
):
    """Segments for a highlighted-text view: [(text, None), (evidence, label), (text, None)]. Pass another
    ``label`` when the span is not evidence for an answer (the closest sentence to a question left
    unanswered).

    Only ``context`` characters either side of the evidence are kept (with "…" marks), so a book-length
    document does not travel to the browser whole. With no evidence, the beginning of the document is shown
    plain.
    """
    if start is None or end is None or not 0 <= start < end <= len(document):
        head = document[: 2 * context]
        return [(head + ("…" if len(document) > len(head) else ""), None)]
    left = max(0, start - context)
    right = min(len(document), end + context)
    segments = [
        (("…" if left else "") + document[left:start], None),
        (document[start:end], label),
        (document[end:right] + ("…" if right < len(document) else ""), None),
    ]
    return [(piece, label) for piece, label in segments if piece]
