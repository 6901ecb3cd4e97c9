"""Image encoders: a small CNN and a small ViT we train ourselves, and Hugging Face vision models (CLIP, ViT,
ResNet...).

Every encoder returns tokens (B, N, D) — feature-map cells or patches — a mask that is all True (images have
no padding) and pooled (B, D). Whatever the image mode (L, LA, RGBA, P, CMYK, I;16, F...),
:func:`mmkit.rgb.to_rgb` makes it RGB first, so a greyscale scan or a transparent emoji goes through the same
path as a photo.
"""

from __future__ import annotations

from math import gcd

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from mmkit.encoders.base import Encoder, EncoderOutput
from mmkit.errors import InputError
from mmkit.hub import load_auto
from mmkit.nn import LearnedPositionalEmbedding, TransformerEncoder
from mmkit.rgb import to_rgb

HALF = (0.5, 0.5, 0.5)


def as_images(images) -> list[Image.Image]:
    """One PIL image or a non-empty list of them -> a list."""
    if isinstance(images, Image.Image):
        return [images]
    images = list(images)
    if not images:
        raise InputError("no image given: pass a PIL image or a non-empty list of them")
    return images


def images_to_tensor(
    images, size: int | tuple[int, int], mean: tuple[float, ...] = HALF, std: tuple[float, ...] = HALF
) -> Tensor:
    """PIL images -> (B, 3, H, W) float32: RGB, resized to ``size`` (an int is square), scaled to [0, 1], then
    ``(x - mean) / std`` per channel. Aspect ratio is not kept: the whole image is seen, squashed if need
    be."""
    height, width = (size, size) if isinstance(size, int) else size
    arrays = [
        np.asarray(to_rgb(img).resize((width, height), Image.Resampling.BICUBIC), dtype=np.uint8)
        for img in as_images(images)
    ]
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0  # (B, 3, H, W)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - mean_t) / std_t


def _all_real(tokens: Tensor) -> Tensor:
    return torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)


class _OwnImageEncoder(Encoder):
    modality = "image"
    image_size = 64

    def preprocess(self, inputs) -> dict[str, Tensor]:
        """PIL image(s) -> {"pixel_values": (B, 3, image_size, image_size)} normalised to [-1, 1]."""
        return {"pixel_values": images_to_tensor(inputs, self.image_size)}


class SmallCNNEncoder(_OwnImageEncoder):
    """Stride-2 conv stages, then a 1x1 conv to ``dim``: pixel_values (B, 3, S, S) -> tokens (B, h*w, dim)
    with h = w = S / 2**len(channels) (8x8 = 64 cells for the defaults), pooled = mean of the cells."""

    def __init__(
        self, dim: int = 256, image_size: int = 64, channels: tuple[int, ...] = (32, 64, 128)
    ) -> None:
        super().__init__()
        self.dim, self.image_size = dim, image_size
        stages, previous = [], 3
        for width in channels:
            # GroupNorm, not BatchNorm: the output of one image must not depend on the rest of its batch.
            stages += [
                nn.Conv2d(previous, width, 3, stride=2, padding=1),
                nn.GroupNorm(gcd(width, 8), width),
                nn.GELU(),
            ]
            previous = width
        self.features = nn.Sequential(*stages)
        self.proj = nn.Conv2d(previous, dim, 1)

    def forward(self, pixel_values: Tensor) -> EncoderOutput:
        grid = self.proj(self.features(pixel_values))  # (B, dim, h, w)
        tokens = grid.flatten(2).transpose(1, 2)  # (B, h*w, dim)
        return EncoderOutput(tokens, _all_real(tokens), tokens.mean(1))


class PatchEncoder(_OwnImageEncoder):
    """ViT: non-overlapping patches -> linear embedding (a strided Conv2d), a [CLS] token, learned positions
    and a Transformer encoder. pixel_values (B, 3, S, S) -> tokens (B, 1 + (S/P)**2, dim) with [CLS] first;
    pooled = [CLS].
    """

    def __init__(
        self, dim: int = 256, image_size: int = 64, patch_size: int = 8, n_heads: int = 4, num_layers: int = 4
    ) -> None:
        super().__init__()
        if image_size % patch_size:
            raise InputError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
        self.dim, self.image_size, self.patch_size = dim, image_size, patch_size
        self.patchify = nn.Conv2d(3, dim, patch_size, stride=patch_size)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.positions = LearnedPositionalEmbedding(1 + (image_size // patch_size) ** 2, dim)
        self.encoder = TransformerEncoder(dim, n_heads, num_layers)

    def forward(self, pixel_values: Tensor) -> EncoderOutput:
        if tuple(pixel_values.shape[-2:]) != (self.image_size, self.image_size):
            raise InputError(
                f"PatchEncoder was built for {self.image_size}x{self.image_size} images, got "
                f"{tuple(pixel_values.shape[-2:])}; use preprocess() or build it with that image_size"
            )
        patches = self.patchify(pixel_values).flatten(2).transpose(1, 2)  # (B, n_patches, dim)
        x = torch.cat([self.cls.expand(len(patches), -1, -1), patches], dim=1)
        tokens = self.encoder(self.positions(x))
        return EncoderOutput(tokens, _all_real(tokens), tokens[:, 0])


_POOLINGS = ("auto", "cls", "mean", "pooler")


class HFImageEncoder(Encoder):
    """A Hugging Face vision model by hub id or folder, preprocessed by its own ``AutoImageProcessor``.

    - CLIP (a full ``CLIPModel`` or a ``CLIPVisionModel[WithProjection]``): tokens = post-LayerNorm hidden
      states, through ``visual_projection`` when the checkpoint has one, so pooled = tokens[:, 0] is exactly
      CLIP's ``image_embeds`` (or ``pooler_output`` without a projection) and D is the same for both.
    - Transformers without convolution maps (ViT, DeiT, DINOv2...): tokens = ``last_hidden_state``.
    - Convolutional nets (ResNet, ConvNeXt...): the final map (B, C, h, w) becomes tokens (B, h*w, C).

    pooling="auto": CLIP -> image_embeds; otherwise ``pooler_output`` (flattened) when the model has one whose
    weights came with the checkpoint, else [CLS] for transformers and the mean of the cells for conv nets.
    "cls", "mean" and "pooler" force a choice.
    """

    modality = "image"

    def __init__(self, name_or_path: str, pooling: str = "auto") -> None:
        from transformers import (
            AutoConfig,
            AutoImageProcessor,
            AutoModel,
            CLIPModel,
            CLIPVisionModel,
            CLIPVisionModelWithProjection,
        )

        super().__init__()
        if pooling not in _POOLINGS:
            raise InputError(f"pooling must be one of {_POOLINGS}, got {pooling!r}")
        alternative = "SmallCNNEncoder() or PatchEncoder(), or a folder saved with save_pretrained"
        config = load_auto(AutoConfig, name_or_path, alternative=alternative)
        self.name_or_path, self.pooling = str(name_or_path), pooling
        self.processor = load_auto(AutoImageProcessor, name_or_path, alternative=alternative)
        self.projection: nn.Module | None = None
        self.post_norm: nn.Module | None = None
        self._pooler_loaded = True
        if config.model_type in ("clip", "clip_vision_model"):
            if config.model_type == "clip":
                cls = CLIPModel
            elif "CLIPVisionModelWithProjection" in (config.architectures or []):
                cls = CLIPVisionModelWithProjection
            else:
                cls = CLIPVisionModel
            full = load_auto(cls, name_or_path, alternative=alternative)
            self.model = getattr(full, "vision_model", full)  # CLIPVisionModel is the tower itself
            self.post_norm = self.model.post_layernorm
            self.projection = getattr(full, "visual_projection", None)
            width = self.model.config.hidden_size
            self.dim = self.projection.out_features if self.projection is not None else width
        else:
            self.model, info = load_auto(
                AutoModel, name_or_path, alternative=alternative, output_loading_info=True
            )
            self._pooler_loaded = not any("pooler" in key for key in info.get("missing_keys", ()))
            sizes = getattr(config, "hidden_sizes", None)
            self.dim = sizes[-1] if sizes else config.hidden_size
        self.eval()  # a pretrained encoder is used, not trained, unless the caller says .train()

    def preprocess(self, inputs) -> dict[str, Tensor]:
        """PIL image(s) -> {"pixel_values": (B, 3, H, W)} as the checkpoint's own image processor makes
        them."""
        images = [to_rgb(image) for image in as_images(inputs)]
        return {"pixel_values": self.processor(images=images, return_tensors="pt")["pixel_values"]}

    def forward(self, pixel_values: Tensor) -> EncoderOutput:
        out = self.model(pixel_values=pixel_values)
        hidden = out.last_hidden_state
        grid = hidden.dim() == 4
        tokens = hidden.flatten(2).transpose(1, 2) if grid else hidden  # (B, C, h, w) -> (B, h*w, C)
        pooler = getattr(out, "pooler_output", None)
        if self.post_norm is not None:  # CLIP: pooled = tokens[:, 0] = image_embeds / pooler_output
            tokens = self.post_norm(tokens)
            if self.projection is not None:
                tokens = self.projection(tokens)
            pooler = tokens[:, 0]
        return EncoderOutput(tokens, _all_real(tokens), self._pool(tokens, pooler, grid))

    def _pool(self, tokens: Tensor, pooler: Tensor | None, grid: bool) -> Tensor:
        """tokens (B, N, D), the model's own pooled output (or None) -> (B, D) as ``self.pooling`` asks."""
        mode = self.pooling
        if mode == "auto":
            if pooler is not None and self._pooler_loaded:
                mode = "pooler"
            else:
                mode = "mean" if grid else "cls"
        if mode == "pooler":
            if pooler is None:
                raise InputError(f"{self.name_or_path} has no pooler output; use pooling='cls' or 'mean'")
            return pooler.flatten(1)  # conv nets pool to (B, C, 1, 1)
        if mode == "cls":
            if grid:
                raise InputError(
                    "pooling='cls' needs a [CLS] token; convolutional models have none, use 'mean'"
                )
            return tokens[:, 0]
        return tokens.mean(1)
