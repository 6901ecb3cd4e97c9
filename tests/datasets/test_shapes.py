from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from mmkit.datasets.shapes import COLOURS, SHAPES, TONE_HZ, ShapesColorsDataset, make_collate
from mmkit.errors import InputError


def factors(ds):
    """Without drawing images: (label, what the image shows, what the text says: its exact wording)."""
    rows = []
    for i in range(len(ds)):
        f = ds.factors(i)
        text = (f.get("text_shape"), f["text_colour"], f["template"])
        rows.append((f["label"], (f["shape"], f["image_colour"]), text))
    return rows


def test_items_are_deterministic_by_seed_and_independent_of_read_order():
    a, b = ShapesColorsDataset(20, seed=3), ShapesColorsDataset(20, seed=3)
    first = [a[i] for i in range(20)]
    backwards = [b[i] for i in reversed(range(20))][::-1]
    for x, y in zip(first, backwards):
        assert x["text"] == y["text"] and x["label"] == y["label"]
        assert np.array_equal(np.asarray(x["image"]), np.asarray(y["image"]))
    other = ShapesColorsDataset(20, seed=4)
    assert any(not np.array_equal(np.asarray(x["image"]), np.asarray(other[i]["image"])) for i, x in enumerate(first))


def test_item_contents_match_the_paint_rule():
    ds = ShapesColorsDataset(32, image_size=24)
    assert ds.num_classes == len(SHAPES) * len(COLOURS) == len(ds.class_names)
    for i in range(32):
        item = ds[i]
        assert isinstance(item["image"], Image.Image) and item["image"].size == (24, 24)
        colour, shape = ds.class_names[item["label"]].split()
        assert colour in item["text"] and colour == list(COLOURS)[item["text_colour"]]
        assert shape == SHAPES[item["shape"]]


@pytest.mark.parametrize("task", ["paint", "match"])
def test_labels_are_exactly_balanced(task):
    ds = ShapesColorsDataset(1, task=task)
    ds = ShapesColorsDataset(2 * ds.balance_period(), task=task)
    counts = Counter(label for label, _, _ in factors(ds))
    assert len(counts) == ds.num_classes and len(set(counts.values())) == 1


@pytest.mark.parametrize("task", ["paint", "match"])
def test_neither_modality_alone_determines_the_label(task):
    """For every image (shape, colour) and every exact text wording, the labels compatible with it occur equally
    often: the best a unimodal model can do is guess among them (paint: 1/4 for each modality, match: 1/2)."""
    ds = ShapesColorsDataset(1, task=task)
    ds = ShapesColorsDataset(ds.balance_period(), task=task)
    rows = factors(ds)
    for side in (1, 2):
        by_value = {}
        for row in rows:
            by_value.setdefault(row[side], Counter())[row[0]] += 1
        for value, labels in by_value.items():
            assert len(labels) == (4 if task == "paint" else 2), (side, value, labels)
            assert len(set(labels.values())) == 1, (side, value, labels)
    # ...while both together determine it.
    both = {}
    for label, image, text in rows:
        key = (image[0], text) if task == "paint" else (image, text)
        both.setdefault(key, set()).add(label)
    assert all(len(labels) == 1 for labels in both.values())


def test_match_text_states_the_claim_and_positives_show_it():
    ds = ShapesColorsDataset(40, task="match")
    assert ds.class_names == ["mismatch", "match"]
    for i in range(40):
        item = ds[i]
        assert SHAPES[item["text_shape"]] in item["text"] and list(COLOURS)[item["text_colour"]] in item["text"]
        shown_equals_claim = (item["shape"], item["image_colour"]) == (item["text_shape"], item["text_colour"])
        assert shown_equals_claim == bool(item["label"])


def test_audio_tone_has_the_pitch_of_the_text_colour():
    ds = ShapesColorsDataset(8, with_audio=True)
    for i in range(8):
        item = ds[i]
        wave = item["audio"].numpy()
        assert wave.shape == (4000,) and wave.dtype == np.float32
        peak_hz = np.abs(np.fft.rfft(wave)).argmax() * 16_000 / len(wave)
        assert abs(peak_hz - TONE_HZ[list(COLOURS)[item["text_colour"]]]) < 8


def test_make_collate_preprocesses_each_named_modality():
    class Fake:
        def __init__(self, key):
            self.key = key

        def preprocess(self, raw):
            return {self.key: torch.tensor([len(str(r)) for r in raw])}

    ds = ShapesColorsDataset(4)
    inputs, labels = make_collate({"text": Fake("ids")})([ds[i] for i in range(4)])
    assert list(inputs) == ["text"] and inputs["text"]["ids"].tolist() == [len(ds[i]["text"]) for i in range(4)]
    assert labels.dtype == torch.long and labels.tolist() == [ds[i]["label"] for i in range(4)]


def test_bad_arguments_name_the_choices():
    with pytest.raises(InputError, match="paint"):
        ShapesColorsDataset(4, task="count")
    with pytest.raises(IndexError):
        ShapesColorsDataset(4)[4]
