import numpy as np
import pytest

from mmkit.datasets import emoji
from mmkit.datasets.emoji import EmojiImageText, clean_en, clean_zh, composite_caption, load_glyphs

needs_font = pytest.mark.skipif(
    emoji.font_path() is None,
    reason="Noto Color Emoji is not installed: run `sudo make system-deps`",
)


def test_names_are_cleaned_into_captions():
    assert clean_en(":red_apple:") == "red apple"
    assert clean_en(":Japanese_“here”_button:") == "japanese here button"
    assert clean_en(":A_button_(blood_type):") == "a button blood type"
    assert clean_zh(":家庭_男人男人男孩:") == "家庭男人男人男孩"


def test_composite_captions_read_left_to_right():
    assert composite_caption(["dog face", "red apple"], "en") == "a dog face next to a red apple"
    assert composite_caption(["owl", "cat", "egg"], "en") == "an owl, a cat and an egg"
    assert composite_caption(["狗脸", "红苹果"], "zh") == "狗脸在红苹果旁边"
    assert composite_caption(["猫头鹰", "猫", "蛋"], "zh") == "猫头鹰、猫和蛋"


@needs_font
def test_glyph_list_names_and_split():
    glyphs = load_glyphs()
    assert 1800 <= len(glyphs) <= 2100
    names = {g.en: g for g in glyphs}
    assert names["red apple"].zh == "红苹果" and not names["red apple"].held_out
    assert names["flag of france"].zh == "法国国旗"
    assert len(names) == len(glyphs)  # captions are unique, so a caption names exactly one glyph
    tiles = emoji.glyph_tiles()
    assert tiles.shape == (len(glyphs), emoji.TILE, emoji.TILE, 4)
    assert tiles[..., 3].reshape(len(tiles), -1).max(1).min() > 0  # nothing the font draws blank
    assert len({t.tobytes() for t in tiles}) == len(tiles)  # and one name per picture
    assert "flag of st. martin" not in names  # drawn exactly as the flag of France, which is kept
    held_out = sum(g.held_out for g in glyphs) / len(glyphs)
    assert 0.07 < held_out < 0.13
    with_tones = load_glyphs(skin_tones=True)
    assert 3600 <= len(with_tones) <= 4000
    # a held-out glyph's skin-tone variants are held out too
    thumbs = [g for g in with_tones if g.en.startswith("thumbs up")]
    assert len(thumbs) == 6 and len({g.held_out for g in thumbs}) == 1


@needs_font
def test_rendering_is_deterministic_and_varied():
    data = EmojiImageText(split="seen", size=64, length=50, composite_prob=0.5, seed=3)
    first = [np.asarray(data[i].image) for i in range(10)]
    again = EmojiImageText(split="seen", size=64, length=50, composite_prob=0.5, seed=3)
    assert all(np.array_equal(a, np.asarray(again[i].image)) for i, a in enumerate(first))
    other_seed = EmojiImageText(split="seen", size=64, length=50, composite_prob=0.5, seed=4)
    assert not np.array_equal(first[0], np.asarray(other_seed[0].image))
    assert first[0].shape == (64, 64, 3)
    samples = [data[i] for i in range(50)]
    assert {len(s.glyphs) for s in samples} == {1, 2, 3}
    composite = next(s for s in samples if len(s.glyphs) == 2)
    assert " next to " in composite.en and "旁边" in composite.zh
    assert all(not data.glyphs[g].held_out for s in samples for g in s.glyphs)


@needs_font
def test_clean_view_draws_the_glyph_on_white():
    data = EmojiImageText(split="all", size=64, clean=True)
    apple = np.asarray(data.clean_image(data.index_of("red apple"))).astype(int)
    assert (apple[0, 0] == 255).all() and (apple[32, 32] != 255).any()
    red = (apple[..., 0] > 200) & (apple[..., 1] < 120) & (apple[..., 2] < 80)
    assert red.mean() > 0.2  # an apple is mostly red
    assert data.index_of("红苹果") == data.index_of("red apple")


@needs_font
def test_held_out_split_is_disjoint_from_seen():
    seen = EmojiImageText(split="seen")
    held = EmojiImageText(split="held_out")
    assert set(seen.ids).isdisjoint(held.ids)
    assert len(seen) + len(held) == len(load_glyphs())
    assert all(held.glyphs[held[i].glyphs[0]].held_out for i in range(0, len(held), 17))


@needs_font
def test_a_composite_pool_bounds_the_captions_to_embed():
    data = EmojiImageText(split="seen", length=3000, composite_prob=0.5, composites=20, seed=1)
    captions = data.captions("en")
    composites = set(captions) - {g.en for g in data.glyphs}
    assert 10 < len(composites) <= 20
    assert data[5].en == captions[5] and data[5].zh == data.captions("zh")[5]


@needs_font
def test_strength_zero_is_the_clean_view():
    plain = EmojiImageText(split="seen", size=48, seed=2, strength=0.0)
    clean = EmojiImageText(split="seen", size=48, clean=True)
    assert np.array_equal(np.asarray(plain[7].image), np.asarray(clean[7].image))
    full = EmojiImageText(split="seen", size=48, seed=2, strength=1.0)
    assert not np.array_equal(np.asarray(full[7].image), np.asarray(clean[7].image))
