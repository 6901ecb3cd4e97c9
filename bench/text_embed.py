"""How fast does HFTextEncoder.embed turn many sentences into MiniLM vectors, and what does length sorting buy?

Embeds N generated sentences (3 to 60 words, uniformly, so lengths vary as in a real corpus) with the embedded
all-MiniLM-L6-v2 twice: ``embed()`` (tokenize once, sort by length, batch, unsort) and the same batches taken in
the given order (``encode()`` per chunk, each padded to its longest sentence). Prints sentences per second, the
padding share of each, and the largest difference between the two results.

    .venv/bin/python bench/text_embed.py            # N = 2000, batch 64
    .venv/bin/python bench/text_embed.py --n 500    # quicker
"""

import argparse
import os
import platform
import random
import time

import torch

from mmkit.encoders import HFTextEncoder


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words = (
        "the a man woman dog cat city river eats runs sees quickly slowly under over bread horse red".split()
    )
    return [" ".join(rng.choices(words, k=rng.randint(3, 60))) + "." for _ in range(n)]


def padding_share(lengths: list[int], batch_size: int) -> float:
    padded = sum(
        max(lengths[i : i + batch_size]) * len(lengths[i : i + batch_size])
        for i in range(0, len(lengths), batch_size)
    )
    return 1 - sum(lengths) / padded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    texts = sentences(args.n)
    encoder = HFTextEncoder()
    encoder.embed(texts[:64])  # warm-up: first calls pay for kernel selection

    start = time.perf_counter()
    fast = encoder.embed(texts, args.batch_size)
    sorted_s = time.perf_counter() - start

    start = time.perf_counter()
    with torch.inference_mode():
        chunks = [
            encoder.encode(texts[i : i + args.batch_size]).pooled
            for i in range(0, len(texts), args.batch_size)
        ]
    naive = torch.cat(chunks)
    naive_s = time.perf_counter() - start

    lengths = [len(ids) for ids in encoder.tokenizer(texts)["input_ids"]]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{args.n} sentences, {sum(lengths) / len(lengths):.1f} tokens on average, batch {args.batch_size}")
    print("| batching | sentences/s | padding share |")
    print("|---|---|---|")
    print(
        f"| embed(): sorted by length | {args.n / sorted_s:.0f} | "
        f"{padding_share(sorted(lengths, reverse=True), args.batch_size):.1%} |"
    )
    print(f"| in the given order | {args.n / naive_s:.0f} | {padding_share(lengths, args.batch_size):.1%} |")
    print(f"max |difference| between the two: {float((fast - naive).abs().max()):.1e}")


if __name__ == "__main__":
    main()
