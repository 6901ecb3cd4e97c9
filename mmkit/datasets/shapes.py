"""Generated paired datasets for lessons and tests: the label needs more than one modality.

:class:`ShapesColorsDataset` draws a coloured shape (Pillow + numpy, random position, size, background and
pixel noise) and pairs it with a short text. Two tasks:

* ``task="paint"`` (``num_classes = n_shapes * n_colours``): the text asks for a colour ("paint it red") and
  the label is the image's shape in the asked-for colour, ``label = shape * n_colours + colour_word``. The
  colour the image is drawn in is a distractor. The image alone fixes the shape and leaves ``n_colours``
  labels equally likely; the text alone fixes the colour and leaves ``n_shapes`` labels equally likely. Best
  possible unimodal accuracy is therefore ``1 / n_colours`` (image) and ``1 / n_shapes`` (text); with both,
  100%. The label factorises into an image part and a text part, so even late fusion (a sum of per-modality
  logits) can solve it.
* ``task="match"`` (``num_classes = 2``): the text claims a shape and a colour ("a red circle") and the label
  is 1 when the image shows exactly that. Each image and each text is followed by 0 and 1 equally often, so
  either modality alone is at chance (50%). The label is an interaction (an XOR-like comparison): a sum of
  per-modality logits cannot express it, so late fusion stays at chance while feature-level fusion learns it.

With ``with_audio=True`` every item also gets ``"audio"``: a 0.25 s tone at 16 kHz whose pitch names the
text's colour (one pitch per colour). Audio is then redundant with the colour part of the text, which makes it
a stand-in for the text when the text is missing (a robustness lesson for :class:`mmkit.fusion.LateFusion`).

Factors (shape, colours, wording template) are assigned from a seeded permutation of the indices, so with
``n`` a multiple of :meth:`balance_period` every label occurs equally often and so does every label *given
each exact text string* and given each image shape (paint) or shape and colour (match): no spurious
wording-to-label correlation for a unimodal model to pick up. Each item's position, size, colour jitter and
noise come from a generator seeded by
``(seed, index)``: ``ds[i]`` is the same whatever order items are read in.
"""

import math

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.utils.data import Dataset

from mmkit.errors import InputError

SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 80, 230), "yellow": (230, 210, 40)}
TASKS = ("paint", "match")
SAMPLE_RATE = 16_000
TONE_SECONDS = 0.25
# One pitch per colour, a musical fourth apart, so tones are easy to tell apart in a spectrogram.
TONE_HZ = {name: 330.0 * 2 ** (5 * i / 12) for i, name in enumerate(COLOURS)}

PAINT_TEMPLATES = (
    "paint it {c}",
    "make it {c}",
    "colour it {c}",
    "i want it {c}",
    "{c} please",
    "turn it {c}",
)
MATCH_TEMPLATES = (
    "a {c} {s}",
    "there is a {c} {s}",
    "this is a {s} in {c}",
    "the picture shows a {c} {s}",
    "one {c} {s}",
    "a {s} coloured {c}",
)


def draw_shape(
    shape: str, rgb: tuple[int, int, int], image_size: int, rng: np.random.Generator
) -> Image.Image:
    """A ``shape`` in colour ``rgb`` (jittered) on a dark noisy background; random size and position."""
    background = rng.integers(0, 70, size=3)
    canvas = Image.new("RGB", (image_size, image_size), tuple(int(v) for v in background))
    draw = ImageDraw.Draw(canvas)
    radius = rng.uniform(0.2, 0.35) * image_size
    cx, cy = rng.uniform(radius, image_size - radius, size=2)
    fill = tuple(int(np.clip(v + rng.integers(-25, 26), 0, 255)) for v in rgb)
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        side = radius * 0.85  # a square of the same "radius" looks much bigger than the circle
        draw.rectangle((cx - side, cy - side, cx + side, cy + side), fill=fill)
    elif shape == "triangle":
        draw.polygon(
            [(cx, cy - radius), (cx - radius, cy + radius * 0.8), (cx + radius, cy + radius * 0.8)], fill=fill
        )
    elif shape == "cross":
        arm = radius / 3
        draw.rectangle((cx - radius, cy - arm, cx + radius, cy + arm), fill=fill)
        draw.rectangle((cx - arm, cy - radius, cx + arm, cy + radius), fill=fill)
    else:
        raise InputError(f"unknown shape {shape!r}; choose one of {SHAPES}")
    pixels = np.asarray(canvas, dtype=np.float32) + rng.normal(0.0, 12.0, size=(image_size, image_size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def tone(colour: str, rng: np.random.Generator) -> torch.Tensor:
    """(T,) float32 waveform, T = 4000: the colour's pitch with random phase, loudness and a little noise."""
    t = np.arange(int(SAMPLE_RATE * TONE_SECONDS)) / SAMPLE_RATE
    wave = rng.uniform(0.3, 0.8) * np.sin(2 * math.pi * TONE_HZ[colour] * t + rng.uniform(0, 2 * math.pi))
    return torch.from_numpy((wave + rng.normal(0.0, 0.05, size=t.shape)).astype(np.float32))


class ShapesColorsDataset(Dataset):
    """``n`` items ``{"image": PIL.Image, "text": str, "label": int}`` (+ ``"audio"``: (4000,) float tensor).

    Every item also carries its factors (``"shape"``, ``"image_colour"``, ``"text_colour"``, ``"template"``,
    and for ``match`` ``"text_shape"``) as ints, so a lesson can show what each modality knows; models should
    not read them. ``num_classes`` and ``class_names`` describe the label. See the module docstring for what
    each modality alone can and cannot tell.
    """

    def __init__(
        self, n: int, image_size: int = 32, seed: int = 0, task: str = "paint", with_audio: bool = False
    ):
        if task not in TASKS:
            raise InputError(f"unknown task {task!r}; choose one of {TASKS}")
        if n < 1 or image_size < 8:
            raise InputError(f"need n >= 1 and image_size >= 8, got n={n}, image_size={image_size}")
        self.n, self.image_size, self.seed, self.task, self.with_audio = n, image_size, seed, task, with_audio
        self.colours = list(COLOURS)
        # The permutation spreads the factor combinations evenly over the indices; see factors().
        self._codes = np.random.default_rng(seed).permutation(n)
        if task == "paint":
            self.class_names = [f"{c} {s}" for s in SHAPES for c in self.colours]
        else:
            self.class_names = ["mismatch", "match"]
        self.num_classes = len(self.class_names)

    def balance_period(self) -> int:
        """Smallest n for which every factor combination appears equally often (384 for paint, 2880 for
        match)."""
        k = len(SHAPES) * len(COLOURS)
        if self.task == "paint":
            return k * len(PAINT_TEMPLATES) * len(COLOURS)
        return 2 * k * (k - 1) * len(MATCH_TEMPLATES)

    def __len__(self) -> int:
        return self.n

    def factors(self, index: int) -> dict[str, int]:
        """The item's label and factors as ints, without drawing anything: a mixed-radix reading of its
        code."""
        code, n_colours = int(self._codes[index]), len(COLOURS)
        if self.task == "paint":
            label, rest = code % (len(SHAPES) * n_colours), code // (len(SHAPES) * n_colours)
            shape, text_colour = divmod(label, n_colours)
            template, rest = rest % len(PAINT_TEMPLATES), rest // len(PAINT_TEMPLATES)
            # The colour the shape is drawn in is a distractor: the text decides the label's colour.
            return {
                "label": label,
                "shape": shape,
                "image_colour": rest % n_colours,
                "text_colour": text_colour,
                "template": template,
            }
        # match: a claim (text) and an image; negatives shift the image to one of the other k - 1 combinations
        # in turn, so every image is a positive as often as a negative.
        k = len(SHAPES) * n_colours
        label, claim, offset = code % 2, (code // 2) % k, 1 + (code // (2 * k)) % (k - 1)
        shown = claim if label == 1 else (claim + offset) % k
        return {
            "label": label,
            "shape": shown // n_colours,
            "image_colour": shown % n_colours,
            "text_shape": claim // n_colours,
            "text_colour": claim % n_colours,
            "template": (code // (2 * k * (k - 1))) % len(MATCH_TEMPLATES),
        }

    def __getitem__(self, index: int) -> dict:
        if not -self.n <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} items")
        index %= self.n
        rng = np.random.default_rng((self.seed, index))
        f = self.factors(index)
        colour = self.colours[f["text_colour"]]
        if self.task == "paint":
            text = PAINT_TEMPLATES[f["template"]].format(c=colour)
        else:
            text = MATCH_TEMPLATES[f["template"]].format(c=colour, s=SHAPES[f["text_shape"]])
        image = draw_shape(SHAPES[f["shape"]], COLOURS[self.colours[f["image_colour"]]], self.image_size, rng)
        item = {"image": image, "text": text, **f}
        if self.with_audio:
            item["audio"] = tone(colour, rng)
        return item


def make_collate(encoders: dict, label_key: str = "label"):
    """A ``collate_fn`` for a DataLoader: list of items -> ``(inputs, labels)``.

    ``inputs[modality]`` is ``encoders[modality].preprocess([item[modality] for item in items])``, a dict of
    tensors ready for ``encoder(**inputs[modality])`` (and for :class:`mmkit.fusion.MultimodalClassifier`);
    ``labels`` is a (B,) long tensor. Only the modalities named in ``encoders`` are preprocessed, so an
    image-only model gets an image-only batch.
    """

    def collate(items: list[dict]):
        inputs = {
            name: encoder.preprocess([item[name] for item in items]) for name, encoder in encoders.items()
        }
        return inputs, torch.tensor([item[label_key] for item in items], dtype=torch.long)

    return collate
