"""What the embedded readers cost: first load (GGUF conversion), cached load, cache size, greedy tokens/s.

For each reader whose package is installed ("en": SmolLM2-135M-Instruct, "zh": Gemma 3 270M), in a fresh cache
folder (a temporary one unless ``--cache`` is given): time ``load_reader`` twice (the first call converts the GGUF,
the second reads and verifies the safetensors cache; ``verify`` is the sha256 check alone), then time greedy
generation of exactly ``--tokens`` new tokens after a warm-up, at 1 and 2 torch threads. Prints a Markdown table.

    .venv/bin/python bench/readers.py               # both readers, ~5 minutes on 2 shared cores
    .venv/bin/python bench/readers.py --lang en     # SmolLM2 only
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

PROMPTS = {"en": "Write a short story about a cat who learns to swim.", "zh": "从前有一只小猫，它"}


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def tokens_per_s(model, tokenizer, prompt: str, tokens: int, threads: int) -> float:
    torch.set_num_threads(threads)
    batch = tokenizer(prompt, return_tensors="pt")
    settings = dict(do_sample=False, pad_token_id=tokenizer.eos_token_id)
    with torch.inference_mode():
        model.generate(**batch, max_new_tokens=4, **settings)  # warm-up: first-call allocations
        start = time.perf_counter()
        out = model.generate(**batch, max_new_tokens=tokens, min_new_tokens=tokens, **settings)
        elapsed = time.perf_counter() - start
    assert out.shape[1] - batch["input_ids"].shape[1] == tokens
    return tokens / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", choices=["en", "zh"], nargs="*", default=["en", "zh"])
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--cache", help="cache folder to use (default: a fresh temporary one)")
    args = parser.parse_args()
    cache = Path(args.cache or tempfile.mkdtemp(prefix="mmkit-bench-"))
    os.environ["MMKIT_CACHE"] = str(cache)
    from mmkit.models.gguf_cache import verify_cache
    from mmkit.models.small_readers import load_reader, reader_available, reader_cache_dir

    rows = []
    for lang in args.lang:
        if not reader_available(lang):
            print(f"{lang}: reader package not installed, skipped")
            continue
        torch.set_num_threads(2)
        start = time.perf_counter()
        load_reader(lang)
        first = time.perf_counter() - start
        start = time.perf_counter()
        model, tokenizer = load_reader(lang)
        cached = time.perf_counter() - start
        folder = reader_cache_dir(lang)
        start = time.perf_counter()
        assert verify_cache(folder)
        verify = time.perf_counter() - start
        rates = [tokens_per_s(model, tokenizer, PROMPTS[lang], args.tokens, n) for n in (1, 2)]
        rows.append((lang, type(model).__name__, first, cached, verify, folder_mb(folder), *rates))
        del model

    print(f"\ncache: {cache}; {args.tokens} new tokens, greedy, batch 1\n")
    print("| reader | model class | first load (s) | cached load (s) | of which sha256 check (s) | cache (MB) "
          "| tokens/s, 1 thread | tokens/s, 2 threads |")
    print("|---|---|---|---|---|---|---|---|")
    for lang, cls, first, cached, verify, mb, one, two in rows:
        print(f"| {lang} | {cls} | {first:.1f} | {cached:.1f} | {verify:.1f} | {mb:.0f} | {one:.1f} | {two:.1f} |")


if __name__ == "__main__":
    main()
