"""The verified model cache, and GGUF files converted into it once.

A cache folder is ``<cache_root()>/<kind>/<model>-<package version>-<dtype>/``. It is built in a temporary
sibling, ``manifest.json`` (sha256 and size of every file) is written last, and only then is the folder
renamed into place, so a crash mid-build never leaves a folder that passes :func:`verify_cache`. A folder that
fails verification (manifest missing, file missing, truncated or altered) is deleted and rebuilt by
:func:`ensure_cached`.

``transformers`` reads a GGUF by de-quantizing every tensor into an ordinary PyTorch model, which takes ~20 s
(SmolLM2) to ~100 s (Gemma) on 2 CPU cores; :func:`load_cached_gguf` does it once and saves the result as
safetensors in such a folder, which later loads read in about a second. The readers
(:mod:`mmkit.models.small_readers`, :mod:`mmkit.models.qwen_reader`) load through it; the e5 and photo
converters (:mod:`mmkit.models.e5`, :mod:`mmkit.models.photo`) use the same verified folder for what they
convert.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
STALE_PARTIAL_S = 3600  # a temporary build folder older than this belongs to a run that died
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def cache_root() -> Path:
    """``$MMKIT_CACHE``, else ``$XDG_CACHE_HOME/mmkit``, else ``~/.cache/mmkit``."""
    if os.environ.get("MMKIT_CACHE"):
        return Path(os.environ["MMKIT_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "mmkit"


# --- the verified cache folder ----------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path) -> None:
    """Record sha256 and size of every file under ``folder``; flushed to disk before the manifest itself."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)  # the data must be on disk before a manifest vouches for it
        finally:
            os.close(fd)
        files[path.relative_to(folder).as_posix()] = {"sha256": _sha256(path), "bytes": path.stat().st_size}
    import transformers

    manifest = {
        "files": files,
        "transformers": transformers.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    tmp = folder / (MANIFEST + ".tmp")
    with tmp.open("w") as f:
        json.dump(manifest, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / MANIFEST)


def verify_cache(folder: Path) -> bool:
    """True when ``folder`` has a readable manifest and every file it lists is present with the recorded
    sha256."""
    try:
        files = json.loads((folder / MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    for name, entry in files.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != entry["bytes"] or _sha256(path) != entry["sha256"]:
            return False
    return bool(files)


def _remove_stale_partials(folder: Path) -> None:
    for partial in folder.parent.glob(f".{folder.name}.partial-*"):
        if time.time() - partial.stat().st_mtime > STALE_PARTIAL_S:
            shutil.rmtree(partial, ignore_errors=True)


def ensure_cached(folder: Path, build: Callable[[Path], None]) -> Path:
    """Return ``folder`` once it verifies, calling ``build(tmp_folder)`` to (re)create it when it does not.

    ``build`` writes files into an empty temporary folder next to ``folder``; the manifest is added and the
    temporary folder renamed to ``folder`` atomically. Two processes building at once both succeed: the second
    rename fails, finds a verified folder and discards its own copy.
    """
    if verify_cache(folder):
        return folder
    if folder.exists():
        logger.warning("cache %s is incomplete or corrupted: deleting and rebuilding it", folder)
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(folder)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=folder.parent))
    try:
        build(tmp)
        write_manifest(tmp)
        tmp.chmod(0o755)  # mkdtemp makes it owner-only; the finished cache is as readable as any other
        try:
            os.replace(tmp, folder)
        except OSError:
            if not verify_cache(folder):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


# --- GGUF -> transformers ---------------------------------------------------------------------------------


def convert_gguf(gguf_file: Path, out: Path, dtype: torch.dtype = torch.float32) -> None:
    """De-quantize a GGUF causal LM and its tokenizer into ``out`` (config.json, model.safetensors,
    tokenizer)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, dtype=dtype)
    # The weights are already plain `dtype` tensors, but transformers still tags the model as GGUF-quantized
    # and refuses to save it ("not serializable"); dropping the tag leaves an ordinary model.
    model.hf_quantizer.remove_quantization_config(model)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def load_cached_gguf(
    folder: Path,
    make_gguf: Callable[[Path], Path],
    dtype: torch.dtype = torch.float32,
    note: str = "",
    bits: int | None = None,
):
    """(model, tokenizer) from the verified cache ``folder``, converting ``make_gguf(workdir)`` into it if
    needed.

    make_gguf returns the path of the GGUF file; a file it writes inside ``workdir`` is deleted after
    conversion. bits=8 or 4 loads the cache folder through :func:`mmkit.quant.load_quantized` (a new copy,
    never shared).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def build(tmp: Path) -> None:
        work = tmp / "_gguf"
        work.mkdir()
        gguf_file = make_gguf(work)
        logger.warning("converting %s into %s (first run only%s)", gguf_file.name, folder, note)
        convert_gguf(gguf_file, tmp, dtype)
        shutil.rmtree(work)

    ensure_cached(folder, build)
    if bits is not None:
        from mmkit.quant import load_quantized

        return load_quantized(
            folder, bits, model_class=AutoModelForCausalLM
        ).eval(), AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).eval()
    return model, AutoTokenizer.from_pretrained(folder)
