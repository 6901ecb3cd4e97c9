"""tiny-clip (MiniLM text space) against tiny-clip-e5 (multilingual-e5-small's): text -> image recall@1/5/10 with
English and Chinese queries, on the same galleries, in one run; and what a text query costs.

Both models are scored by :func:`mmkit.training.image_text.evaluate_clip` with the same seeds, so the images
are the same for both models and both languages: seen glyphs under new augmentations (training strength, full
strength, clean), every held-out glyph in 3 views, and composites of 2-3 seen glyphs. Queries are the emoji
package's English and Chinese names ("red apple" / "红苹果", composites "狗脸在红苹果旁边"). tiny-clip was never
trained on Chinese; its Chinese rows show what MiniLM makes of Chinese text. Then the goal of issue 15: Chinese
R@1 on seen glyphs within 5 points of English. Last, one query's latency (min over 50 single-text
``encode_texts`` calls) and the text encoder's parameter memory.

    .venv/bin/python bench/clip_e5.py [--threads 2] [--e5 FOLDER]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import datetime, timezone

import torch

from mmkit.models.clip import TinyClip
from mmkit.models.registry import weights_dir
from mmkit.training.image_text import CLIP_ROWS, evaluate_clip

LANGS = ("en", "zh")
GOAL_POINTS = 5.0
QUERY_REPEATS = 50


def query_ms(model: TinyClip) -> float:
    """Min wall time of one single-text query (ms), after a warm-up."""
    model.encode_texts(["warm-up"])
    times = []
    for i in range(QUERY_REPEATS):
        start = time.perf_counter()
        model.encode_texts([f"a red apple number {i}"])
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def text_encoder_mb(model: TinyClip) -> float:
    module = model.text_encoder
    return sum(p.numel() * p.element_size() for p in module.parameters()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--e5", default=str(weights_dir("tiny-clip-e5")), help="the tiny-clip-e5 folder")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.time()
    print(f"# {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} ({args.threads} threads), "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, load average at start {os.getloadavg()[0]:.1f}")
    models = {"tiny-clip (MiniLM)": TinyClip.from_pretrained(weights_dir("tiny-clip")),
              "tiny-clip-e5": TinyClip.from_pretrained(args.e5)}
    metrics = {name: evaluate_clip(model, langs=LANGS) for name, model in models.items()}

    print("| text -> image | gallery | model | query | R@1 | R@5 | R@10 |")
    print("|---|---|---|---|---|---|---|")
    for key, label in CLIP_ROWS.items():
        for name, m in metrics.items():
            for lang in LANGS:
                r = m[key if lang == "en" else f"{key}_{lang}"]
                print(f"| {label} | {m['gallery'][key]} | {name} | {lang} | {r['R@1']:.3f} | {r['R@5']:.3f} "
                      f"| {r['R@10']:.3f} |")

    e5 = metrics["tiny-clip-e5"]
    print(f"\nGoal (Chinese R@1 on seen glyphs within {GOAL_POINTS:.0f} points of English), tiny-clip-e5:")
    for key in ("seen", "seen_clean", "seen_full"):
        gap = 100 * (e5[key]["R@1"] - e5[f"{key}_zh"]["R@1"])
        verdict = "met" if gap <= GOAL_POINTS else "NOT met"
        print(f"- {key}: en {e5[key]['R@1']:.3f}, zh {e5[f'{key}_zh']['R@1']:.3f}, gap {gap:.1f} points: {verdict}")

    print("\n| model | text encoder | one query ms (min of 50) | text encoder parameters MB |")
    print("|---|---|---|---|")
    for name, model in models.items():
        print(f"| {name} | {model.config.text_model} | {query_ms(model):.1f} | {text_encoder_mb(model):.0f} |")
    print(f"# total {time.time() - start:.0f} s, load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
