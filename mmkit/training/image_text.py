"""Recipes that reproduce the shipped TinyClips from scratch on rendered emoji, then score them; and what
every emoji-model recipe shares (the training pass, the evaluation seeds, the card's metrics block).

``python -m mmkit.training.recipes tiny-clip`` calls :func:`train_tiny_clip`; ``tiny-clip-e5`` calls
:func:`train_tiny_clip_e5` (the same recipe, aligned to multilingual-e5-small with English and Chinese
captions). The TinyCaptioner recipe is in :mod:`mmkit.training.captioner`. Both train with
:func:`mmkit.training.train` for a fixed number of steps (a step budget, unlike a time budget, gives the same
weights on a fast or a slow machine), evaluate on glyphs the model saw under new augmentations and on glyphs
it never saw, and write the weights, ``metrics.json`` and the metrics table of the model card (between ``<!--
metrics -->`` markers in ``README.md``) into ``out_dir``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from mmkit.datasets.emoji import EmojiImageText
from mmkit.metrics import recall_at_k
from mmkit.models.clip import TinyClip, TinyClipConfig
from mmkit.models.gguf_cache import cache_root
from mmkit.models.registry import weights_dir
from mmkit.training.loop import TrainConfig, train

CLIP_DIR = weights_dir("tiny-clip")
CLIP_E5_DIR = weights_dir("tiny-clip-e5")
EVAL_SEED = 10_000  # evaluation images use seeds training never uses (training: seed 0)
# augmentation strength of training and of the "new augmentations" evaluation (see EmojiImageText)
AUGMENT = 0.5
_MARKERS = re.compile(r"<!-- metrics -->.*<!-- /metrics -->", re.S)


# --- TinyClip ---------------------------------------------------------------------------------------------


def train_one_pass(model, data, collate, batch_size: int, lr: float, seed: int) -> None:
    """One epoch over ``data`` (a step budget: ``len(data) / batch_size`` steps) with the recipe both emoji
    models share: AdamW with weight decay 0.05, 5 % warm-up, bfloat16 autocast, ``model.loss(**batch)``."""
    recipe = TrainConfig(
        epochs=1,
        lr=lr,
        batch_size=batch_size,
        weight_decay=0.05,
        warmup_ratio=0.05,
        seed=seed,
        # autocast: these convolutions ran ~2x faster than float32 on an AVX512-BF16 CPU
        mixed_precision="bf16",
    )
    # One worker draws the next batch while the model trains on this one; the seeded sampler of
    # mmkit.training.train still decides the order.
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, collate_fn=collate, num_workers=1)
    train(model, loader, config=recipe, loss_fn=lambda m, b: m.loss(**b))


def caption_vectors(model: TinyClip, captions: list[str]) -> torch.Tensor:
    """(N, 384) frozen text vectors of ``captions`` from ``model``'s text encoder, cached on disk.

    LiT freezes the text tower, so a caption's vector never changes: it is computed once and kept as
    ``<cache_root()>/clip-captions/<text model>-<hash of the captions>.safetensors`` (written atomically); a
    damaged or mis-shaped file is recomputed.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save_file

    key = hashlib.sha1("\n".join([model.config.text_model, *captions]).encode()).hexdigest()[:16]
    path = cache_root() / "clip-captions" / f"{model.config.text_model}-{key}.safetensors"
    if path.is_file():
        try:
            vectors = load_file(str(path)).get("vectors")
        except (SafetensorError, OSError):
            vectors = None
        if vectors is not None and vectors.shape == (len(captions), model.config.embed_dim):
            return vectors
    vectors = model.text_encoder.embed(captions, progress=True).contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    save_file({"vectors": vectors}, str(tmp))
    tmp.replace(path)  # atomic: a concurrent reader never sees half a file
    return vectors


def train_tiny_clip(
    out_dir: str | Path = CLIP_DIR,
    steps: int = 12000,
    batch_size: int = 64,
    lr: float = 2e-3,
    strength: float = AUGMENT,
    composite_prob: float = 0.1,
    composites: int = 4000,
    seed: int = 0,
    config: TinyClipConfig | None = None,
) -> dict:
    """Train the image tower against frozen caption embeddings (computed once), evaluate, save.

    config.text_model is the text tower (default MiniLM); every image is paired with its caption in each of
    config.languages, one InfoNCE term per language. Returns the metrics of :func:`evaluate_clip` plus
    ``train_minutes`` and ``train_images``.
    """
    started = time.perf_counter()
    torch.manual_seed(seed)
    model = TinyClip(config or TinyClipConfig())
    data = EmojiImageText(
        "seen",
        size=model.config.image_size,
        length=steps * batch_size,
        composite_prob=composite_prob,
        seed=seed,
        skin_tones=model.config.skin_tones,
        strength=strength,
        composites=composites,
    )
    # LiT: the text tower is frozen, so every caption is embedded once, before training.
    langs = model.config.languages
    captions = sorted({c for lang in langs for c in data.captions(lang)})
    text_emb = caption_vectors(model, captions)
    row = {caption: i for i, caption in enumerate(captions)}

    def collate(samples):
        rows = [[row[getattr(s, lang)] for lang in langs] for s in samples]
        emb = text_emb[torch.tensor(rows)]  # (B, L, 384): one caption per language
        return {
            "pixel_values": model.preprocess([s.image for s in samples]),
            "text_emb": emb[:, 0] if len(langs) == 1 else emb,
        }

    train_one_pass(model, data, collate, batch_size, lr, seed)
    minutes = (time.perf_counter() - started) / 60
    metrics = {
        **evaluate_clip(model, strength=strength),
        "train_minutes": round(minutes, 1),
        "train_images": steps * batch_size,
        "recipe": {
            "steps": steps,
            "batch_size": batch_size,
            "lr": lr,
            "strength": strength,
            "composite_prob": composite_prob,
            "composites": composites,
            "seed": seed,
        },
    }
    model.save_pretrained(out_dir)
    write_metrics(out_dir, metrics, clip_table(metrics, langs))
    return metrics


def train_tiny_clip_e5(out_dir: str | Path = CLIP_E5_DIR, steps: int = 6000, **recipe) -> dict:
    """:func:`train_tiny_clip` into multilingual-e5-small's space, on English and Chinese captions."""
    config = TinyClipConfig(text_model="multilingual-e5-small", languages=("en", "zh"))
    return train_tiny_clip(out_dir, steps=steps, config=config, **recipe)


def _recall(text_emb: torch.Tensor, image_emb: torch.Tensor, targets=None) -> dict[str, float]:
    sim = (text_emb @ image_emb.T).numpy()
    return {f"R@{k}": round(recall_at_k(sim, k, targets), 3) for k in (1, 5, 10)}


def evaluate_clip(
    model: TinyClip, strength: float = AUGMENT, n_seen: int = 1000, views: int = 3, langs=None
) -> dict:
    """Text -> image recall@1/5/10: each caption queries a gallery that holds its image(s) among others.

    langs: the query languages (default: those the model was trained on). English results are under each set's
    name ("seen"), other languages under "<set>_<lang>" ("seen_zh"); the galleries are the same images.

    - seen / seen_full / seen_clean: ``n_seen`` seen glyphs, one image each, drawn with new augmentations of
      the training ``strength``, of full strength (1.0), or clean;
    - held_out: every held-out glyph in ``views`` augmented images (any of them counts as a hit);
    - composites: ``n_seen // 2`` images of 2-3 seen glyphs, queried by their composite captions.
    """
    size, skin = model.config.image_size, model.config.skin_tones
    langs = tuple(langs or model.config.languages)
    out, gallery, queries = {}, {}, {}

    def score(name, named, images, targets=None):  # named: samples or glyphs, whose .en / .zh are the queries
        image_emb = model.encode_images(images)
        for lang in langs:
            texts = tuple(getattr(x, lang) for x in named)
            if texts not in queries:  # the three seen sets ask the same questions of different images
                queries[texts] = model.encode_texts(list(texts))
            out[name if lang == "en" else f"{name}_{lang}"] = _recall(queries[texts], image_emb, targets)
        gallery[name] = len(images)

    for name, s in (("seen", strength), ("seen_full", 1.0), ("seen_clean", 0.0)):
        data = EmojiImageText("seen", size=size, seed=EVAL_SEED, skin_tones=skin, strength=s)
        samples = [data[i] for i in range(min(n_seen, len(data)))]
        score(name, samples, [x.image for x in samples])

    held = EmojiImageText("held_out", size=size, seed=EVAL_SEED + 1, skin_tones=skin, strength=strength)
    n = len(held)
    held.length = views * n  # sample i shows glyph ids[i % n]: the views of query q are q, q + n, q + 2n
    images = [held[i].image for i in range(views * n)]
    score(
        "held_out",
        [held.glyphs[g] for g in held.ids],
        images,
        [list(range(q, views * n, n)) for q in range(n)],
    )

    comp = EmojiImageText(
        "seen",
        size=size,
        seed=EVAL_SEED + 2,
        skin_tones=skin,
        length=n_seen // 2,
        composite_prob=1.0,
        strength=strength,
    )
    pairs = [comp[i] for i in range(len(comp))]
    score("composites", pairs, [x.image for x in pairs])
    return {**out, "gallery": gallery}


LANGUAGE_NAMES = {"en": "English", "zh": "Chinese"}
CLIP_ROWS = {
    "seen": "seen glyphs, new augmentations (training strength)",
    "seen_full": "seen glyphs, full-strength augmentations",
    "seen_clean": "seen glyphs, clean",
    "held_out": "held-out glyphs (never trained on), 3 images each",
    "composites": "composites of 2-3 seen glyphs",
}


def clip_table(m: dict, langs=("en",)) -> str:
    """The card's table: one row per evaluation set, or per set and query language when ``langs`` has
    several."""
    lines = ["| text -> image | gallery | R@1 | R@5 | R@10 |", "|---|---|---|---|---|"]
    if len(langs) > 1:
        lines = ["| text -> image | query | gallery | R@1 | R@5 | R@10 |", "|---|---|---|---|---|---|"]
    for key, label in CLIP_ROWS.items():
        for lang in langs:
            r = m[key if lang == "en" else f"{key}_{lang}"]
            cells = [label, *([LANGUAGE_NAMES[lang]] if len(langs) > 1 else []), str(m["gallery"][key])]
            lines.append(f"| {' | '.join(cells)} | {r['R@1']:.3f} | {r['R@5']:.3f} | {r['R@10']:.3f} |")
    return "\n".join(lines)


# --- the card ---------------------------------------------------------------------------------------------


def write_metrics(out_dir: str | Path, metrics: dict, table: str) -> None:
    """metrics.json, and the table between the ``<!-- metrics -->`` markers of README.md (created if
    absent)."""
    out_dir = Path(out_dir)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    block = (
        f"<!-- metrics -->\n{table}\n\nTraining: {metrics['train_images']:,} images in "
        f"{metrics['train_minutes']} min on the machine that ran it.\n<!-- /metrics -->"
    )
    card = out_dir / "README.md"
    text = (
        card.read_text()
        if card.is_file()
        else f"# {out_dir.name}\n\n## Metrics\n\n<!-- metrics --><!-- /metrics -->\n"
    )
    card.write_text(_MARKERS.sub(lambda _: block, text))
