"""How long a visitor waits: the Gradio app's start to its first page, then the first answer of each tab.

    python bench/app_startup.py               # one cold start, then one request per tab
    python bench/app_startup.py --runs 3      # three cold starts; prints each and the median

Starts apps/gradio_app.py as `make demo` does (the environment already installed) on 127.0.0.1, with
HF_HUB_OFFLINE=1 and the embedded defaults, and measures from the process start:

- **page**: until ``GET /`` answers 200 (the goal is 15 s or less);
- then, one after the other, the first answer of each tab from a gradio_client: /classify with the topic head
  (goal 2 s or less), /classify zero-shot, /caption, /build_index on the bundled images, /search, /answer on the
  bundled English document. The app loads the embedded models in a background thread while it serves the page, so a
  request that comes before its model is loaded waits for it; that wait is part of the figure.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import ROOT, start_app, stop_app  # noqa: E402

DOCUMENT = ROOT / "data" / "examples" / "documents" / "solar_system.md"
IMAGE = ROOT / "data" / "examples" / "images" / "red_apple.png"


def requests():
    """(name, api, arguments) of the first request of each tab, in the order a visitor might try them."""
    from gradio_client import handle_file

    return [
        ("classify (topic head)", "/classify", ("The striker scored twice in the final minutes.", "", "", "none")),
        ("classify (zero-shot)", "/classify", ("My flight was cancelled again.", "travel, cooking, music", "",
                                               "none")),
        ("caption", "/caption", (handle_file(str(IMAGE)), "en", 1, "", "none", "en")),
        ("build index (26 images)", "/build_index", (None, "", "none", "en")),
        ("search", "/search", ("a red fruit", None, 6, "en")),
        ("long-text QA", "/answer", ("", handle_file(str(DOCUMENT)), "Which planet has the Great Red Spot?", "",
                                     "none", "en")),
    ]


def one_run(log_path: Path) -> dict[str, float]:
    """Seconds from the app's start to its page, and the seconds each first request took."""
    from gradio_client import Client

    started = time.perf_counter()
    process, url = start_app(log_path)
    figures = {"page": time.perf_counter() - started}
    try:
        client = Client(url, verbose=False)  # one visitor: /search finds the index /build_index kept in the session
        for name, api, args in requests():
            t = time.perf_counter()
            client.predict(*args, api_name=api)
            figures[name] = time.perf_counter() - t
    finally:
        stop_app(process)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1, help="cold starts to measure")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            runs.append(one_run(Path(tmp) / f"app-{i}.log"))
            print(f"run {i + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in runs[-1].items()), flush=True)
    print(f"\n| from the app's start | seconds (median of {len(runs)}) | goal |\n|---|---|---|")
    goals = {"page": "<= 15", "classify (topic head)": "<= 2"}
    for key in runs[0]:
        print(f"| {key} | {statistics.median(r[key] for r in runs):.2f} | {goals.get(key, '')} |")


if __name__ == "__main__":
    main()
