"""Would the topic classifier be better on multilingual-e5-small vectors? Heads trained as the shipped recipe does.

Embeds ``data/topics`` train / test / blind (both languages) with multilingual-e5-small ("query: " prefix) and
trains linear heads with ``mmkit.training.topic_classifier.fit_head`` (the recipe of ``python -m
mmkit.training.recipes topic-classifier``: 40 epochs, lr 1e-2, batch 64, seed 0): one head per language
("per-lang") and one head on both languages' training sentences ("joint"). Prints test and blind accuracy per
language. The classifier shipped before (MiniLM head for English, character n-grams for Chinese) and the one
trained on these heads since are compared in ``bench/RESULTS.md``; the training command now picks between the
two layouts on the test split.

    .venv/bin/python bench/topic_heads_e5.py      # ~10 min on 2 shared cores
"""
import time

import torch

from mmkit.datasets.topics import LANGS, TOPICS, load_topics
from mmkit.models.e5 import load_encoder
from mmkit.training.topic_classifier import fit_head

torch.set_num_threads(2)
enc = load_encoder()
feats = {}
t = time.time()
for split in ("train", "test", "blind"):
    for lang in LANGS:
        ds = load_topics(split, lang)
        feats[split, lang] = (enc.embed(ds["text"]), torch.tensor(ds["label"]))
        print(split, lang, len(ds), round(time.time() - t), flush=True)
for mode in ("per-lang", "joint"):
    for lang in LANGS:
        if mode == "per-lang":
            x, y = feats["train", lang]
        else:
            x = torch.cat([feats["train", la][0] for la in LANGS])
            y = torch.cat([feats["train", la][1] for la in LANGS])
        head = fit_head(x, y, len(TOPICS), seed=0)
        with torch.no_grad():
            res = {s: float((head(feats[s, lang][0]).argmax(-1) == feats[s, lang][1]).float().mean())
                   for s in ("test", "blind")}
        print(mode, lang, res, flush=True)
