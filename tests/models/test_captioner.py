
import pytest
import torch

from mmkit.datasets import emoji
from mmkit.datasets.emoji import EmojiImageText
from mmkit.models.captioner import CaptionTokenizer, TinyCaptioner, TinyCaptionerConfig
from mmkit.models.registry import weights_dir
from mmkit.objectives import causal_lm_loss

SHIPPED = weights_dir("tiny-captioner")
needs_font = pytest.mark.skipif(
    emoji.font_path() is None,
    reason="Noto Color Emoji is not installed: run `sudo make system-deps`",
)
needs_weights = pytest.mark.skipif(
    not (SHIPPED / "model.safetensors").is_file(), reason="mmkit/weights/tiny-captioner has no weights yet"
)


@needs_font
def test_training_vocabulary_covers_every_caption_the_data_writes():
    from mmkit.training.captioner import build_tokenizer

    tokenizer, glyphs = build_tokenizer(), emoji.load_glyphs()
    for lang in ("en", "zh"):
        names = [getattr(g, lang) for g in glyphs]
        captions = names + [emoji.composite_caption(names[i : i + n], lang) for i in (0, 9) for n in (2, 3)]
        for caption in captions:
            assert tokenizer.unk_id not in tokenizer.encode(caption, lang), caption


def _tiny_model(seed: int = 0) -> TinyCaptioner:
    tokenizer = CaptionTokenizer.build(["red apple", "a dog face next to a red apple"], ["红苹果", "狗脸在红苹果旁边"])
    config = TinyCaptionerConfig(
        vocab_size=len(tokenizer), image_size=32, channels=(8, 16), dim=32, num_layers=1, n_heads=2,
        d_model=32, decoder_heads=2, decoder_layers=2, max_len=12,
    )
    torch.manual_seed(seed)
    model = TinyCaptioner(config, tokenizer).eval()
    # Random weights give near-uniform logits; scale the head up so greedy and beam choices are clear-cut.
    with torch.no_grad():
        model.tok_emb.weight.mul_(50)
    return model


def _images(n: int):
    from PIL import Image

    g = torch.Generator().manual_seed(1)
    return [Image.fromarray((torch.rand(32, 32, 3, generator=g) * 255).byte().numpy()) for _ in range(n)]


def test_tokenizer_round_trip_and_language_token():
    tok = CaptionTokenizer.build(["a dog face, a cat and an owl"], ["狗脸、猫和猫头鹰"])
    ids = tok.encode("a dog face, a cat and an owl", "en")
    assert ids[0] == tok.lang_id("en") and ids[-1] == tok.eos_id
    assert tok.decode(ids[1:], "en") == "a dog face, a cat and an owl"
    zh = tok.encode("猫头鹰", "zh")
    assert len(zh) == 5 and tok.decode(zh[1:], "zh") == "猫头鹰"
    assert tok.decode(tok.encode("a zebra", "en")[1:], "en") == "a <unk>"


def test_cached_generation_equals_uncached_and_beam1_equals_greedy():
    model = _tiny_model()
    images = _images(3)
    greedy = model.generate(images, lang="en", max_new_tokens=8)
    assert greedy == model.generate(images, lang="en", max_new_tokens=8, use_cache=False)
    assert greedy == model.generate(images, lang="en", max_new_tokens=8, num_beams=1)
    beams = model.generate(images, lang="zh", max_new_tokens=8, num_beams=3)
    assert beams == model.generate(images, lang="zh", max_new_tokens=8, num_beams=3, use_cache=False)


def test_attention_maps_cover_the_image_grid_per_token():
    model = _tiny_model()
    captions, maps = model.generate(_images(2), lang="en", max_new_tokens=6, return_attention=True)
    for caption, m in zip(captions, maps):
        assert m.shape == (len(model.tokenizer.tokens(caption, "en")), 8, 8)
        assert torch.allclose(m.sum((1, 2)), torch.ones(len(m)), atol=1e-5)


def test_save_load_round_trip(tmp_path):
    model = _tiny_model()
    images = _images(2)
    model.save_pretrained(tmp_path)
    loaded = TinyCaptioner.from_pretrained(tmp_path)
    assert loaded.tokenizer.vocab == model.tokenizer.vocab
    assert loaded.generate(images, max_new_tokens=8) == model.generate(images, max_new_tokens=8)
    x = model.preprocess(images)
    ids, mask = model.tokenizer.batch(["red apple"] * 2, ["en"] * 2)
    assert torch.equal(loaded(x, ids, mask), model(x, ids, mask))


def test_loss_equals_causal_lm_loss_on_padded_batches():
    model = _tiny_model()
    x = model.preprocess(_images(2))
    ids, mask = model.tokenizer.batch(["red apple", "a dog face next to a red apple", "红苹果", "狗脸"], ["en", "en", "zh", "zh"])
    expected = causal_lm_loss(model(x, ids, mask), ids, mask)
    assert torch.allclose(model.loss(x, ids, mask), expected, atol=1e-5)


def test_loss_falls_when_fitting_one_caption():
    model = _tiny_model().train()
    images = _images(4)
    x = model.preprocess(images)
    ids, mask = model.tokenizer.batch(["red apple", "红苹果"] * 4, ["en", "zh"] * 4)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(30):
        loss = model.loss(x, ids, mask)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first
    assert model.generate(images[:1], lang="zh", max_new_tokens=8) == ["红苹果"]


@needs_font
@needs_weights
def test_shipped_captioner_names_clean_seen_glyphs():
    model = TinyCaptioner.from_pretrained(SHIPPED)
    data = EmojiImageText("all", size=model.config.image_size, clean=True, skin_tones=model.config.skin_tones)
    names = ["red apple", "dog face", "pizza", "rocket", "birthday cake", "owl", "flag of france"]
    images = [data.clean_image(data.index_of(n)) for n in names]
    greedy = model.generate(images, lang="en")
    assert greedy == names
    assert model.generate(images, lang="en", num_beams=1) == greedy
    assert model.generate(images[:4], lang="en", num_beams=3) == names[:4]
    assert model.generate(images[:4], lang="zh") == ["红苹果", "狗脸", "披萨", "火箭"]
    captions, maps = model.generate(images[:1], return_attention=True)
    assert maps[0].shape == (2, model.config.grid, model.config.grid)  # "red", "apple"


@needs_font
@needs_weights
def test_shipped_captioner_names_most_clean_seen_glyphs():
    model = TinyCaptioner.from_pretrained(SHIPPED)
    seen = EmojiImageText("seen", size=model.config.image_size, clean=True, skin_tones=model.config.skin_tones)
    samples = [seen[i] for i in range(0, len(seen), 9)]  # ~190 glyphs across the emoji list
    captions = model.generate([s.image for s in samples], lang="en")
    assert sum(c == s.en for c, s in zip(captions, samples)) / len(samples) > 0.9  # card: 0.967 on 1000


def test_attention_maps_are_safe_when_threads_share_one_model():
    from concurrent.futures import ThreadPoolExecutor

    model = _tiny_model()
    images = _images(3)

    def work(i: int):
        if i % 2:
            return model.generate(images[: 1 + i % 3], max_new_tokens=8, return_attention=True)
        return model.generate(images, max_new_tokens=8, num_beams=2), None

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(40)))
    alone = model.generate(images[:2], max_new_tokens=8, return_attention=True)
    for i, (captions, maps) in enumerate(results):
        if maps is not None:
            assert len(maps) == len(captions) == 1 + i % 3
            assert all(m.shape[1:] == (model.config.grid, model.config.grid) for m in maps)
    assert all(torch.equal(a, b) for a, b in zip(results[1][1], alone[1][:2]))  # the same answer as alone
