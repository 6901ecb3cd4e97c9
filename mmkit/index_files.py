"""The files of a saved :class:`mmkit.index.VectorIndex`, written so that an interruption never loses an
index.

A saved index is a directory holding ``vectors.safetensors`` and ``meta.json``; meta.json records the SHA-256
of the vectors file it belongs to. :func:`write_index` orders the writes so that at every instant one
complete, matching pair is on disk, and :func:`committed_vectors` finds it when loading.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import safetensors
import safetensors.torch
import torch

from mmkit.errors import InputError

FORMAT, FORMAT_VERSION = "mmkit.VectorIndex", 1
VECTORS_FILE = "vectors.safetensors"
META_FILE = "meta.json"
PENDING_FILE = VECTORS_FILE + ".new"  # written first; moved into place after meta.json commits to it
_HASH_CHUNK = 1 << 24


def write_index(path: Path, vectors: bytes, meta: dict) -> None:
    """Write ``vectors`` (safetensors bytes) and ``meta`` (JSON-serialisable) into the directory ``path``.

    Order: the new vectors go to ``vectors.safetensors.new`` and the new ``meta.json`` (with the vectors'
    SHA-256 added) to a temporary file, each flushed and fsynced; ``os.replace`` of meta.json is the commit;
    then the vectors file is moved into place and the directory fsynced. Before the commit, a reader finds the
    old meta.json and old vectors; after it, the new meta.json names (by checksum) the new vectors, in
    whichever of the two files holds them.
    """
    try:
        meta_bytes = json.dumps({**meta, "sha256": hashlib.sha256(vectors).hexdigest()}, ensure_ascii=False)
    except TypeError as e:
        raise InputError(f"metadata must be JSON-serialisable to save the index ({e})") from None
    finish_interrupted_save(path)
    write_synced(path / PENDING_FILE, vectors)
    write_synced(path / (META_FILE + ".tmp"), meta_bytes.encode("utf-8"))
    os.replace(path / (META_FILE + ".tmp"), path / META_FILE)
    fsync_dir(path)
    os.replace(path / PENDING_FILE, path / VECTORS_FILE)
    fsync_dir(path)


def read_index(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(meta, tensors) of the index saved in ``path``; InputError if it is missing, corrupt or fails its
    checksum."""
    if not (path / META_FILE).is_file():
        raise InputError(f"no index at '{path}' ({META_FILE} is missing)")
    try:
        meta = json.loads((path / META_FILE).read_bytes())
        if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
            raise InputError(f"'{path}' is not an mmkit index of format version {FORMAT_VERSION}")
        committed = committed_vectors(path, meta["sha256"])
    except InputError:
        raise
    # AttributeError: JSON that is not an object
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise InputError(f"index at '{path}' is corrupt: {META_FILE} cannot be read ({e!r})") from None
    try:
        return meta, safetensors.torch.load_file(committed)
    except safetensors.SafetensorError as e:
        raise InputError(f"index at '{path}' is corrupt: {VECTORS_FILE} cannot be read ({e})") from None


def committed_vectors(path: Path, sha256: str) -> Path:
    """The vectors file meta.json commits to: in place, or still pending after an interrupted save."""
    for name in (VECTORS_FILE, PENDING_FILE):
        if (path / name).is_file() and sha256_file(path / name) == sha256:
            return path / name
    raise InputError(
        f"index file is corrupt (checksum mismatch) in '{path}': {VECTORS_FILE} does not match the SHA-256 "
        f"in {META_FILE}; rebuild the index from its source data and save it again"
    )


def finish_interrupted_save(path: Path) -> None:
    """Move committed pending vectors into place, or drop uncommitted ones, so the next save can reuse the
    name."""
    pending = path / PENDING_FILE
    if not pending.exists():
        return
    try:
        committed = json.loads((path / META_FILE).read_bytes())["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        committed = None
    if committed is not None and sha256_file(pending) == committed:
        os.replace(pending, path / VECTORS_FILE)
    else:
        pending.unlink()
    fsync_dir(path)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 16 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_synced(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and wait until it is on disk."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    """Make the renames in ``path`` durable (a no-op where directories cannot be opened, as on Windows)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
