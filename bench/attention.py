"""mmkit.nn speed: MultiHeadAttention against nn.MultiheadAttention, and CausalLM generation with / without KV cache.

    .venv/bin/python bench/attention.py [--threads N]

Both attention modules run self-attention, eval, inference_mode, need_weights=False (torch then takes its fused
fast path). Timings are the minimum over interleaved repeats after a warm-up, which is what a shared CPU makes
most stable. Prints one markdown table per part; paste them into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import time
from functools import partial

import torch
from torch import nn

from mmkit.nn import CausalLM, CausalLMConfig, MultiHeadAttention

MHA_SHAPES = [(8, 128, 256, 4), (4, 512, 512, 8), (1, 1024, 768, 12)]  # (B, L, D, H)
LM_CONFIG = CausalLMConfig(vocab_size=1000, d_model=256, n_heads=4, num_layers=4, max_len=512)
PROMPT_LEN = 16


def best_of(fns: dict, repeats: int) -> tuple[dict, dict]:
    """Min wall time in ms of each callable and its last result, alternating between them so load hits all alike."""
    times, results = {name: float("inf") for name in fns}, {}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name] = min(times[name], (time.perf_counter() - start) * 1e3)
    return times, results


def bench_mha() -> None:
    print("| B | L | D | H | mmkit MHA (ms) | nn.MultiheadAttention (ms) | ratio mmkit/torch |")
    print("|---|---|---|---|---|---|---|")
    for b, length, d, h in MHA_SHAPES:
        ref = nn.MultiheadAttention(d, h, batch_first=True).eval()
        ours = MultiHeadAttention(d, h).load_torch_weights(ref).eval()
        x = torch.randn(b, length, d)
        with torch.inference_mode():
            fns = {"ours": partial(ours, x), "torch": partial(ref, x, x, x, need_weights=False)}
            best_of(fns, 3)  # warm-up
            t, _ = best_of(fns, 10 if length < 1024 else 6)
        print(
            f"| {b} | {length} | {d} | {h} | {t['ours']:.2f} | {t['torch']:.2f} | {t['ours'] / t['torch']:.2f} |"
        )


def bench_generation() -> None:
    model = CausalLM(LM_CONFIG).eval()
    prompt = torch.randint(
        0, LM_CONFIG.vocab_size, (1, PROMPT_LEN), generator=torch.Generator().manual_seed(0)
    )
    model.generate(prompt, 8)  # warm-up
    model.generate(prompt, 8, use_cache=False)
    print("| new tokens | with cache (ms) | without cache (ms) | speed-up | same tokens |")
    print("|---|---|---|---|---|")
    for new, repeats in ((64, 3), (256, 1)):
        runs = {cached: partial(model.generate, prompt, new, use_cache=cached) for cached in (True, False)}
        t, ids = best_of(runs, repeats)
        same = torch.equal(ids[True], ids[False])
        print(f"| {new} | {t[True]:.0f} | {t[False]:.0f} | {t[False] / t[True]:.1f}x | {same} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # One thread by default: on a shared few-core machine a second OpenMP thread spins waiting for a descheduled
    # peer, and the figures then measure the neighbours' load rather than this code.
    parser.add_argument("--threads", type=int, default=1)
    torch.set_num_threads(parser.parse_args().threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {platform.machine()}, {torch.get_num_threads()} threads")
    print("\nMultiHeadAttention forward, self-attention, eval + inference_mode, need_weights=False\n")
    bench_mha()
    cfg = LM_CONFIG
    print(
        f"\nCausalLM greedy generation, d={cfg.d_model}, {cfg.num_layers} layers, {cfg.n_heads} heads, "
        f"vocab {cfg.vocab_size}, batch 1, prompt {PROMPT_LEN}\n"
    )
    bench_generation()


if __name__ == "__main__":
    main()
