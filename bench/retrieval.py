"""Top-10 retrieval over random unit vectors: latency, recall@10 against exact float32, build time.

    .venv/bin/python bench/retrieval.py [--sizes 100000,1000000] [--data random,clustered] [--dim 384] [--threads N]

Two data sets per size, both unit vectors in ``--dim`` dimensions with 200 held-out queries:

* ``random``: isotropic Gaussian directions. The worst case for every approximate index: the 10 nearest of a
  random query are barely nearer than the rest (cosine ~0.22 against ~0 for a typical pair), so an index that
  visits a fraction f of the vectors finds about a fraction f of them.
* ``clustered``: N/100 random centres, every item and query a centre plus isotropic noise (cosine ~0.8 to its
  centre): neighbours exist, as with embeddings of related images or sentences.

Methods: torch float32 matmul + topk (the reference), mmkit exact with a float16 and an int8 store, FAISS
IndexFlatIP, FAISS IVF (the index mmkit builds, searched directly, at several nprobe) and mmkit ``backend="auto"``
(exact below 200k vectors, IVF above). Single queries: 30 (20 at 1M) distinct ones; batches: 3 calls of 64 queries,
reported per query. The machine is shared by several jobs, so each call records wall time (the table gives the
minimum: the closest to an idle machine) and process CPU time (the median: the work done, summed over threads,
less sensitive to other jobs). Prints a Markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os

# Idle OpenMP threads sleep instead of spinning: torch and faiss each bring their own OpenMP runtime, and on a
# shared 2-core machine spinning threads of one steal the cores the other is computing on.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import faiss  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from mmkit.index import VectorIndex  # noqa: E402

K = 10
N_QUERIES = 200
BATCH = 64
NPROBES = (8, 32, 64, 128)


def make_data(kind: str, n: int, dim: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Items (n, dim) and queries (N_QUERIES, dim), unit rows."""
    g = torch.Generator().manual_seed(seed)
    m = n + N_QUERIES
    if kind == "random":
        x = torch.randn(m, dim, generator=g)
    else:
        centres = F.normalize(torch.randn(max(1, n // 100), dim, generator=g), dim=1)
        x = centres[torch.randint(0, len(centres), (m,), generator=g)]
        x += 0.75 * torch.randn(m, dim, generator=g) / dim**0.5
    x = F.normalize(x, dim=1)
    return x[:n], x[n:]


def exact_truth(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Row positions (Q, K) of the exact float32 top-K, computed in blocks to bound memory."""
    best_s, best_i = [], []
    for start in range(0, len(x), 131072):
        s, i = torch.topk(q @ x[start : start + 131072].T, K, dim=1)
        best_s.append(s)
        best_i.append(i + start)
    s, i = torch.topk(torch.cat(best_s, 1), K, dim=1)
    return torch.cat(best_i, 1).gather(1, i)


def recall(found, truth: torch.Tensor) -> float:
    found = torch.as_tensor(found)
    return sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(found, truth)) / truth.numel()


def latency(search, q: torch.Tensor, n_single: int) -> tuple[float, float, float, float]:
    """Single queries: (wall min ms, CPU p50 ms); batches of BATCH: (wall min, CPU p50) in ms per query."""
    search(q[:1])  # warm-up

    def measure(calls) -> tuple[float, float]:
        wall, cpu = [], []
        for call in calls:
            start, start_cpu = time.perf_counter(), time.process_time()
            call()
            wall.append((time.perf_counter() - start) * 1e3)
            cpu.append((time.process_time() - start_cpu) * 1e3)
        return min(wall), statistics.median(cpu)

    single = measure(lambda i=i: search(q[i : i + 1]) for i in range(n_single))
    batch = measure(lambda i=i: search(q[i : i + BATCH]) for i in range(0, 3 * BATCH, BATCH))
    return *single, batch[0] / BATCH, batch[1] / BATCH


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bench(kind: str, n: int, dim: int) -> list[tuple]:
    x, q = make_data(kind, n, dim)
    truth = exact_truth(x, q)
    n_single = 30 if n <= 200_000 else 20
    rows = []

    def row(method, build_s, search):
        rows.append((method, build_s, *latency(search, q, n_single), recall(search(q), truth)))

    row("torch fp32 matmul+topk", None, lambda qq: torch.topk(qq @ x.T, K, dim=1).indices)
    for dtype in ("float16", "int8"):
        index, build = timed(lambda dtype=dtype: _built(VectorIndex(dim, dtype=dtype, backend="exact"), x))
        row(f"mmkit exact {dtype}", build, lambda qq, index=index: index.topk(qq, K)[1])
        del index  # at 1M each copy is hundreds of MB
    flat, build = timed(lambda: _faiss_flat(x))
    row("FAISS IndexFlatIP", build, lambda qq: flat.search(qq.numpy(), K)[1])
    flat.reset()  # frees its copy of the vectors

    auto, build_auto = timed(lambda: _built(VectorIndex(dim), x))
    if auto.active_backend == "faiss":
        ivf_owner, build_ivf = auto, build_auto
    else:
        ivf_owner, build_ivf = timed(lambda: _built(VectorIndex(dim, backend="faiss"), x))
    # Building the IVF index (k-means, then assigning every vector) happens at the first search: time it there.
    _, train_add = timed(lambda: ivf_owner.topk(q[:1], K))
    build_ivf += train_add
    ivf = ivf_owner._faiss
    for nprobe in NPROBES:
        ivf.nprobe = nprobe
        row(f"FAISS IVF{ivf.nlist},Flat nprobe={nprobe}", build_ivf, lambda qq: ivf.search(qq.numpy(), K)[1])
    label = f"mmkit auto -> {auto.active_backend}" + (f" (nprobe={auto.nprobe})" if auto is ivf_owner else "")
    row(label, build_ivf if auto is ivf_owner else build_auto, lambda qq: auto.topk(qq, K)[1])
    return rows


def _built(index: VectorIndex, x: torch.Tensor) -> VectorIndex:
    index.add(x)
    return index


def _faiss_flat(x: torch.Tensor):
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x.numpy())
    return flat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated index sizes")
    parser.add_argument("--data", default="random,clustered", help="comma-separated: random, clustered")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--threads", type=int, help="torch and FAISS threads (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        faiss.omp_set_num_threads(args.threads)
    start = time.time()
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), faiss {faiss.__version__}, load average at start "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(
        "| data | N | method | build s | 1 query: wall min ms | 1 query: CPU ms | 64 queries: wall ms/query "
        "| 64 queries: CPU ms/query | recall@10 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        for kind in args.data.split(","):
            for method, build, *times, rec in bench(kind, n, args.dim):
                build_s = "-" if build is None else f"{build:.1f}"
                wall_1, cpu_1, wall_64, cpu_64 = times
                print(
                    f"| {kind} | {n:,} | {method} | {build_s} | {wall_1:.2f} | {cpu_1:.2f} | {wall_64:.3f} "
                    f"| {cpu_64:.3f} | {rec:.3f} |",
                    flush=True,
                )
    print(f"# total {time.time() - start:.0f} s, load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
