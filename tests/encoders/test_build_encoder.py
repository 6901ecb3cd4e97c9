"""build_encoder: one factory for every modality, short names and Hugging Face ids / folders."""

import pytest
import torch
from transformers import CLIPImageProcessorPil, CLIPVisionConfig, CLIPVisionModel

from mmkit.encoders import (
    AudioEncoder,
    HFImageEncoder,
    HFTextEncoder,
    PatchEncoder,
    SmallCNNEncoder,
    TextTransformerEncoder,
    build_encoder,
)
from mmkit.errors import InputError


def test_short_names_build_our_encoders_with_keywords():
    assert isinstance(build_encoder("image"), SmallCNNEncoder)
    patch = build_encoder("image", "patch", dim=16, image_size=16, patch_size=8, n_heads=2, num_layers=1)
    assert isinstance(patch, PatchEncoder) and patch.dim == 16
    assert isinstance(build_encoder("audio", dim=16, n_heads=2, num_layers=1), AudioEncoder)
    text = build_encoder("text", "transformer", dim=16, n_heads=2, num_layers=1)
    assert isinstance(text, TextTransformerEncoder) and text.modality == "text"


def test_minilm_by_name():
    enc = build_encoder("text", "minilm")
    assert isinstance(enc, HFTextEncoder) and enc.dim == 384 and not enc.training


def test_hf_folder_goes_to_the_hf_encoder(tmp_path):
    config = CLIPVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=16,
        patch_size=8,
    )
    CLIPVisionModel(config).save_pretrained(tmp_path)
    CLIPImageProcessorPil(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16}).save_pretrained(
        tmp_path
    )
    enc = build_encoder("image", str(tmp_path))
    assert isinstance(enc, HFImageEncoder) and enc.dim == 16
    from PIL import Image

    out = enc.encode([Image.new("L", (20, 10), 128)])
    assert out.tokens.shape == (1, 5, 16) and out.pooled.dtype == torch.float32


def test_unknown_modality_or_audio_hub_id_is_an_input_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="modality"):
        build_encoder("video")
    with pytest.raises(InputError, match="transformer"):
        build_encoder("audio", "openai/whisper-tiny")
    with pytest.raises(InputError, match="no-such-org"):
        build_encoder("text", "no-such-org/no-such-model")
