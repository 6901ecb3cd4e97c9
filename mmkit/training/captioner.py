"""The recipe that reproduces the shipped TinyCaptioner from scratch on rendered emoji, then scores it.

``python -m mmkit.training.recipes tiny-captioner`` calls :func:`train_tiny_captioner`: it starts from the
trained tiny-clip's image tower (:mod:`mmkit.training.image_text`), trains for a fixed number of steps with
the emoji models' shared recipe, scores greedy captions on seen, held-out and composite glyphs, and writes the
weights, ``metrics.json`` and the card's metrics table into ``out_dir``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from mmkit.datasets.emoji import EmojiImageText, composite_caption, load_glyphs
from mmkit.metrics import exact_match, token_f1
from mmkit.models.captioner import CaptionTokenizer, TinyCaptioner, TinyCaptionerConfig
from mmkit.models.clip import TinyClip
from mmkit.models.registry import weights_dir
from mmkit.training.image_text import AUGMENT, CLIP_DIR, EVAL_SEED, train_one_pass, write_metrics

CAPTIONER_DIR = weights_dir("tiny-captioner")


def build_tokenizer(skin_tones: bool = False) -> CaptionTokenizer:
    """Vocabulary of every glyph name (held-out ones too, so their captions can at least be written) and of
    the composite templates."""
    glyphs = load_glyphs(skin_tones)
    templates = [
        composite_caption(names, lang) for names in (["x", "y"], ["x", "y", "z"]) for lang in ("en", "zh")
    ]
    en = [g.en for g in glyphs] + templates[0::2] + ["an x"]
    zh = [g.zh for g in glyphs] + templates[1::2]
    return CaptionTokenizer.build(en, zh)


def train_tiny_captioner(
    out_dir: str | Path = CAPTIONER_DIR,
    steps: int = 3000,
    batch_size: int = 32,
    lr: float = 2e-3,
    strength: float = AUGMENT,
    composite_prob: float = 0.15,
    seed: int = 0,
    init_from: str | Path | None = CLIP_DIR,
    freeze_tower: bool = False,
    config: TinyCaptionerConfig | None = None,
) -> dict:
    """Train the decoder (and, unless frozen, the image tower) to write English and Chinese names, then
    evaluate.

    init_from: a TinyClip folder whose image tower starts (and, with ``freeze_tower``, stays) as the
    captioner's encoder, as BLIP-2 and ClipCap reuse a contrastive image encoder; its config decides the
    tower's shape. None trains the tower from scratch with ``config``. Every image is captioned in both
    languages in the same step (one image encoding, two captions).
    """
    started = time.perf_counter()
    torch.manual_seed(seed)
    config = config or TinyCaptionerConfig()
    clip = TinyClip.from_pretrained(init_from) if init_from is not None else None
    if clip is not None:
        for name in ("image_size", "channels", "dim", "n_heads", "num_layers", "skin_tones"):
            setattr(config, name, getattr(clip.config, name))
    tokenizer = build_tokenizer(config.skin_tones)
    config.vocab_size = len(tokenizer)
    model = TinyCaptioner(config, tokenizer)
    if clip is not None:
        model.tower.load_state_dict(clip.tower.state_dict())
        model.tower.requires_grad_(not freeze_tower)
    data = EmojiImageText(
        "seen",
        size=config.image_size,
        length=steps * batch_size,
        composite_prob=composite_prob,
        seed=seed,
        skin_tones=config.skin_tones,
        strength=strength,
    )

    def collate(samples):
        texts = [text for s in samples for text in (s.en, s.zh)]  # rows 2b, 2b+1 belong to image b
        ids, mask = tokenizer.batch(texts, ["en", "zh"] * len(samples))
        return {
            "pixel_values": model.preprocess([s.image for s in samples]),
            "input_ids": ids,
            "attention_mask": mask,
        }

    train_one_pass(model, data, collate, batch_size, lr, seed)
    minutes = (time.perf_counter() - started) / 60
    metrics = {
        **evaluate_captioner(model, strength=strength),
        "train_minutes": round(minutes, 1),
        "train_images": steps * batch_size,
        "recipe": {
            "steps": steps,
            "batch_size": batch_size,
            "lr": lr,
            "strength": strength,
            "composite_prob": composite_prob,
            "seed": seed,
            "freeze_tower": freeze_tower,
            "init_from": None if init_from is None else Path(init_from).name,
        },
    }
    model.save_pretrained(out_dir)
    write_metrics(out_dir, metrics, captioner_table(metrics))
    return metrics


def _caption_scores(model: TinyCaptioner, samples) -> dict[str, float]:
    out = {}
    images = [s.image for s in samples]
    for lang in ("en", "zh"):
        preds = []
        for i in range(0, len(images), 250):
            preds += model.generate(images[i : i + 250], lang=lang, max_new_tokens=model.config.max_len - 1)
        golds = [getattr(s, lang) for s in samples]
        out[f"{lang}_exact"] = round(float(np.mean([exact_match(p, g) for p, g in zip(preds, golds)])), 3)
        out[f"{lang}_f1"] = round(float(np.mean([token_f1(p, g) for p, g in zip(preds, golds)])), 3)
    return out


def evaluate_captioner(model: TinyCaptioner, strength: float = AUGMENT, n_seen: int = 1000) -> dict:
    """Greedy captions scored by exact match and token F1 (mmkit.metrics: SQuAD normalisation, Chinese per
    character) on seen glyphs (new augmentations at the training strength, at full strength, clean), every
    held-out glyph, and ``n_seen // 3`` composites of seen glyphs."""
    size, skin = model.config.image_size, model.config.skin_tones

    def data(split, s, seed=EVAL_SEED, **kw):
        return EmojiImageText(split, size=size, seed=seed, skin_tones=skin, strength=s, **kw)

    sets = {
        "seen": data("seen", strength),
        "seen_full": data("seen", 1.0),
        "seen_clean": data("seen", 0.0),
        "held_out": data("held_out", strength, EVAL_SEED + 1),
        "composites": data("seen", strength, EVAL_SEED + 2, length=n_seen // 3, composite_prob=1.0),
    }
    samples = {name: [d[i] for i in range(min(n_seen, len(d)))] for name, d in sets.items()}
    out = {name: _caption_scores(model, s) for name, s in samples.items()}
    return {**out, "images": {name: len(s) for name, s in samples.items()}}


CAPTIONER_ROWS = {
    "seen": "seen glyphs, new augmentations (training strength)",
    "seen_full": "seen glyphs, full-strength augmentations",
    "seen_clean": "seen glyphs, clean",
    "held_out": "held-out glyphs (never trained on)",
    "composites": "composites of 2-3 seen glyphs",
}


def captioner_table(m: dict) -> str:
    lines = [
        "| greedy caption | images | EM (en) | token F1 (en) | EM (zh) | token F1 (zh) |",
        "|---|---|---|---|---|---|",
    ]
    for key, label in CAPTIONER_ROWS.items():
        r = m[key]
        lines.append(
            f"| {label} | {m['images'][key]} | {r['en_exact']:.3f} | {r['en_f1']:.3f} | "
            f"{r['zh_exact']:.3f} | {r['zh_f1']:.3f} |"
        )
    return "\n".join(lines)
