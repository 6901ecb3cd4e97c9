"""Rendered emoji glyphs as an offline image-text data set (English and Chinese captions).

No photo-caption data exist offline, so mmkit's image-text models learn from the glyphs of Noto Color Emoji
(Debian ``fonts-noto-color-emoji``, SIL Open Font License 1.1), drawn with Pillow and named by the ``emoji``
package in English and Chinese. Each glyph is rendered once at the font's only bitmap size (109), shrunk to a
small RGBA tile and cached as an ``.npz`` under ``$MMKIT_CACHE`` (default ``~/.cache/mmkit``); samples are
then composed from the tiles with random scale, shift, rotation, background colour, texture and noise, and
sometimes two or three glyphs side by side ("a dog face next to a red apple" / "狗脸在红苹果旁边").

Everything is deterministic: the glyph list, the seen / held-out split (by a hash of the glyph's name with its
skin tones removed, so every skin-tone variant of a held-out glyph is held out too) and sample ``i`` of a data
set built with a given seed.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from mmkit.errors import InputError, MissingDependencyError

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",
    "/usr/share/fonts/noto/NotoColorEmoji.ttf",
    "/usr/local/share/fonts/NotoColorEmoji.ttf",
)
FONT_SIZE = 109  # the only size the CBDT bitmap strike supports; other sizes raise in FreeType
TILE = 72  # cached tile side: above the largest glyph a 64-96 px sample draws, small enough to cache
HELD_OUT_PERCENT = 10
SKIN_TONES = {chr(c) for c in range(0x1F3FB, 0x1F400)}
_TONE_WORDS = re.compile(r" ?(light|medium-light|medium|medium-dark|dark) skin tone")
# Names the docs, apps and tests use as examples of glyphs a model has seen: never held out.
ALWAYS_SEEN = frozenset(
    {"red apple", "dog face", "cat face", "grinning face", "pizza", "birthday cake", "rocket"}
)


@dataclass(frozen=True)
class Glyph:
    """One emoji: its characters, a clean English and Chinese caption, and whether training may see it."""

    char: str
    en: str
    zh: str
    held_out: bool


@dataclass
class EmojiSample:
    """One image with its captions; ``glyphs`` are indices into :func:`load_glyphs`, left to right."""

    image: Image.Image
    en: str
    zh: str
    glyphs: tuple[int, ...]


def font_path() -> str | None:
    """Path of Noto Color Emoji, or None when the font is not installed."""
    override = os.environ.get("MMKIT_EMOJI_FONT")
    for path in ((override,) if override else ()) + FONT_CANDIDATES:
        if Path(path).is_file():
            return path
    return None


def _require_font() -> str:
    path = font_path()
    if path is None:
        raise MissingDependencyError(
            "Noto Color Emoji is not installed: run `apt-get install fonts-noto-color-emoji` "
            "(or set MMKIT_EMOJI_FONT to NotoColorEmoji.ttf)."
        )
    return path


def clean_en(name: str) -> str:
    """':Japanese_“here”_button:' -> 'japanese here button'."""
    text = name.strip(":").replace("_", " ")
    text = re.sub(r"[“”\"()]", "", text)
    return re.sub(r"\s+", " ", text).strip().lower()


def clean_zh(name: str) -> str:
    """':家庭_男人男人男孩:' -> '家庭男人男人男孩' (the package joins its parts with underscores)."""
    return name.strip(":").replace("_", "").replace(" ", "")


def _is_flag(char: str) -> bool:
    return any(0x1F1E6 <= ord(c) <= 0x1F1FF for c in char) or "\U000e007f" in char


def _held_out(en: str) -> bool:
    """Hold out ~10% of glyphs by a hash of the clean name without skin tones, so variants go together."""
    base = _TONE_WORDS.sub("", en)
    if base in ALWAYS_SEEN:
        return False
    return int(hashlib.sha1(base.encode()).hexdigest(), 16) % 100 < HELD_OUT_PERCENT


def _candidates(skin_tones: bool) -> list[Glyph]:
    """Fully-qualified emoji that the font lays out as one glyph, named in English and Chinese."""
    import emoji

    emoji.config.load_language("zh")
    font = ImageFont.truetype(_require_font(), FONT_SIZE)
    one_glyph = font.getlength("\U0001f34e")
    glyphs = []
    for char, info in emoji.EMOJI_DATA.items():
        if info["status"] != emoji.STATUS["fully_qualified"] or "zh" not in info:
            continue
        if not skin_tones and SKIN_TONES & set(char):
            continue
        # Sequences newer than the font come out as several glyphs (raqm cannot ligate them): skip them.
        if font.getlength(char) != one_glyph:
            continue
        en, zh = clean_en(info["en"]), clean_zh(info["zh"])
        if _is_flag(char):
            en, zh = f"flag of {en.removeprefix('flag ')}", f"{zh}国旗"
        glyphs.append(Glyph(char, en, zh, _held_out(en)))
    return glyphs


@lru_cache(maxsize=4)
def _glyphs_and_tiles(skin_tones: bool) -> tuple[tuple[Glyph, ...], np.ndarray]:
    candidates = _candidates(skin_tones)
    tiles = _tiles_for(tuple(g.char for g in candidates))
    keep: dict[bytes, int] = {}
    for i, (glyph, tile) in enumerate(zip(candidates, tiles)):
        if not tile[..., 3].any():
            continue  # code points the font lacks draw nothing at all
        # Pictures drawn identically under several names (the flags of France, St. Martin and Clipperton
        # Island) cannot teach which name is right: keep the shortest name, usually the common one.
        seen = keep.setdefault(tile.tobytes(), i)
        if len(glyph.en) < len(candidates[seen].en):
            keep[tile.tobytes()] = i
    ids = sorted(keep.values())
    return tuple(candidates[i] for i in ids), tiles[ids]


def load_glyphs(skin_tones: bool = False) -> tuple[Glyph, ...]:
    """Every fully-qualified emoji the installed font draws, once per distinct picture, in the ``emoji``
    package's order.

    Left out: sequences the font cannot lay out as one glyph, code points it draws as nothing (Emoji 16 and
    later), and all but the shortest-named of glyphs drawn pixel-for-pixel alike. skin_tones=False also drops
    the ~1,900 skin-tone variants (names such as "kiss man man medium-dark skin tone medium-light skin tone"),
    whose differences are a few pixels of colour at 32 px; True keeps them. Flags are captioned "flag of
    france" / "法国国旗".
    """
    return _glyphs_and_tiles(skin_tones)[0]


def _cache_dir() -> Path:
    return Path(os.environ.get("MMKIT_CACHE", Path.home() / ".cache" / "mmkit"))


def _render_tile(font: ImageFont.FreeTypeFont, char: str) -> np.ndarray:
    canvas = Image.new("RGBA", (136, 136))
    ImageDraw.Draw(canvas).text((0, 4), char, font=font, embedded_color=True)
    # Shrink with premultiplied alpha so transparent pixels' colour does not bleed into the edges.
    tile = canvas.convert("RGBa").resize((TILE, TILE), Image.Resampling.LANCZOS).convert("RGBA")
    return np.asarray(tile)


def glyph_tiles(skin_tones: bool = False) -> np.ndarray:
    """(N, TILE, TILE, 4) uint8 RGBA tiles for :func:`load_glyphs`, rendered once and cached on disk."""
    return _glyphs_and_tiles(skin_tones)[1]


@lru_cache(maxsize=4)
def _tiles_for(chars: tuple[str, ...]) -> np.ndarray:
    path = _require_font()
    key = hashlib.sha1(("\n".join(chars) + f"|{TILE}|{os.path.getsize(path)}").encode()).hexdigest()[:16]
    cache = _cache_dir() / f"emoji-tiles-{key}.npz"
    if cache.is_file():
        return np.load(cache)["tiles"]
    font = ImageFont.truetype(path, FONT_SIZE)
    tiles = np.stack([_render_tile(font, c) for c in chars])
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, tiles=tiles)
    tmp.replace(cache)  # atomic: a concurrent reader never sees half a file
    return tiles


def _article(name: str) -> str:
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def composite_caption(names: list[str], lang: str) -> str:
    """Caption for glyphs drawn left to right: 'a dog face next to a red apple', '狗脸在红苹果旁边'."""
    if lang == "en":
        if len(names) == 2:
            return f"{_article(names[0])} next to {_article(names[1])}"
        return ", ".join(_article(n) for n in names[:-1]) + f" and {_article(names[-1])}"
    if len(names) == 2:
        return f"{names[0]}在{names[1]}旁边"
    return "、".join(names[:-1]) + f"和{names[-1]}"


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    """A plain colour, a two-colour gradient, or blurred colour noise: the textures glyphs are drawn on."""
    kind = rng.integers(4)
    if kind == 0:
        return Image.new("RGB", (size, size), (255, 255, 255))
    if kind == 1:
        return Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 256, 3)))
    if kind == 2:
        a, b = rng.integers(0, 256, (2, 3))
        t = np.linspace(0.0, 1.0, size)[:, None, None]
        grad = a * (1 - t) + b * t
        grad = np.broadcast_to(grad, (size, size, 3))
        if rng.random() < 0.5:
            grad = grad.transpose(1, 0, 2)
        return Image.fromarray(grad.astype(np.uint8))
    cells = int(rng.integers(2, 9))
    coarse = Image.fromarray(rng.integers(0, 256, (cells, cells, 3), dtype=np.uint8))
    texture = np.asarray(coarse.resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)
    texture += rng.normal(0, 8, texture.shape)
    return Image.fromarray(texture.clip(0, 255).astype(np.uint8))


def _place(
    canvas: Image.Image, tile: Image.Image, box: tuple[float, float, float, float], rng, strength: float
):
    """Draw ``tile`` inside box (x0, y0, x1, y1): centred at 92% of the box when ``strength`` is 0, with
    random scale (70-100%), rotation (+-15 degrees) and shift when it is 1, and in between for values in
    between."""
    x0, y0, x1, y1 = box
    room = min(x1 - x0, y1 - y0)
    u_side, u_angle, u_x, u_y = rng.random(4) if rng is not None else (0.5, 0.5, 0.5, 0.5)
    side = room * (0.92 + strength * (0.7 + 0.3 * u_side - 0.92))
    glyph = tile.resize((max(4, round(side)),) * 2, Image.Resampling.BILINEAR)
    if strength > 0:
        glyph = glyph.rotate(float(strength * (30 * u_angle - 15)), Image.Resampling.BILINEAR, expand=False)
    slack_x, slack_y = (x1 - x0) - glyph.width, (y1 - y0) - glyph.height
    # a slack below 0 (glyph larger than its box) lets the shift crop the glyph a little
    dx = slack_x / 2 + strength * (u_x - 0.5) * abs(slack_x)
    dy = slack_y / 2 + strength * (u_y - 0.5) * abs(slack_y)
    canvas.alpha_composite(glyph, (round(x0 + dx), round(y0 + dy)))


class EmojiImageText:
    """A deterministic image-text data set of rendered emoji (a map-style ``torch`` Dataset).

    split:          "seen" (about 90% of glyphs, for training), "held_out" (the rest) or "all".
    size:           image side in pixels; images are RGB PIL images of (size, size).
    length:         number of samples; sample i shows glyph ``i % n_glyphs`` (plus one or two random
                    partners when it is a composite), so ``length = k * n_glyphs`` shows each glyph k times.
    composite_prob: chance that a sample draws 2 or 3 glyphs side by side with a composite caption.
    composites:     if given, composite samples pick one of this many fixed glyph combinations (drawn from
                    ``seed``), so a long data set has few distinct captions to embed; None draws a new one
                    each time.
    clean:          white background, centred, no rotation or noise (the view the tests and the cards name).
    seed:           choose a new seed for a new set of augmentations of the same glyphs.
    strength:       how far augmentations go, from 0 (every sample clean) to 1 (the full ranges: scale
                    70-100%, rotation +-15 degrees, any shift that keeps the glyph in view, 75% coloured or
                    textured backgrounds, blur on 20% and pixel noise on 50% of images).
    """

    def __init__(
        self,
        split: str = "seen",
        size: int = 64,
        length: int | None = None,
        composite_prob: float = 0.0,
        clean: bool = False,
        seed: int = 0,
        skin_tones: bool = False,
        strength: float = 1.0,
        composites: int | None = None,
    ):
        if split not in ("seen", "held_out", "all"):
            raise InputError(f"split must be 'seen', 'held_out' or 'all', got {split!r}")
        self.glyphs = load_glyphs(skin_tones)
        self.tiles = glyph_tiles(skin_tones)
        self.ids = [
            i for i, g in enumerate(self.glyphs) if split == "all" or g.held_out == (split == "held_out")
        ]
        self._id_array = np.asarray(self.ids)
        self.size, self.composite_prob, self.clean, self.seed = size, composite_prob, clean, seed
        self.length = len(self.ids) if length is None else length
        self.strength = 0.0 if clean else strength
        self.pool = None
        if composites:
            rng = np.random.default_rng([seed, 2**32 - 1])  # a stream no sample index uses
            self.pool = [
                [int(g) for g in rng.choice(self._id_array, size=int(rng.integers(2, 4)), replace=False)]
                for _ in range(composites)
            ]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> EmojiSample:
        rng, chosen = self._choose(index)
        return self.render(chosen, rng)

    def _choose(self, index: int) -> tuple[np.random.Generator, list[int]]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, index])
        first = self.ids[index % len(self.ids)]
        if not self.clean and rng.random() < self.composite_prob:
            if self.pool is not None:
                return rng, self.pool[int(rng.integers(len(self.pool)))]
            partners = rng.choice(self._id_array, size=int(rng.integers(1, 3)), replace=False)
            return rng, [first, *(int(p) for p in partners)]
        return rng, [first]

    def captions(self, lang: str = "en") -> list[str]:
        """The caption of every sample, without drawing any image (to precompute text embeddings)."""
        names = [getattr(g, lang) for g in self.glyphs]
        out = []
        for index in range(self.length):
            chosen = self._choose(index)[1]
            out.append(
                names[chosen[0]] if len(chosen) == 1 else composite_caption([names[c] for c in chosen], lang)
            )
        return out

    def render(
        self, glyph_ids: list[int], rng: np.random.Generator | None = None, strength: float | None = None
    ):
        """Draw the given glyphs left to right -> EmojiSample; ``rng=None`` gives the clean view."""
        strength = 0.0 if rng is None else (self.strength if strength is None else strength)
        size = self.size
        # Every random number is drawn whatever the strength, so strength changes how far a sample goes,
        # never which glyphs, colours or directions it uses.
        background = _background(rng, size) if rng is not None else None
        white = rng is None or rng.random() >= strength
        canvas = Image.new("RGB", (size, size), (255, 255, 255)) if white else background
        canvas = canvas.convert("RGBA")
        n = len(glyph_ids)
        for slot, gid in enumerate(glyph_ids):
            tile = Image.fromarray(self.tiles[gid])
            if n == 1:
                box = (0.0, 0.0, size, size)
            else:  # each glyph gets its own column, vertically centred
                width = size / n
                box = (slot * width, (size - width) / 2, (slot + 1) * width, (size + width) / 2)
            _place(canvas, tile, box, rng, strength)
        image = canvas.convert("RGB")
        if rng is not None:
            blur, noise, radius, sigma = rng.random(4)
            if blur < 0.2 * strength:
                image = image.filter(ImageFilter.GaussianBlur(float(0.3 + 0.5 * radius)))
            if noise < 0.5 * strength:
                pixels = np.asarray(image, dtype=np.float32) + rng.normal(0, 2 + 4 * sigma, (size, size, 3))
                image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
        names = [self.glyphs[g] for g in glyph_ids]
        if n == 1:
            en, zh = names[0].en, names[0].zh
        else:
            en = composite_caption([g.en for g in names], "en")
            zh = composite_caption([g.zh for g in names], "zh")
        return EmojiSample(image, en, zh, tuple(glyph_ids))

    def clean_image(self, glyph_id: int) -> Image.Image:
        """The clean view of one glyph (an index into ``self.glyphs``)."""
        return self.render([glyph_id]).image

    def index_of(self, name: str) -> int:
        """Glyph index for an English or Chinese name ("red apple" / "红苹果")."""
        for i, g in enumerate(self.glyphs):
            if name in (g.en, g.zh):
                return i
        raise InputError(f"no emoji named {name!r}; names look like 'red apple' or '红苹果'")
