
import pytest
import torch

from mmkit import emoji_data
from mmkit.emoji_data import EmojiImageText
from mmkit.models.clip import TinyClip, TinyClipConfig
from mmkit.models.registry import weights_dir

SHIPPED = weights_dir("tiny-clip")
needs_font = pytest.mark.skipif(
    emoji_data.font_path() is None,
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
    with pytest.raises(ValueError, match="python -m mmkit.models.train tiny-clip"):
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
