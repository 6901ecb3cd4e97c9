"""What a pipeline's private copy of an embedded model costs: :func:`mmkit.pipelines.base.private_copy` (a deepcopy
of the shared float model that shares its tokenizer) against loading it again from disk (the registry's own loader).

    python bench/own_model.py             # minilm, tiny-captioner, tiny-clip, topic-classifier, and the readers
    python bench/own_model.py --repeat 5  # whose float32 cache is already built (a first build takes minutes)

``mmkit.pipelines.base.own_model`` takes the copy; this prints both, median of ``--repeat`` runs, in one run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import torch

from mmkit.models import registry
from mmkit.pipelines.base import private_copy


def _median_ms(make, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        made = make()
        times.append((time.perf_counter() - start) * 1000)
        del made
    return statistics.median(times)


def _reader_cached(name: str) -> bool:
    from mmkit.models.gguf_cache import verify_cache
    from mmkit.models.small_readers import reader_cache_dir

    lang = {"smollm2-reader": "en", "gemma3-reader-zh": "zh"}.get(name)  # the 1.5B qwen-reader is not timed here
    return lang is not None and registry.is_ready(name) and verify_cache(reader_cache_dir(lang, torch.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'model':18} {'fresh load ms':>14} {'copy ms':>12} {'copy / load':>16}")
    for spec in registry.list_models():
        if not spec.ready() or (spec.kind == "reader" and not _reader_cached(spec.name)):
            print(f"{spec.name:18} skipped: not installed, or its float32 cache is not built yet")
            continue
        shared = registry.load(spec.name)  # loaded once first, so that neither column pays a first import
        load_ms = _median_ms(spec.loader, args.repeat)
        # The topic head is copied as the text-classification pipeline copies it: bound to an encoder copied apart
        # (the minilm row), so its MiniLM is not copied twice.
        memo = {id(shared.encoder): shared.encoder} if spec.name == "topic-classifier" else {}
        copy_ms = _median_ms(partial(private_copy, shared, memo), args.repeat)
        print(f"{spec.name:18} {load_ms:14.1f} {copy_ms:12.1f} {copy_ms / load_ms:16.2f}")


if __name__ == "__main__":
    main()
