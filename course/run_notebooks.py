"""Execute course notebooks top to bottom and save them in place with their fresh outputs.

Usage::

    .venv/bin/python course/run_notebooks.py                      # every course/ch*.ipynb
    .venv/bin/python course/run_notebooks.py course/ch04_math.ipynb
    .venv/bin/python course/run_notebooks.py --timeout 300 --no-write course/ch11_*.ipynb
    .venv/bin/python course/run_notebooks.py --jobs 1                 # one notebook at a time

Each notebook runs in a fresh ``python3`` kernel. Every notebook sets torch to one thread, so ``--jobs`` notebooks
(default 2, one per core of the 2-core machines the course is timed on) run side by side, each from its own worker
process so that the CPU seconds reported for a notebook are its own kernel's. jupyter_client starts that kernel with the interpreter running
this script, so calling it as ``.venv/bin/python`` gives the notebooks the venv's torch and mmkit. The working
directory is the notebook's folder. A notebook is written back only when every cell succeeded, so a failed run
never replaces a good committed copy. Prints, per notebook, the wall-clock seconds and the CPU seconds its kernel
used (on a shared machine the second is the steadier figure); exits 1 if any notebook failed.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

COURSE_DIR = Path(__file__).resolve().parent


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def execute(path: Path, timeout: int = 600, cwd: Path | None = None) -> tuple[nbformat.NotebookNode, float, float]:
    """Run every cell of the notebook at ``path``; returns (executed notebook, wall seconds, kernel CPU seconds).

    The CPU time is that of the finished kernel process (the client shuts it down and reaps it), so it counts
    only this notebook's work, whatever else the machine is doing.

    Raises ``CellExecutionError`` (its message holds the failing cell's source and traceback) or
    ``CellTimeoutError`` when a cell runs longer than ``timeout`` seconds.
    """
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd or path.parent)}},
    )
    start, cpu_start = time.perf_counter(), _children_cpu_seconds()
    client.execute()
    return nb, time.perf_counter() - start, _children_cpu_seconds() - cpu_start


def _run(path: Path, timeout: int, write: bool) -> tuple[str | None, float, float]:
    """Execute one notebook in this worker process: (error message or None, wall s, kernel CPU s)."""
    try:
        nb, seconds, cpu_seconds = execute(path, timeout)
    except (CellExecutionError, CellTimeoutError) as err:
        return str(err), 0.0, 0.0
    if write:
        nbformat.write(nb, path)
    return None, seconds, cpu_seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks to run (default: course/ch*.ipynb)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    parser.add_argument("--no-write", action="store_true", help="execute only; leave the files unchanged")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks run side by side (default 2)")
    args = parser.parse_args(argv)

    paths = args.paths or sorted(COURSE_DIR.glob("ch*.ipynb"))
    if not paths:
        print(f"no notebooks found under {COURSE_DIR}", file=sys.stderr)
        return 1
    failed = []
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        runs = {pool.submit(_run, path, args.timeout, not args.no_write): path for path in paths}
        for run in as_completed(runs):
            error, seconds, cpu_seconds = run.result()
            if error:
                failed.append(runs[run])
                print(f"FAILED  {runs[run]}\n{error}", file=sys.stderr)
            else:
                print(f"{seconds:7.1f} s wall {cpu_seconds:7.1f} s cpu  {runs[run]}", flush=True)
    if failed:
        print(f"{len(failed)} of {len(paths)} notebooks failed: {', '.join(map(str, failed))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
