"""Which fusion wins when the label needs both modalities? Unimodal baselines vs five fusions on one dataset.

Data: :class:`mmkit.datasets.shapes.ShapesColorsDataset` (``--task paint`` by default: the image shows a shape, the text asks
for a colour, the label is the shape in that colour, 16 classes; the best an image-only or a text-only model can do
is 25%). Every model is a :class:`mmkit.fusion.MultimodalClassifier` with freshly initialised small encoders
(SmallCNNEncoder, TextTransformerEncoder with the MiniLM WordPiece tokenizer) trained from scratch with the same
seed, data, optimiser (AdamW, linear warm-up then cosine decay) and number of epochs. The unimodal baselines use
the same head as EarlyFusion on a single modality. Prints a Markdown table: test accuracy, parameters, training time.

    .venv/bin/python bench/fusion.py            # the full run in bench/RESULTS.md (~1 minute per model on 2 cores)
    .venv/bin/python bench/fusion.py --quick    # a ~1-minute smoke run of every model
    .venv/bin/python bench/fusion.py --task match   # the XOR-like task: late fusion cannot express it
"""

import argparse
import math
import platform
import time

import torch
from torch import nn

from mmkit.datasets.shapes import ShapesColorsDataset, make_collate
from mmkit.encoders import SmallCNNEncoder, TextTransformerEncoder
from mmkit.fusion import (
    CrossAttentionFusion,
    EarlyFusion,
    GatedFusion,
    LateFusion,
    MultimodalClassifier,
    TokenFusion,
)

# name -> (modalities used, fusion factory taking dims and num_classes)
MODELS = {
    "image only": (("image",), lambda dims, c: EarlyFusion(dims, c, hidden=128)),
    "text only": (("text",), lambda dims, c: EarlyFusion(dims, c, hidden=128)),
    "EarlyFusion (concat)": (("image", "text"), lambda dims, c: EarlyFusion(dims, c, hidden=128)),
    "LateFusion": (("image", "text"), lambda dims, c: LateFusion(dims, c, hidden=128)),
    "CrossAttentionFusion": (("image", "text"),
                             lambda dims, c: CrossAttentionFusion(dims, c, d_model=64, n_heads=4, query="text")),
    "GatedFusion": (("image", "text"), lambda dims, c: GatedFusion(dims, c, d_model=128)),
    "TokenFusion": (("image", "text"), lambda dims, c: TokenFusion(dims, c, d_model=64, n_heads=4, num_layers=2)),
}


def make_encoders(modalities, args):
    encoders = {"image": lambda: SmallCNNEncoder(dim=args.dim, image_size=args.image_size),
                "text": lambda: TextTransformerEncoder(dim=args.dim, n_heads=4, num_layers=1, max_len=16)}
    return {m: encoders[m]() for m in modalities}


def tensorise(dataset, encoders):
    """Preprocess the whole split once: (inputs {modality: {name: (n, ...)}}, labels (n,))."""
    return make_collate(encoders)([dataset[i] for i in range(len(dataset))])


def take(inputs, index):
    return {m: {k: v[index] for k, v in tensors.items()} for m, tensors in inputs.items()}


@torch.no_grad()
def accuracy(model, inputs, labels, batch_size=512):
    model.eval()
    hits = sum((model(take(inputs, slice(i, i + batch_size))).argmax(-1) == labels[i:i + batch_size]).sum().item()
               for i in range(0, len(labels), batch_size))
    return hits / len(labels)


def train(model, inputs, labels, args):
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    steps = args.epochs * math.ceil(len(labels) / args.batch_size)
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0)))))
    g = torch.Generator().manual_seed(args.seed)
    model.train()
    for _ in range(args.epochs):
        for index in torch.randperm(len(labels), generator=g).split(args.batch_size):
            loss = nn.functional.cross_entropy(model(take(inputs, index)), labels[index])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, few epochs: a ~1-minute smoke run")
    parser.add_argument("--task", default="paint", choices=["paint", "match"])
    parser.add_argument("--train", type=int, default=None, help="training examples (default 3840, quick 768)")
    parser.add_argument("--test", type=int, default=None, help="test examples (default 1536, quick 384)")
    parser.add_argument("--epochs", type=int, default=None, help="default 12, quick 3")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--dim", type=int, default=64, help="encoder width")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 because on a shared 2-core machine more threads oversubscribe the "
                             "cores and run many times slower")
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS), metavar="MODEL")
    args = parser.parse_args()
    args.train = args.train or (768 if args.quick else 3840)
    args.test = args.test or (384 if args.quick else 1536)
    args.epochs = args.epochs or (3 if args.quick else 12)
    torch.set_num_threads(args.threads)

    train_set = ShapesColorsDataset(args.train, args.image_size, seed=args.seed, task=args.task)
    test_set = ShapesColorsDataset(args.test, args.image_size, seed=args.seed + 1, task=args.task)
    # Preprocessing has no parameters, so one set of encoders serves every model's data.
    data_encoders = make_encoders(("image", "text"), args)
    train_data, test_data = tensorise(train_set, data_encoders), tensorise(test_set, data_encoders)
    # The best a model that sees one modality can do: guess among the labels that modality leaves open.
    ceiling = "25%" if args.task == "paint" else "50%"
    print(f"task={args.task} classes={train_set.num_classes} train={args.train} test={args.test} "
          f"epochs={args.epochs} dim={args.dim} torch threads={torch.get_num_threads()} {platform.machine()} "
          f"chance={1 / train_set.num_classes:.1%} best possible with one modality={ceiling}\n")
    print("| model | test accuracy | parameters | training wall time (s) | training CPU time (s) |")
    print("|---|---:|---:|---:|---:|")
    for name in args.models:
        modalities, make_fusion = MODELS[name]
        torch.manual_seed(args.seed)
        encoders = make_encoders(modalities, args)
        fusion = make_fusion({m: e.dim for m, e in encoders.items()}, train_set.num_classes)
        model = MultimodalClassifier(encoders, fusion)
        inputs = {m: train_data[0][m] for m in modalities}
        start, cpu_start = time.perf_counter(), time.process_time()
        train(model, inputs, train_data[1], args)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        acc = accuracy(model, {m: test_data[0][m] for m in modalities}, test_data[1])
        n_params = sum(p.numel() for p in model.parameters())
        print(f"| {name} | {acc:.1%} | {n_params:,} | {seconds:.0f} | {cpu_seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
