"""The photo model on real photos: ImageNet top-1/top-5, text -> image recall in a gallery mixed with emoji art, speed.

    .venv/bin/python bench/photos.py [--threads 2]

Photos: only those that ship inside installed packages (gradio, scikit-learn, matplotlib). Their labels below were
written by hand, from looking at each photo, before anything was run on them; the caption thresholds of
``mmkit.models.photo_caption`` were fixed before this bench ran and are not tuned on these photos. A photo whose
subject has no ImageNet class (the Eiffel Tower, a film character) is in the gallery but not in top-k accuracy.

Held-out queries: data/photo_queries/heldout.jsonl (4 English + 4 Chinese per package photo, written by a helper
from the photos alone before this bench read them; scored once, tune nothing on them).
Gallery: the 9 photos + the 26 emoji examples of data/examples/images. Queries: one English sentence per photo
subject (hits: every photo of that subject) and one per emoji example (from its file name), run through the
photo model: ConSE over MiniLM, and over multilingual-e5-small with the class names on the image side in
English, Chinese or both (both is the default; with the same queries in Chinese too; the Chinese emoji queries
are the emoji package's own Chinese names of the glyphs), and tiny-clip / tiny-clip-e5 (the emoji models) as the reference.
Captions: English and Chinese for every photo of the gallery.
Speed: ms per image for EfficientNet-Lite0 (preprocess + forward, batches of 8) against tiny-clip's image tower in
the same run, minimum over 5 repeats (the machine is shared).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import time
from pathlib import Path

import torch

import mmkit
from mmkit.inputs import load_image
from mmkit.models import is_ready, load
from mmkit.models.photo_caption import describe_batch

ROOT = Path(__file__).resolve().parents[1]
EMOJI = ROOT / "data" / "examples" / "images"
HELDOUT = ROOT / "data" / "photo_queries" / "heldout.jsonl"


def package_file(package: str, *parts: str) -> Path:
    return Path(importlib.util.find_spec(package).origin).parent.joinpath(*parts)


# name: (path, ImageNet classes that count as right or None when the subject has no ImageNet class, subject)
PHOTOS = {
    "cheetah": (package_file("gradio", "media_assets/images/cheetah.jpg"), {"cheetah"}, "cheetah"),
    "cheetah1": (package_file("gradio", "media_assets/images/cheetah1.jpg"), {"cheetah"}, "cheetah"),
    "cheetah2": (package_file("gradio", "test_data/cheetah2.jpg"), {"cheetah"}, "cheetah"),
    "lion": (package_file("gradio", "media_assets/images/lion.jpg"), {"lion"}, "lion"),
    "china": (package_file("sklearn", "datasets/images/china.jpg"), {"palace", "monastery", "stupa"}, "palace"),
    "flower": (package_file("sklearn", "datasets/images/flower.jpg"), {"daisy"}, "flower"),
    "grace_hopper": (package_file("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
                     {"military uniform", "suit", "bow tie", "Windsor tie"}, "officer"),
    "tower": (package_file("gradio", "media_assets/images/tower.jpg"), None, "tower"),
    "groot": (package_file("gradio", "media_assets/images/groot.jpeg"), None, "groot"),
}
QUERIES = {
    "cheetah": "a cheetah", "lion": "a lion", "palace": "a Chinese palace", "flower": "a flower",
    "officer": "a woman in a navy uniform", "tower": "a tower",
}
# The same queries in Chinese, written with the English ones' meaning before any Chinese query was run.
QUERIES_ZH = {
    "cheetah": "一只猎豹", "lion": "一头狮子", "palace": "中国的宫殿", "flower": "一朵花",
    "officer": "穿海军制服的女人", "tower": "一座塔",
}


def classify(model) -> tuple[int, int, int, list[str]]:
    labelled = {k: v for k, v in PHOTOS.items() if v[1] is not None}
    probs = model.probabilities([load_image(path) for path, _, _ in labelled.values()])
    top1 = top5 = 0
    lines = []
    for (name, (_, classes, _)), row in zip(labelled.items(), model.top(probs, k=5)):
        labels = [r["label"] for r in row]
        top1 += labels[0] in classes
        top5 += bool(classes & set(labels))
        lines.append(f"| {name} | {' / '.join(sorted(classes))} | {labels[0]} ({row[0]['score']:.2f}) | "
                     f"{'yes' if classes & set(labels) else 'no'} |")
    return top1, top5, len(labelled), lines


def recall(retriever, queries: dict[str, set[str]]) -> tuple[float, float]:
    """queries: text -> ids that count as hits. Returns (recall@1, recall@5) as fractions of the queries."""
    r1 = r5 = 0
    for text, hits in queries.items():
        found = [h["id"] for h in retriever.search(text, k=5)]
        r1 += found[0] in hits
        r5 += bool(hits & set(found))
    return r1 / len(queries), r5 / len(queries)


def gallery(model_name: str | None, text_encoder=None, names: str | None = None):
    retriever = mmkit.pipeline("cross-modal-retrieval", model=model_name, device="cpu", text_encoder=text_encoder,
                               class_names=names)
    retriever.add([path for path, _, _ in PHOTOS.values()], ids=list(PHOTOS))
    retriever.add(EMOJI)
    return retriever


def captions(model) -> list[str]:
    probs = model.probabilities([load_image(path) for path, _, _ in PHOTOS.values()])
    pairs = zip(PHOTOS, describe_batch(probs, "en"), describe_batch(probs, "zh"))
    return [f"| {name} | {en} | {zh} |" for name, en, zh in pairs]


def chinese_emoji_queries(emoji_names: list[str]) -> dict[str, set[str]]:
    """The emoji package's Chinese name of each example glyph ("红苹果") -> {file stem}."""
    from mmkit.datasets.emoji import load_glyphs

    zh = {glyph.en: glyph.zh for glyph in load_glyphs()}
    return {zh[name.replace("_", " ")]: {name} for name in emoji_names}


# the subject (PHOTOS' third field) of each photo the held-out queries name
HELDOUT_SUBJECT = {"cheetah": "cheetah", "lion": "lion", "tower": "tower", "china": "palace", "flower": "flower",
                   "grace_hopper": "officer"}


def heldout(galleries: dict, models: list) -> None:
    """Recall on the held-out queries (data/photo_queries, written by a helper from the photos alone, before this
    bench read them), per model, and per photo for the default model. A query's hits are every gallery photo of
    its subject (any of the three cheetah photos for a cheetah)."""
    rows = [json.loads(line) for line in HELDOUT.read_text(encoding="utf-8").splitlines() if line.strip()]
    hits = {r["query"]: {k for k, v in PHOTOS.items() if v[2] == HELDOUT_SUBJECT[r["photo"]]} for r in rows}
    queries = {lang: {r["query"]: hits[r["query"]] for r in rows if r["lang"] == lang} for lang in ("en", "zh")}
    print(f"\nHeld-out queries (data/photo_queries/heldout.jsonl: {len(queries['en'])} English, "
          f"{len(queries['zh'])} Chinese), same galleries:\n")
    print("| model | English R@1 | R@5 | Chinese R@1 | R@5 |\n|---|---|---|---|---|")
    for _, _, _, label, reads_chinese in models:
        cells = ["{:.2f} | {:.2f}".format(*recall(galleries[label], queries[lang])) if lang == "en" or reads_chinese
                 else "- | -" for lang in ("en", "zh")]
        print(f"| {label} | {' | '.join(cells)} |")
    default = next(label for label in galleries if "the default" in label)
    print(f"\nPer photo, {default}: queries (of 4) whose first hit / top 5 holds the photo\n")
    print("| photo | English @1 | English @5 | Chinese @1 | Chinese @5 |\n|---|---|---|---|---|")
    for photo in dict.fromkeys(r["photo"] for r in rows):
        cells = []
        for lang in ("en", "zh"):
            mine = {r["query"]: hits[r["query"]] for r in rows if r["photo"] == photo and r["lang"] == lang}
            found = [[h["id"] for h in galleries[default].search(text, k=5)] for text in mine]
            cells += [str(sum(f[0] in hits for f, hits in zip(found, mine.values()))),
                      str(sum(bool(hits & set(f)) for f, hits in zip(found, mine.values())))]
        print(f"| {photo} | {' | '.join(cells)} |")


def ms_per_image(encode, images, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(images), 8):
            encode(images[i : i + 8])
        best = min(best, time.perf_counter() - start)
    return 1000 * best / len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load("efficientnet-lite0-photo")
    top1, top5, n, lines = classify(model)
    print(f"## Photos (bench/photos.py)\n\n{platform.machine()}, {args.threads} threads, torch {torch.__version__}\n")
    print(f"ImageNet classes, {n} hand-labelled photos from installed packages: top-1 {top1}/{n}, top-5 {top5}/{n}\n")
    print("| photo | accepted classes | top-1 (p) | in top-5 |\n|---|---|---|---|\n" + "\n".join(lines) + "\n")

    print("Captions (English, Chinese) of every gallery photo:\n\n| photo | caption | 中文 |\n|---|---|---|\n"
          + "\n".join(captions(model)) + "\n")

    photo_queries = {text: {k for k, v in PHOTOS.items() if v[2] == subject} for subject, text in QUERIES.items()}
    emoji_names = sorted(p.stem for p in EMOJI.glob("*.png") if not p.stem.startswith("composite"))
    emoji_queries = {f"a {name.replace('_', ' ')}": {name} for name in emoji_names}
    zh_queries = {text: {k for k, v in PHOTOS.items() if v[2] == subject} for subject, text in QUERIES_ZH.items()}
    zh_emoji_queries = chinese_emoji_queries(emoji_names)
    # (model, text encoder of ConSE, class-name languages of ConSE, label, reads Chinese)
    models = [(None, "minilm", "en", "efficientnet-lite0-photo + ConSE (MiniLM, English names)", False)]
    if is_ready("multilingual-e5-small"):
        for names in ("en", "zh", "en+zh"):
            default = ", the default" if names == "en+zh" else ""
            models.append((None, "multilingual-e5-small", names, "efficientnet-lite0-photo + ConSE "
                           f"(multilingual-e5-small, {names} names{default})", True))
    for name, reads_chinese in (("tiny-clip", False), ("tiny-clip-e5", True)):
        if is_ready(name):
            models.append((name, None, None, f"{name} (emoji model, reference)", reads_chinese))
    print(f"Text -> image, gallery of {len(PHOTOS)} photos + {len(list(EMOJI.glob('*.png')))} emoji images; "
          "Chinese queries only where the text encoder reads Chinese\n")
    print("| model | photo queries R@1 | R@5 | Chinese photo queries R@1 | R@5 | emoji queries R@1 | R@5 | "
          "Chinese emoji queries R@1 | R@5 |\n|---|---|---|---|---|---|---|---|---|")
    galleries = {}
    for name, text_encoder, names, label, reads_chinese in models:
        retriever = galleries[label] = gallery(name, text_encoder, names)
        cells = []
        for queries, in_chinese in ((photo_queries, False), (zh_queries, True), (emoji_queries, False),
                                    (zh_emoji_queries, True)):
            if in_chinese and not reads_chinese:
                cells.append("- | -")
                continue
            r1, r5 = recall(retriever, queries)
            cells.append(f"{r1:.2f} ({len(queries)}) | {r5:.2f}")
        print(f"| {label} | {' | '.join(cells)} |")
    heldout(galleries, models)

    images = [load_image(path) for path, _, _ in PHOTOS.values()] * 2
    print(f"\nSpeed, {len(images)} images in batches of 8, {args.threads} threads, minimum of 5 runs:\n")
    print(f"- EfficientNet-Lite0 (224x224): {ms_per_image(model.probabilities, images):.1f} ms per image")
    if is_ready("tiny-clip"):
        clip = load("tiny-clip")
        print(f"- tiny-clip image tower (32x32), reference: {ms_per_image(clip.encode_images, images):.1f} ms per image")


if __name__ == "__main__":
    main()
