"""Load on the Gradio app: latency under concurrent requests, and the server's memory over many sequential ones.

    python bench/load.py                       # 50 concurrent, then 500 sequential requests
    python bench/load.py --concurrent 20 --sequential 100 --json out.json

Starts apps/gradio_app.py on 127.0.0.1 (a free port, HF_HUB_OFFLINE=1), sends one warm-up request so that model
loading is not counted, then:

1. ``--concurrent`` requests at once, one gradio_client per thread (as many visitors), released together by a
   barrier: /classify (fine-tuned head and zero-shot alternately) and, when the photo model (the caption tab's default) is installed, every
   fifth one /caption. Prints p50/p95/p99/max latency, errors and throughput.
2. ``--sequential`` requests one after the other from one client (every tenth one a refused empty text, so the
   error path is measured too), reading the server's RSS before and after (psutil, else /proc/<pid>/status) and
   every 100 requests.

Everything has a deadline (``--deadline`` seconds per phase); the server is stopped at the end whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mmkit.models import is_ready

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "data" / "examples" / "images"
TEXTS = [
    "The striker scored twice in the final minutes of the match.",
    "The new phone ships with a faster chip and a brighter screen.",
    "Whisk the eggs with sugar, then fold in the flour and bake for twenty minutes.",
    "The central bank raised interest rates by a quarter point.",
    "这家餐厅的红烧肉味道很好，价格也不贵。",
]


def rss_bytes(pid: int) -> int:
    """Resident set size of process ``pid`` in bytes."""
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss
    except ImportError:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS for process {pid}") from None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(log_path: Path, seconds: float = 300, tmp_dir: Path | None = None,
              script: Path = ROOT / "apps" / "gradio_app.py") -> tuple[subprocess.Popen, str]:
    """Start the Gradio app on loopback with its output in ``log_path``; return (process, url) once it answers.

    ``tmp_dir``: the server's TMPDIR, so a caller can see exactly which upload folders this server leaves behind.
    ``script``: what to run; the test suites start their servers through this function too, with the app wrapped
    by tests/apps/answer_key_app.py.
    """
    port = _free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", **({"TMPDIR": str(tmp_dir)} if tmp_dir is not None else {})}
    with open(log_path, "wb") as log:  # a file, not a pipe: an unread pipe fills up and blocks the server
        process = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode}:\n"
                               f"{log_path.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.5)
    stop_app(process)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


def stop_app(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def request_for(i: int, with_caption: bool) -> tuple[str, tuple]:
    """The i-th request of the mix: (api name, arguments)."""
    if with_caption and i % 5 == 4:
        from gradio_client import handle_file

        image = sorted(IMAGES.glob("*.png"))[i % 7]
        return "/caption", (handle_file(str(image)), "en", 1, "", "none", "en")
    labels = "" if i % 2 == 0 else "sports, technology, cooking, finance"
    return "/classify", (TEXTS[i % len(TEXTS)], labels, "", "none")


def percentiles(latencies: list[float]) -> dict:
    """p50/p95/p99/max of ``latencies`` in seconds (nearest-rank percentiles)."""
    ordered = sorted(latencies)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": ordered[-1],
            "mean": statistics.fmean(ordered)}


def concurrent_phase(url: str, n: int, deadline_s: float, with_caption: bool) -> dict:
    """``n`` requests at once from ``n`` clients; latency of each from the common start to its answer."""
    from gradio_client import Client

    clients = [Client(url, verbose=False) for _ in range(n)]
    barrier = threading.Barrier(n)
    stop_at = time.monotonic() + deadline_s

    def one(i: int) -> tuple[str, float, str | None]:
        api, args = request_for(i, with_caption)
        barrier.wait(timeout=deadline_s)
        start = time.perf_counter()
        try:
            clients[i].submit(*args, api_name=api).result(timeout=max(1.0, stop_at - time.monotonic()))
            return api, time.perf_counter() - start, None
        except Exception as error:  # a failed request is a figure, not a crash of the benchmark
            return api, time.perf_counter() - start, f"{type(error).__name__}: {error}"[:200]

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(one, range(n)))
    wall = time.perf_counter() - started
    for client in clients:
        client.close()
    ok = [latency for _, latency, error in results if error is None]
    by_api = {api: percentiles([lat for a, lat, err in results if a == api and err is None])
              for api in sorted({api for api, _, _ in results}) if any(a == api and e is None for a, _, e in results)}
    return {"requests": n, "succeeded": len(ok), "errors": [e for _, _, e in results if e], "wall_s": wall,
            "throughput_rps": len(ok) / wall, "latency_s": percentiles(ok) if ok else None, "by_api": by_api}


def sequential_phase(url: str, pid: int, n: int, deadline_s: float) -> dict:
    """``n`` requests in a row (every tenth a refused empty text); server RSS before, every 100, and after."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(url, verbose=False)
    rss = [(0, rss_bytes(pid))]
    answered = refused = failed = 0
    latencies = []
    stop_at = time.monotonic() + deadline_s
    for i in range(n):
        if time.monotonic() > stop_at:
            break
        text = "" if i % 10 == 9 else f"{TEXTS[i % len(TEXTS)]} ({i})"  # distinct texts: no answer is reused
        labels = "" if i % 2 == 0 else "sports, technology, cooking, finance"
        start = time.perf_counter()
        try:
            client.predict(text, labels, "", "none", api_name="/classify")
            answered += 1
        except AppError as error:
            refused += "empty" in str(error)
            failed += "empty" not in str(error)
        latencies.append(time.perf_counter() - start)
        if (i + 1) % 100 == 0:
            rss.append((i + 1, rss_bytes(pid)))
    if rss[-1][0] != len(latencies):
        rss.append((len(latencies), rss_bytes(pid)))
    client.close()
    return {"requests": len(latencies), "answered": answered, "refused_as_expected": refused, "failed": failed,
            "latency_s": percentiles(latencies), "rss_mb": [(i, b / 2**20) for i, b in rss],
            "rss_growth_mb": (rss[-1][1] - rss[0][1]) / 2**20}


def run(concurrent: int = 50, sequential: int = 500, deadline_s: float = 300) -> dict:
    """Start the app, warm it up, run both phases, stop it; return every figure."""
    log_path = Path(tempfile.mkdtemp(prefix="mmkit-load-")) / "server.log"
    with_caption = is_ready("efficientnet-lite0-photo")  # the caption tab's default model
    process, url = start_app(log_path)
    try:
        from gradio_client import Client

        warm = Client(url, verbose=False)
        start = time.perf_counter()
        for i in range(2 + with_caption):  # head, zero-shot and caption pipelines loaded before timing
            api, args = request_for(i if i < 2 else 4, with_caption)
            warm.predict(*args, api_name=api)
        cold_s = time.perf_counter() - start
        warm.close()
        report = {"url": url, "server_pid": process.pid, "with_caption": with_caption, "warm_up_s": cold_s,
                  "rss_after_warm_up_mb": rss_bytes(process.pid) / 2**20}
        report["concurrent"] = concurrent_phase(url, concurrent, deadline_s, with_caption)
        report["sequential"] = sequential_phase(url, process.pid, sequential, deadline_s)
        report["server_alive"] = process.poll() is None
        return report
    finally:
        stop_app(process)


def _print(report: dict) -> None:
    c, s = report["concurrent"], report["sequential"]
    print(f"server pid {report['server_pid']} at {report['url']}; caption in the mix: {report['with_caption']}; "
          f"warm-up {report['warm_up_s']:.1f} s; RSS after warm-up {report['rss_after_warm_up_mb']:.0f} MB")
    lat = c["latency_s"] or {}
    print(f"concurrent: {c['succeeded']}/{c['requests']} succeeded in {c['wall_s']:.1f} s "
          f"({c['throughput_rps']:.2f} req/s); latency p50 {lat.get('p50', 0):.2f} s, p95 {lat.get('p95', 0):.2f} s, "
          f"p99 {lat.get('p99', 0):.2f} s, max {lat.get('max', 0):.2f} s; errors: {len(c['errors'])}")
    for api, figures in c["by_api"].items():
        print(f"  {api}: p50 {figures['p50']:.2f} s, p95 {figures['p95']:.2f} s, p99 {figures['p99']:.2f} s")
    for error in c["errors"][:5]:
        print("  error:", error)
    lat = s["latency_s"]
    print(f"sequential: {s['requests']} requests, {s['answered']} answered, {s['refused_as_expected']} refused as "
          f"expected, {s['failed']} failed; latency p50 {lat['p50']:.2f} s, p95 {lat['p95']:.2f} s, "
          f"p99 {lat['p99']:.2f} s")
    print("server RSS (requests, MB): " + ", ".join(f"({i}, {mb:.0f})" for i, mb in s["rss_mb"]))
    print(f"RSS growth over {s['requests']} requests: {s['rss_growth_mb']:+.1f} MB; server alive: "
          f"{report['server_alive']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--sequential", type=int, default=500)
    parser.add_argument("--deadline", type=float, default=300, help="seconds allowed per phase")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    report = run(args.concurrent, args.sequential, args.deadline)
    _print(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
