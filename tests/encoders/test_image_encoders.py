"""Image encoders: RGB conversion of every mode, our CNN and ViT, and tiny CLIP / ViT / ResNet checkpoints saved
into tmp_path and loaded back through HFImageEncoder."""

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import (
    CLIPConfig,
    CLIPImageProcessorPil,
    CLIPModel,
    CLIPVisionConfig,
    CLIPVisionModel,
    CLIPVisionModelWithProjection,
    ConvNextImageProcessorPil,
    ResNetConfig,
    ResNetModel,
    ViTConfig,
    ViTImageProcessorPil,
    ViTModel,
)

from mmkit.encoders import HFImageEncoder, PatchEncoder, SmallCNNEncoder, images_to_tensor
from mmkit.errors import InputError


def pictures():
    """Three small images in three modes and sizes."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    grey = Image.fromarray(rng.integers(0, 256, (30, 30), dtype=np.uint8), "L")
    rgba = Image.new("RGBA", (20, 24), (255, 0, 0, 128))
    return [rgb, grey, rgba]


def test_images_to_tensor_shape_and_normalisation():
    x = images_to_tensor(pictures() + [Image.new("RGB", (7, 9), "white")], 16)
    assert x.shape == (4, 3, 16, 16) and x.dtype == torch.float32
    assert torch.allclose(x[3], torch.ones(3, 16, 16))  # white is (1 - 0.5) / 0.5
    assert torch.equal(x[1, 0], x[1, 2])  # greyscale is the same in every channel
    y = images_to_tensor(pictures()[:1], (8, 12), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    assert y.shape == (1, 3, 8, 12) and 0.0 <= float(y.min()) and float(y.max()) <= 1.0


def assert_every_parameter_learns(encoder):
    out = encoder.encode(pictures())
    loss = (out.tokens * torch.randn_like(out.tokens)).sum() + (
        out.pooled * torch.randn_like(out.pooled)
    ).sum()
    loss.backward()
    assert [n for n, p in encoder.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0] == []


def test_small_cnn_encoder():
    torch.manual_seed(0)
    enc = SmallCNNEncoder(dim=24, image_size=32, channels=(8, 16))
    out = enc.encode(pictures())
    assert out.tokens.shape == (3, 64, 24) and out.mask.all() and out.mask.shape == (3, 64)
    assert torch.allclose(out.pooled, out.tokens.mean(1))
    assert enc.dim == 24 and enc.modality == "image"
    assert_every_parameter_learns(enc)


def test_patch_encoder():
    torch.manual_seed(0)
    enc = PatchEncoder(dim=32, image_size=32, patch_size=8, n_heads=2, num_layers=2)
    out = enc.encode(pictures())
    assert out.tokens.shape == (3, 1 + 16, 32) and out.mask.all()
    assert torch.equal(out.pooled, out.tokens[:, 0])
    assert_every_parameter_learns(enc)
    with pytest.raises(InputError, match="32x32"):
        enc(pixel_values=torch.zeros(1, 3, 48, 48))
    with pytest.raises(InputError):
        PatchEncoder(image_size=30, patch_size=8)


CLIP_VISION = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    image_size=32,
    patch_size=8,
)


def clip_processor():
    return CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})


def test_clip_vision_model(tmp_path):
    torch.manual_seed(0)
    model = CLIPVisionModel(CLIPVisionConfig(**CLIP_VISION)).eval()
    model.save_pretrained(tmp_path)
    clip_processor().save_pretrained(tmp_path)
    enc = HFImageEncoder(str(tmp_path))
    batch = enc.preprocess(pictures())
    out = enc(**batch)
    assert enc.dim == 32 and out.tokens.shape == (3, 1 + 16, 32) and out.mask.all()
    with torch.no_grad():
        expected = model(**batch).pooler_output
    assert torch.allclose(out.pooled, expected, atol=1e-5)


def test_clip_with_projection_pooled_is_image_embeds(tmp_path):
    torch.manual_seed(0)
    model = CLIPVisionModelWithProjection(CLIPVisionConfig(**CLIP_VISION, projection_dim=16)).eval()
    model.save_pretrained(tmp_path)
    clip_processor().save_pretrained(tmp_path)
    enc = HFImageEncoder(str(tmp_path))
    batch = enc.preprocess(pictures())
    out = enc(**batch)
    assert enc.dim == 16 and out.tokens.shape == (3, 17, 16) and out.pooled.shape == (3, 16)
    with torch.no_grad():
        expected = model(**batch).image_embeds
    assert torch.allclose(out.pooled, expected, atol=1e-5)


def test_full_clip_model_uses_its_vision_tower(tmp_path):
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4),
        vision_config=CLIP_VISION,
        projection_dim=16,
    )
    model = CLIPModel(config).eval()
    model.save_pretrained(tmp_path)
    clip_processor().save_pretrained(tmp_path)
    enc = HFImageEncoder(str(tmp_path))
    batch = enc.preprocess(pictures())
    with torch.no_grad():
        out = enc(**batch)
        vision = model.vision_model(pixel_values=batch["pixel_values"]).pooler_output
        expected = model.visual_projection(vision)
    assert enc.dim == 16 and out.tokens.shape == (3, 17, 16)
    assert torch.allclose(out.pooled, expected, atol=1e-5)
    assert not any("text" in name for name, _ in enc.named_parameters())


def vit_config():
    return ViTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        image_size=32,
        patch_size=8,
    )


@pytest.mark.parametrize("with_pooler", [True, False])
def test_vit_pools_with_trained_pooler_else_cls(tmp_path, with_pooler):
    torch.manual_seed(0)
    model = ViTModel(vit_config(), add_pooling_layer=with_pooler).eval()
    model.save_pretrained(tmp_path)
    ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    enc = HFImageEncoder(str(tmp_path))
    batch = enc.preprocess(pictures())
    out = enc(**batch)
    assert enc.dim == 32 and out.tokens.shape == (3, 17, 32) and out.mask.all()
    with torch.no_grad():
        reference = model(**batch)
    assert torch.allclose(out.tokens, reference.last_hidden_state, atol=1e-5)
    expected = reference.pooler_output if with_pooler else reference.last_hidden_state[:, 0]
    assert torch.allclose(out.pooled, expected, atol=1e-5)
    assert torch.allclose(HFImageEncoder(str(tmp_path), pooling="mean")(**batch).pooled, out.tokens.mean(1))


def test_resnet_feature_map_becomes_tokens(tmp_path):
    torch.manual_seed(0)
    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic")
    ResNetModel(config).eval().save_pretrained(tmp_path)
    ConvNextImageProcessorPil(size={"shortest_edge": 32}, crop_pct=1.0).save_pretrained(tmp_path)
    enc = HFImageEncoder(str(tmp_path))
    batch = enc.preprocess(pictures())
    assert batch["pixel_values"].shape == (3, 3, 32, 32)
    out = enc(**batch)
    # 32 px / stem stride 4 / one stride-2 stage = a 4x4 map of 16 channels
    assert enc.dim == 16 and out.tokens.shape == (3, 16, 16) and out.pooled.shape == (3, 16)
    assert torch.allclose(out.pooled, out.tokens.mean(1), atol=1e-5)  # ResNet's pooler is an average pool
    with pytest.raises(InputError, match="cls"):
        HFImageEncoder(str(tmp_path), pooling="cls")(**batch)


def test_unknown_model_is_an_input_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="no such file"):
        HFImageEncoder(str(tmp_path / "does-not-exist"))
    with pytest.raises(InputError, match="no-such-org/no-such-model"):
        HFImageEncoder("no-such-org/no-such-model")
