"""Which of MiniLM's Linear layers lose the most accuracy in NF4, measured on a dev set, never on the test set.

    .venv/bin/python bench/quant_sensitivity.py              # 4-bit options, then every layer alone in NF4
    .venv/bin/python bench/quant_sensitivity.py --dev 480

The embedded all-MiniLM-L6-v2 as the zero-shot topic classifier of bench/quant.py ("This text is about {label}."),
on ``--dev`` English sentences drawn (seed 0) from data/topics/train.jsonl. The zero-shot classifier never trains, so
train.jsonl is unseen data for it, and its templates are not those of test.jsonl, on which bench/quant.py reports.

Part 1 quantizes the whole encoder with each 4-bit option (nf4, fp4, double quant, bfloat16 compute). Part 2
quantizes one layer at a time in NF4, everything else fp32, and ranks the layers by the mean cosine distance of the
sentence embeddings from fp32's (a smooth score: a few hundred labels flip too rarely to rank 36 layers). Part 3
keeps the top-k layers of that ranking in 8-bit (``quantize(..., keep_8bit=...)``) and reports dev accuracy and the
weight ratio of the quantized layers against fp16.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmkit.encoders import HFTextEncoder  # noqa: E402 (after the path is set, for a plain checkout)
from mmkit.pipelines.text_classification import label_sentence  # noqa: E402
from mmkit.quant import quantize, quantized_weight_bytes  # noqa: E402

TRAIN = ROOT / "data" / "topics" / "train.jsonl"


def dev_rows(n: int) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in TRAIN.read_text().splitlines() if line.strip()]
    english = [(r["text"], r["label"]) for r in rows if r["lang"] == "en"]
    return random.Random(0).sample(english, n)


class Scorer:
    """Embeds the dev sentences and label sentences with a (quantized) copy of the encoder; compares with fp32."""

    def __init__(self, encoder: HFTextEncoder, rows: list[tuple[str, str]]) -> None:
        self.rows = rows
        self.labels = sorted({label for _, label in rows})
        self.texts = [text for text, _ in rows]
        self.reference, self.ref_pred = self._embed(encoder)

    def _embed(self, encoder):
        labels = encoder.embed([label_sentence(label) for label in self.labels])
        vectors = encoder.embed(self.texts, batch_size=32)
        return vectors, (vectors @ labels.T).argmax(1)

    def score(self, encoder) -> dict:
        vectors, pred = self._embed(encoder)
        gold = torch.tensor([self.labels.index(y) for _, y in self.rows])
        return {
            "accuracy": float((pred == gold).float().mean()),
            "flips": int((pred != self.ref_pred).sum()),
            "cos_dist": float(1 - torch.nn.functional.cosine_similarity(vectors, self.reference).mean()),
        }


def linear_names(model) -> list[str]:
    # the pooler is computed but never used by mean pooling: its error cannot reach the embedding
    return [n for n, m in model.named_modules() if type(m) is torch.nn.Linear and not n.startswith("pooler")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", type=int, default=600, help="English train sentences to score on")
    parser.add_argument("--top", default="1,2,3,4,6", help="k values for part 3")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    base = HFTextEncoder().eval()
    rows = dev_rows(args.dev)
    scorer = Scorer(base, rows)
    fp32 = scorer.score(base)
    print(f"dev: {len(rows)} English sentences of train.jsonl (seed 0); fp32 accuracy {fp32['accuracy']:.4f}")

    def run(**options) -> dict:
        encoder = copy.deepcopy(base)
        quantize(encoder.model, **options)
        result = scorer.score(encoder)
        result["ratio"] = quantized_weight_bytes(encoder.model)["ratio"]
        return result

    print("\n| 4-bit option | dev accuracy | flips vs fp32 | mean cos distance | Linear vs fp16 |\n|---|---|---|---|---|")
    for name, options in [
        ("nf4", {}), ("nf4 + double quant", {"double_quant": True}), ("fp4", {"quant_type": "fp4"}),
        ("nf4, bf16 compute", {"compute_dtype": torch.bfloat16}), ("int8 (for reference)", {"bits": 8}),
    ]:
        r = run(**{"bits": 4, **options})
        print(f"| {name} | {r['accuracy']:.4f} | {r['flips']} | {r['cos_dist']:.5f} | {r['ratio']:.3f} |", flush=True)

    names = linear_names(base.model)
    single = {}
    for name in names:
        encoder = copy.deepcopy(base)
        parent, _, attr = name.rpartition(".")
        quantize(encoder.model.get_submodule(parent), bits=4, skip=tuple(a for a, _ in
                 encoder.model.get_submodule(parent).named_children() if a != attr))
        single[name] = scorer.score(encoder)
    ranking = sorted(names, key=lambda n: -single[n]["cos_dist"])
    print("\n| layer alone in nf4 | mean cos distance | flips vs fp32 |\n|---|---|---|")
    for name in ranking:
        print(f"| {name} | {single[name]['cos_dist']:.5f} | {single[name]['flips']} |")

    print("\n| nf4, top-k layers in int8 | dev accuracy | flips vs fp32 | mean cos distance | Linear vs fp16 |"
          "\n|---|---|---|---|---|")
    for k in [int(k) for k in args.top.split(",")]:
        kept = tuple(ranking[:k])
        r = run(bits=4, keep_8bit=kept)
        print(f"| k={k}: {', '.join(kept)} | {r['accuracy']:.4f} | {r['flips']} | {r['cos_dist']:.5f} "
              f"| {r['ratio']:.3f} |", flush=True)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
