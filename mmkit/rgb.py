"""The one conversion to RGB that every image goes through: a PIL image of any mode, or a numpy array, in; an
RGB PIL image out (``load_image``, the image encoders and the photo model all call :func:`to_rgb`)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from mmkit.errors import InputError


def to_rgb(image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """A PIL image of any mode, or a numpy array, as an RGB PIL image: the one conversion every image goes
    through.

    - Arrays are (H, W) or (H, W, C) with C in {1, 3, 4}: uint8, bool (True is white), uint16 (scaled by
      1/257), other integers in [0, 255], or float in [0, 1] (scaled by 255) or in [0, 255].
    - 16-bit and 32-bit integer images (modes "I;16", "I") are scaled from 0..65535, not clipped at 255.
    - Float images (mode "F") follow the arrays' rule: [0, 1] is scaled by 255, [0, 255] is kept.
    - Transparency (RGBA, LA, PA, a palette or RGB image with a transparent colour) is composited onto
      ``background`` rather than dropped, which would turn transparent pixels black.
    - Everything else (1, L, P, CMYK, YCbCr...) goes through Pillow's own conversion.

    Float values outside [0, 255], NaN and infinities raise InputError, as does anything that is not an image.
    An RGB image without transparency is returned as it is, not copied.
    """
    if isinstance(image, np.ndarray):
        image = Image.fromarray(_array_as_uint8(image))  # (H, W) -> L, (H, W, 3|4) -> RGB|RGBA
    if not isinstance(image, Image.Image):
        raise InputError(f"expected a PIL image or a numpy array, got {type(image).__name__}")
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode.startswith("I;16") or mode == "I":
        # 16-bit data: Pillow's convert("L") clips at 255, which turns most of the range white. Scale instead.
        # Mode "I" holds 16-bit PNG/TIFF data in practice, so it gets the same 0..65535 range.
        image = Image.fromarray(_round_u8(np.clip(np.asarray(image, dtype=np.float64), 0, 65535) / 257.0))
    elif mode == "F":
        image = Image.fromarray(_float_as_uint8(np.asarray(image, dtype=np.float64)))
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def _round_u8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _float_as_uint8(a: np.ndarray) -> np.ndarray:
    """Float pixels in [0, 1] (scaled by 255) or in [0, 255] -> uint8."""
    if not np.isfinite(a).all():
        raise InputError("the image contains NaN or infinite values")
    if a.min() < 0 or a.max() > 255:
        raise InputError("a float image must hold values in [0, 1] or [0, 255]")
    return _round_u8(a * 255 if a.max() <= 1 else a)


def _array_as_uint8(a: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 1|3|4) of bool, uint16, float or integers in [0, 255] -> a contiguous uint8 array."""
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise InputError(f"an image array must be (H, W) or (H, W, 1|3|4); got shape {tuple(a.shape)}")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype == np.uint16:
        a = _round_u8(a / 257.0)
    elif np.issubdtype(a.dtype, np.floating):
        a = _float_as_uint8(a)
    elif np.issubdtype(a.dtype, np.integer):
        if a.min() < 0 or a.max() > 255:
            raise InputError(f"an {a.dtype} image array must hold values in [0, 255]")
        a = a.astype(np.uint8)
    else:
        raise InputError(f"cannot make an image from an array of {a.dtype}")
    return np.ascontiguousarray(a)
