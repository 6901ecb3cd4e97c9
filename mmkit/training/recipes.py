"""``python -m mmkit.training.recipes NAME``: train an embedded model into ``mmkit/weights/NAME/``.

Each trainable model is one line in ``TRAINERS``: its name and ``"module:function"``, a function that takes
the output folder, saves weights, config and card there, and returns its metrics (a dict).
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

from mmkit.errors import InputError
from mmkit.models.registry import weights_dir

TRAINERS = {
    "topic-classifier": "mmkit.training.topic_classifier:train_topic_classifier",
    "tiny-clip": "mmkit.training.image_text:train_tiny_clip",
    "tiny-clip-e5": "mmkit.training.image_text:train_tiny_clip_e5",
    "tiny-captioner": "mmkit.training.captioner:train_tiny_captioner",
}


def run(name: str, out_dir: str | Path | None = None) -> dict:
    """Train ``name`` into ``out_dir`` (default ``mmkit/weights/<name>``, shipped in the wheel) and return its
    metrics."""
    if name not in TRAINERS:
        raise InputError(f"no trainer for {name!r}; trainable models: {', '.join(TRAINERS)}")
    module, function = TRAINERS[name].split(":")
    trainer = getattr(importlib.import_module(module), function)
    return trainer(Path(out_dir) if out_dir else weights_dir(name))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train an embedded mmkit model.")
    parser.add_argument("name", help=f"one of: {', '.join(TRAINERS)}")
    parser.add_argument("--out", help="output folder (default: mmkit/weights/NAME)")
    args = parser.parse_args(argv)
    try:
        metrics = run(args.name, args.out)
    except InputError as err:
        parser.exit(2, f"error: {err}\n")
    print(json.dumps(metrics, indent=1))


if __name__ == "__main__":
    main()
