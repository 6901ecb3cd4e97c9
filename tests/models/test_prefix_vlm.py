import copy

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from mmkit.datasets import emoji
from mmkit.encoders import PatchEncoder
from mmkit.errors import InputError
from mmkit.models.captioner import CaptionTokenizer
from mmkit.models.prefix_vlm import PrefixVLM
from mmkit.nn import CausalLM, CausalLMConfig

NAMES = ["red apple", "dog face", "cat face", "grinning face", "pizza", "birthday cake", "rocket", "ghost"]
N_IMAGE = 1 + (16 // 8) ** 2  # PatchEncoder: [CLS] + 2 x 2 patches


def _model(train: str = "projector", freeze_encoder: bool = True, seed: int = 0) -> PrefixVLM:
    torch.manual_seed(seed)
    tokenizer = CaptionTokenizer.build(NAMES, ["红苹果", "狗脸"])
    encoder = PatchEncoder(dim=32, image_size=16, patch_size=8, n_heads=2, num_layers=1)
    lm = CausalLM(CausalLMConfig(vocab_size=len(tokenizer), d_model=32, n_heads=2, num_layers=2, max_len=24))
    return PrefixVLM(encoder, lm, tokenizer, encoder_dim=32, image_size=16, freeze_encoder=freeze_encoder,
                     train=train)


def _batch(model: PrefixVLM, texts=("red apple", "birthday cake", "pizza")):
    ids, labels = model.encode_captions(list(texts))
    return torch.randn(len(texts), 3, 16, 16, generator=torch.Generator().manual_seed(1)), ids, labels


def _step(model: PrefixVLM) -> None:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model(*_batch(model)).loss.backward()
    optimizer.step()


def test_shapes_and_labels():
    model = _model()
    pixels, ids, labels = _batch(model)
    assert model.image_tokens(pixels).shape == (3, N_IMAGE, 32)
    assert model(pixels, ids).logits.shape == (3, N_IMAGE + ids.shape[1], len(model.tokenizer))
    # [<en>, pizza, <eos>, <pad>]: the prompt and the padding are not learned, the caption and <eos> are.
    assert ids[2, -1] == model.tokenizer.pad_id and ids[2, 2] == model.tokenizer.eos_id
    assert labels[2].tolist() == [-100, *ids[2, 1:3].tolist(), -100]


def test_loss_scores_only_the_caption():
    model = _model()
    pixels, ids, labels = _batch(model)
    logits = model(pixels, ids).logits.detach()
    loss = model.loss_from_logits(logits, labels)
    # Position t predicts token t + 1: positions 0 .. N_IMAGE - 1 predict image tokens and the prompt.
    noisy = logits.clone()
    noisy[:, :N_IMAGE] += 5 * torch.randn_like(noisy[:, :N_IMAGE])
    noisy[2, N_IMAGE + 2 :] += 5 * torch.randn_like(noisy[2, N_IMAGE + 2 :])  # after "pizza <eos>": padding
    assert torch.equal(model.loss_from_logits(noisy, labels), loss)
    noisy[1, N_IMAGE] += 5 * torch.randn_like(noisy[1, N_IMAGE])  # predicts "birthday": scored
    assert not torch.allclose(model.loss_from_logits(noisy, labels), loss)
    # ... and it is the mean cross-entropy over exactly the caption tokens and <eos>.
    picked = [(b, t) for b in range(3) for t in range(1, ids.shape[1]) if labels[b, t] != -100]
    manual = torch.stack([F.cross_entropy(logits[b, N_IMAGE + t - 1], ids[b, t]) for b, t in picked]).mean()
    torch.testing.assert_close(loss, manual)
    # The image does matter: other pixels, another loss.
    assert not torch.allclose(model(-pixels, ids, labels).loss, model(pixels, ids, labels).loss)


def test_frozen_encoder_and_lm_do_not_change():
    model = _model("projector", freeze_encoder=True)
    before = copy.deepcopy(model.state_dict())
    _step(model)
    for name, value in model.state_dict().items():
        changed = not torch.equal(value, before[name])
        assert changed == name.startswith("projector."), name
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is None for p in model.lm.parameters())
    model.train()
    assert not model.encoder.training and model.lm.training


def test_trained_encoder_and_full_lm_change():
    model = _model("projector+lm", freeze_encoder=False)
    before = copy.deepcopy(model.state_dict())
    _step(model)
    for prefix in ("encoder.", "lm.blocks.", "lm.tok_emb.", "projector."):
        assert any(not torch.equal(v, before[k]) for k, v in model.state_dict().items() if k.startswith(prefix))


def test_lora_adds_only_adapters_and_starts_equal():
    plain, lora = _model("projector"), _model("projector+lora")
    pixels, ids, _ = _batch(plain)
    torch.testing.assert_close(lora(pixels, ids).logits, plain(pixels, ids).logits)  # B = 0 at the start
    trainable = {n: p.numel() for n, p in lora.named_parameters() if p.requires_grad}
    adapters = {n: k for n, k in trainable.items() if not n.startswith("projector.")}
    assert all(".lora_A." in n or ".lora_B." in n for n in adapters)
    # q_proj and v_proj in each of 2 layers, r = 8: A (8 x 32) + B (32 x 8)
    assert sum(adapters.values()) == 2 * 2 * (8 * 32 + 32 * 8)
    base = {n: p.clone() for n, p in lora.named_parameters() if not p.requires_grad}
    _step(lora)
    assert all(torch.equal(p, base[n]) for n, p in lora.named_parameters() if n in base)


def test_generate_with_cache_equals_without():
    model = _model("projector+lm")
    images = [Image.new("RGB", (16, 16), c) for c in ("white", "red", "navy")]
    cached = model.generate(images, max_new_tokens=12)
    assert cached == model.generate(images, max_new_tokens=12, use_cache=False)
    assert any(cached)  # a random model writes words, so the comparison compares something


def test_bad_arguments_are_input_errors():
    with pytest.raises(InputError, match="train must be"):
        _model("everything")
    model = _model()
    with pytest.raises(InputError, match="max_new_tokens"):
        model.generate(Image.new("RGB", (16, 16)), max_new_tokens=40)
    small = CausalLM(CausalLMConfig(vocab_size=5, d_model=32, n_heads=2, num_layers=1))
    with pytest.raises(InputError, match="tokenizer"):
        PrefixVLM(model.encoder, small, model.tokenizer, encoder_dim=32, image_size=16)


@pytest.fixture
def one_thread():
    """Tiny matrices: a second thread only waits on a shared machine (300 steps take ~4 s on one, minutes on two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.skipif(emoji.font_path() is None, reason="Noto Color Emoji is not installed")
def test_learns_to_name_eight_glyphs(one_thread):
    data = emoji.EmojiImageText(split="all", size=16, clean=True)
    images = [data.clean_image(data.index_of(name)) for name in NAMES]
    model = _model("projector+lm", freeze_encoder=False)
    pixels = model.preprocess(images)
    ids, labels = model.encode_captions(NAMES)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    for _ in range(200):
        loss = model(pixels, ids, labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert model.generate(images) == NAMES
