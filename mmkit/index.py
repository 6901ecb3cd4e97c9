"""Vector index: exact top-k search in torch, a FAISS IVF index when large, an atomic save with a checksum.

Vectors are stored row-major, (N, D), in float32, float16 or int8 with one float32 scale per row. Exact search
reads the whole store in blocks: scores = block @ queries.T, keep each block's best 4k candidates, merge, then
re-score the survivors in float32 from the stored vectors. The kernel per store is the fastest measured on a
2-core AVX-512 CPU
(bench/retrieval.py): float16 uses torch.mv for one query (its half-precision GEMV is fast, the half GEMM is
~20x slower) and converts blocks to bfloat16 for a batch (the re-scoring undoes bfloat16's rounding); int8
uses ``torch._int_mm`` with the query quantised to int8. All of them are exact search over the stored
precision.

Above ``faiss_threshold`` vectors (with ``backend="auto"``) the index also builds a FAISS ``IndexIVFFlat``
from the stored vectors and answers from it: approximate, and at a million vectors much faster than any exact
scan, which is bound by memory bandwidth there. IVF rather than HNSW because HNSW (M=32) took 53 s to build
100k vectors on 2 cores, so about ten minutes at 1M, where IVF takes about a minute.

On disk an index is a directory holding ``vectors.safetensors`` and ``meta.json`` (ids, metadata, settings and
the SHA-256 of the vectors file). Saving never pickles and never leaves a half-written index: see
:meth:`save`.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np
import safetensors.torch
import torch

from mmkit.errors import InputError, MissingDependencyError
from mmkit.index_files import FORMAT, FORMAT_VERSION, META_FILE, read_index, write_index

DTYPES = {"float32": torch.float32, "float16": torch.float16, "int8": torch.int8}
METRICS = ("cosine", "ip")  # cosine normalises vectors and queries; ip is the raw inner product
BACKENDS = ("auto", "exact", "faiss")
FAISS_THRESHOLD = 200_000  # "auto" switches to FAISS above this many vectors
_BLOCK_ROWS = 32768  # rows scored at once for a batch: bounds the (block, Q) scores and the bfloat16 buffer
_RERANK = 4  # exact search keeps RERANK * k candidates per query before re-scoring them in float32


def _import_faiss():
    try:
        import faiss
    except ImportError:
        raise MissingDependencyError(
            "the FAISS backend needs faiss: pip install faiss-cpu (or use backend='exact')"
        ) from None
    return faiss


@functools.cache
def _faiss_available() -> bool:
    try:
        _import_faiss()
    except MissingDependencyError:
        return False
    return True


def _ivf_nlist(n: int) -> int:
    """About sqrt(n) inverted lists, with at least 39 training points per list (FAISS's own minimum)."""
    return max(1, min(int(math.sqrt(n)), n // 39))


class VectorIndex:
    """A searchable set of D-dimensional vectors, each with a string id and a metadata dict.

    Args:
        dim: vector size D.
        metric: "cosine" (vectors and queries are L2-normalised; scores are cosine similarities) or "ip".
        dtype: storage precision, "float16" (half the bytes of float32), "int8" (a quarter) or "float32".
        backend: "exact" (torch, always), "faiss" (IVF, always) or "auto" (FAISS above ``faiss_threshold``
            vectors when faiss is installed, exact otherwise).
        nprobe: inverted lists (of about sqrt(N)) FAISS visits per query; more is slower and closer to exact.
            64 gave recall@10 0.97 at about 4 ms per query on 1M clustered vectors (bench/RESULTS.md). On data
            without neighbourhood structure (isotropic random vectors) no IVF setting is both fast and
            accurate: use backend="exact" there.
    """

    def __init__(
        self,
        dim: int,
        metric: str = "cosine",
        dtype: str = "float16",
        backend: str = "auto",
        faiss_threshold: int = FAISS_THRESHOLD,
        nprobe: int = 64,
    ):
        if not isinstance(dim, int) or dim < 1:
            raise InputError(f"dim must be a positive integer, got {dim!r}")
        for name, value, allowed in [
            ("metric", metric, METRICS),
            ("dtype", dtype, DTYPES),
            ("backend", backend, BACKENDS),
        ]:
            if value not in allowed:
                raise InputError(f"unknown {name} {value!r}; use one of: {', '.join(allowed)}")
        if backend == "faiss":
            _import_faiss()  # fail now, not at the first search
        self.dim, self.metric, self.dtype, self.backend = dim, metric, dtype, backend
        self.faiss_threshold, self.nprobe = faiss_threshold, nprobe
        self.ids: list[str] = []
        self.metadata: list[dict] = []
        self._id_set: set[str] = set()
        self._n = 0
        self._vectors = torch.empty(0, dim, dtype=DTYPES[dtype])  # (capacity, D); rows past _n are unused
        self._scales = torch.empty(0)  # (capacity,) int8 only: row = int8 row * scale
        self._faiss = self._quantizer = None
        self._faiss_count = 0  # rows of the store already in the FAISS index
        # (nlist, D) IVF centroids, saved with the vectors so that a loaded index need not train again
        self._centroids: torch.Tensor | None = None

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return (
            f"VectorIndex(n={self._n}, dim={self.dim}, metric={self.metric!r}, dtype={self.dtype!r}, "
            f"backend={self.backend!r} -> {self.active_backend!r})"
        )

    @property
    def active_backend(self) -> str:
        """What the next search uses: "faiss" or "exact"."""
        if self.backend == "auto":
            return "faiss" if self._n > self.faiss_threshold and _faiss_available() else "exact"
        return self.backend

    # ------------------------------------------------------------------------------------------- adding

    def add(self, vectors, ids=None, metadata=None, batch_size: int = 65536, progress: bool = False) -> None:
        """Append vectors (N, D) or (D,) (a tensor or array), with optional string ids and metadata dicts.

        Default ids are the running positions ("0", "1", ...). Either every vector is added or, on an error,
        none.
        """
        x = self._as_matrix(vectors, "vectors")
        n = x.shape[0]
        ids = self._check_ids(ids, n)
        metadata = self._check_metadata(metadata, n)
        self._reserve(self._n + n)
        batches = range(0, n, batch_size)
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="indexing", unit="batch")
        for start in batches:
            chunk = x[start : start + batch_size]
            if self.metric == "cosine":
                chunk = self._normalise(chunk, "vector", offset=start)
            rows = slice(self._n + start, self._n + start + chunk.shape[0])
            if self.dtype == "int8":
                # Per-row symmetric scale: the largest |value| maps to 127. Zero rows keep scale 1.
                scale = chunk.abs().amax(dim=1).clamp_min(1e-30) / 127
                self._vectors[rows] = torch.round(chunk / scale[:, None]).to(torch.int8)
                self._scales[rows] = scale
            else:
                self._vectors[rows] = chunk
        # Rows are written past _n first, so a failure above leaves the index as it was.
        self._n += n
        self.ids += ids
        self.metadata += metadata
        self._id_set.update(ids)

    def _as_matrix(self, vectors, what: str) -> torch.Tensor:
        if isinstance(vectors, np.ndarray):
            vectors = torch.from_numpy(vectors)
        if not isinstance(vectors, torch.Tensor):
            raise InputError(f"{what} must be a torch tensor or numpy array, not {type(vectors).__name__}")
        x = vectors.detach().to("cpu", torch.float32)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise InputError(f"{what} must be (N, {self.dim}) or ({self.dim},); got {tuple(vectors.shape)}")
        if not torch.isfinite(x).all():
            raise InputError(f"{what} contain NaN or infinite values")
        return x

    def _normalise(self, x: torch.Tensor, what: str, offset: int = 0) -> torch.Tensor:
        norms = x.norm(dim=1, keepdim=True)
        zero = (norms[:, 0] == 0).nonzero()
        if len(zero):
            raise InputError(
                f"{what} {offset + int(zero[0])} is all zeros; cosine similarity needs a direction"
            )
        return x / norms

    def _check_ids(self, ids, n: int) -> list[str]:
        if ids is None:
            ids = [str(i) for i in range(self._n, self._n + n)]
        ids = list(ids)
        if len(ids) != n or not all(isinstance(i, str) for i in ids):
            raise InputError(f"ids must be a list of {n} strings, one per vector")
        seen = set()
        for i in ids:
            if i in self._id_set or i in seen:
                raise InputError(f"id {i!r} is already in the index; ids must be unique")
            seen.add(i)
        return ids

    def _check_metadata(self, metadata, n: int) -> list[dict]:
        if metadata is None:
            return [{} for _ in range(n)]
        metadata = list(metadata)
        if len(metadata) != n or not all(isinstance(m, dict) for m in metadata):
            raise InputError(f"metadata must be a list of {n} dicts, one per vector")
        if any("id" in m or "score" in m for m in metadata):
            raise InputError("metadata keys 'id' and 'score' are reserved for search results")
        return metadata

    def _reserve(self, n: int) -> None:
        """Grow the store geometrically so that adding in many small batches stays linear in total."""
        capacity = self._vectors.shape[0]
        if n <= capacity:
            return
        capacity = max(n, 2 * capacity, 1024)
        grown = torch.empty(capacity, self.dim, dtype=self._vectors.dtype)
        grown[: self._n] = self._vectors[: self._n]
        self._vectors = grown
        if self.dtype == "int8":
            scales = torch.ones(capacity)
            scales[: self._n] = self._scales[: self._n]
            self._scales = scales

    def vectors(self, start: int = 0, end: int | None = None) -> torch.Tensor:
        """Stored rows start..end as float32 (N, D): normalised for cosine, dequantised for int8."""
        end = self._n if end is None else min(end, self._n)
        rows = self._vectors[start:end].float()
        return rows * self._scales[start:end, None] if self.dtype == "int8" else rows

    # ------------------------------------------------------------------------------------------- searching

    def search(self, queries, k: int = 10):
        """Top-k neighbours of one query (D,) or of each of Q queries (Q, D).

        Returns a list of ``{"id", "score", **metadata}`` dicts, best first: one list for a single query, a
        list of lists for a batch. Scores are cosine similarities (metric="cosine") or inner products.
        """
        scores, positions = self.topk(queries, k)
        results = [
            [{"id": self.ids[p], "score": s, **self.metadata[p]} for s, p in zip(row_s, row_p) if p >= 0]
            for row_s, row_p in zip(scores.tolist(), positions.tolist())
        ]
        single = getattr(queries, "ndim", 2) == 1
        return results[0] if single else results

    def topk(self, queries, k: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores (Q, k') float32 and row positions (Q, k') int64 of the best matches, k' = min(k, len(self)).

        Positions index ``self.ids``; FAISS marks a missing result (too few vectors probed) with -1.
        """
        if self._n == 0:
            raise InputError("the index is empty: add items first")
        if not isinstance(k, int) or k < 1:
            raise InputError(f"k must be a positive integer, got {k!r}")
        q = self._as_matrix(queries, "queries")
        if self.metric == "cosine":
            q = self._normalise(q, "query")
        k = min(k, self._n)
        if self.active_backend == "faiss":
            return self._search_faiss(q, k)
        return self._search_exact(q, k)

    def _search_exact(self, q: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        keep = k if self.dtype == "float32" else min(self._n, _RERANK * k)
        prepared = self._prepare_queries(q)
        buffer = (
            torch.empty(min(_BLOCK_ROWS, self._n), self.dim, dtype=torch.bfloat16)
            if self.dtype == "float16" and len(q) > 1
            else None
        )
        # One query's scores are only N floats: score them in one call, which is one parallel region instead
        # of several (each a point where a thread can wait for a descheduled peer on a busy machine).
        block_rows = self._n if len(q) == 1 else _BLOCK_ROWS
        cand_scores, cand_rows = [], []
        for start in range(0, self._n, block_rows):
            end = min(start + block_rows, self._n)
            scores = self._block_scores(prepared, start, end, buffer)  # (block, Q)
            s, i = torch.topk(scores, min(keep, end - start), dim=0)
            cand_scores.append(s)
            cand_rows.append(i + start)
        s, i = torch.topk(torch.cat(cand_scores), keep, dim=0)
        rows = torch.cat(cand_rows).gather(0, i).T  # (Q, keep)
        if self.dtype == "float32":
            return s.T.contiguous(), rows.contiguous()
        # Re-score the survivors in float32 from the stored vectors: this removes the rounding of the query
        # (int8, float16) and of the bfloat16 product; RERANK * k candidates hold the true top k with room to
        # spare.
        exact = torch.einsum("qcd,qd->qc", self._rows(rows), q)
        s, i = torch.topk(exact, k, dim=1)
        return s, rows.gather(1, i)

    def _prepare_queries(self, q: torch.Tensor):
        if self.dtype == "float16":
            return q[0].half() if len(q) == 1 else q.bfloat16()
        if self.dtype == "int8":
            scale = q.abs().amax(dim=1, keepdim=True).clamp_min(1e-30) / 127
            return torch.round(q / scale).to(torch.int8).T.contiguous()  # (D, Q)
        return q

    def _block_scores(self, q, start: int, end: int, buffer) -> torch.Tensor:
        """Scores (end - start, Q) of stored rows start..end against the prepared queries."""
        block = self._vectors[start:end]
        if self.dtype == "int8":
            # int32 dot products times the row scale; the query scale is the same for a whole column.
            return torch._int_mm(block, q).float() * self._scales[start:end, None]
        if self.dtype == "float16" and q.ndim == 1:
            return torch.mv(block, q)[:, None]
        if self.dtype == "float16":
            # Half-precision GEMM has no fast CPU kernel; bfloat16 does (AVX512-BF16), and converting the
            # block costs less than the product.
            converted = buffer[: end - start]
            converted.copy_(block)
            return (converted @ q.T).float()
        return block @ q.T

    def _rows(self, rows: torch.Tensor) -> torch.Tensor:
        """Stored vectors at positions rows (Q, C) as float32 (Q, C, D)."""
        v = self._vectors[rows].float()
        return v * self._scales[rows][..., None] if self.dtype == "int8" else v

    def _search_faiss(self, q: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        self._sync_faiss()
        self._faiss.nprobe = self.nprobe
        scores, rows = self._faiss.search(q.numpy(), k)
        return torch.from_numpy(scores), torch.from_numpy(rows)

    def _sync_faiss(self) -> None:
        """Build the IVF index on first use (k-means on up to 40 rows per list), then add the rows added
        since."""
        faiss = _import_faiss()
        if self._faiss is None:
            if self._centroids is None:
                nlist = _ivf_nlist(self._n)
                sample = torch.randperm(self._n, generator=torch.Generator().manual_seed(0))[: 40 * nlist]
                kmeans = faiss.Kmeans(self.dim, nlist, niter=10, seed=0, spherical=self.metric == "cosine")
                kmeans.train(self._rows(sample.sort().values[None])[0].numpy())
                self._centroids = torch.from_numpy(kmeans.centroids.copy())
            quantizer = faiss.IndexFlatIP(self.dim)
            quantizer.add(self._centroids.numpy())
            index = faiss.IndexIVFFlat(quantizer, self.dim, len(self._centroids), faiss.METRIC_INNER_PRODUCT)
            index.is_trained = True  # the centroids above are the training result
            self._quantizer, self._faiss, self._faiss_count = quantizer, index, 0
        for start in range(self._faiss_count, self._n, _BLOCK_ROWS):
            self._faiss.add(self.vectors(start, start + _BLOCK_ROWS).numpy())
        self._faiss_count = self._n

    # ------------------------------------------------------------------------------------------- saving

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to the directory ``path`` so that an interruption at any point leaves a loadable
        index (the order of the writes is in :func:`mmkit.index_files.write_index`)."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise InputError(f"'{path}' is a file; an index is saved as a directory")
        path.mkdir(parents=True, exist_ok=True)
        tensors = {"vectors": self._vectors[: self._n].contiguous()}
        if self.dtype == "int8":
            tensors["scales"] = self._scales[: self._n].contiguous()
        if self._centroids is not None:
            tensors["ivf_centroids"] = self._centroids
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "dim": self.dim,
            "metric": self.metric,
            "dtype": self.dtype,
            "backend": self.backend,
            "faiss_threshold": self.faiss_threshold,
            "nprobe": self.nprobe,
            "count": self._n,
            "ids": self.ids,
            "metadata": self.metadata,
        }
        write_index(path, safetensors.torch.save(tensors), meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> VectorIndex:
        """Read an index written by :meth:`save`, refusing it if the vectors do not match their checksum."""
        meta, tensors = read_index(Path(path))
        try:
            index = cls(
                **{
                    key: meta[key]
                    for key in ("dim", "metric", "dtype", "backend", "faiss_threshold", "nprobe")
                }
            )
            n = meta["count"]
            index._check_ids(meta["ids"], n)
            index._check_metadata(meta["metadata"], n)
        except InputError:
            raise
        except (ValueError, KeyError, TypeError) as e:
            raise InputError(f"index at '{path}' is corrupt: {META_FILE} cannot be read ({e!r})") from None
        vectors, centroids = tensors.get("vectors"), tensors.get("ivf_centroids")
        if vectors is None or vectors.shape != (n, index.dim) or vectors.dtype != DTYPES[index.dtype]:
            raise InputError(f"index at '{path}' is corrupt: its vectors do not match {META_FILE}")
        if centroids is not None and (centroids.ndim != 2 or centroids.shape[1] != index.dim):
            raise InputError(f"index at '{path}' is corrupt: IVF centroids are {tuple(centroids.shape)}")
        index._vectors, index._n = vectors, n
        index.ids, index.metadata, index._id_set = meta["ids"], meta["metadata"], set(meta["ids"])
        if index.dtype == "int8":
            index._scales = tensors["scales"]
        index._centroids = centroids
        return index
