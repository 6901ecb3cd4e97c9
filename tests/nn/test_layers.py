"""Encoder/decoder layers equal torch's with copied weights; feed-forward, stacks and embeddings behave."""

import pytest
import torch
from torch import nn

from mmkit.errors import InputError
from mmkit.nn import (
    FeedForward,
    KVCache,
    LearnedPositionalEmbedding,
    ModalityEmbedding,
    SinusoidalPositionalEncoding,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

ATOL = 1e-5
D, H, FF = 16, 4, 32


def padding(lengths, length):
    """(B, length) bool, True = padding."""
    return torch.arange(length)[None, :] >= torch.tensor(lengths)[:, None]


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("padded", [False, True])
def test_encoder_layer_matches_torch(norm_first, activation, padded):
    torch.manual_seed(0)
    ref = nn.TransformerEncoderLayer(
        D, H, FF, dropout=0.0, activation=activation, norm_first=norm_first, batch_first=True
    ).eval()
    ours = (
        TransformerEncoderLayer(D, H, FF, dropout=0.0, activation=activation, norm_first=norm_first)
        .load_torch_weights(ref)
        .eval()
    )
    x = torch.randn(3, 7, D)
    kpm = padding([7, 4, 2], 7) if padded else None
    # Autograd is on, so torch takes its reference (non-fused) path.
    expected = ref(x, src_key_padding_mask=kpm)
    got = ours(x, key_padding_mask=kpm, need_weights=True)
    assert (got - expected).abs().max() <= ATOL
    assert ours.last_attn_weights.shape == (3, H, 7, 7)
    assert (ours(x, key_padding_mask=kpm) - expected).abs().max() <= ATOL


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_causal_matches_torch(norm_first):
    torch.manual_seed(1)
    ref = nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, norm_first=norm_first, batch_first=True).eval()
    ours = (
        TransformerEncoderLayer(D, H, FF, dropout=0.0, norm_first=norm_first).load_torch_weights(ref).eval()
    )
    x = torch.randn(2, 6, D)
    mask = nn.Transformer.generate_square_subsequent_mask(6)
    expected = ref(x, src_mask=mask, is_causal=True)
    assert (ours(x, is_causal=True) - expected).abs().max() <= ATOL
    assert (ours(x, attn_mask=mask) - expected).abs().max() <= ATOL


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_decoder_layer_matches_torch(norm_first, padded):
    torch.manual_seed(2)
    ref = nn.TransformerDecoderLayer(
        D, H, FF, dropout=0.0, activation="gelu", norm_first=norm_first, batch_first=True
    ).eval()
    ours = (
        TransformerDecoderLayer(D, H, FF, dropout=0.0, activation="gelu", norm_first=norm_first)
        .load_torch_weights(ref)
        .eval()
    )
    x, memory = torch.randn(3, 6, D), torch.randn(3, 9, D)
    tgt_kpm = padding([6, 5, 3], 6) if padded else None
    mem_kpm = padding([9, 4, 7], 9) if padded else None
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(6)
    if padded:  # one mask type for both, as torch asks
        tgt_mask = tgt_mask.isinf()
    expected = ref(
        x,
        memory,
        tgt_mask=tgt_mask,
        tgt_key_padding_mask=tgt_kpm,
        memory_key_padding_mask=mem_kpm,
        tgt_is_causal=True,
    )
    got = ours(x, memory, tgt_key_padding_mask=tgt_kpm, memory_key_padding_mask=mem_kpm, need_weights=True)
    assert (got - expected).abs().max() <= ATOL
    w = ours.last_cross_attn_weights
    assert w.shape == (3, H, 6, 9)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, H, 6), atol=ATOL, rtol=0)
    if padded:
        assert (w[1, :, :, 4:] == 0).all()


def test_decoder_layer_keeps_cross_attention_weights_until_the_next_call_that_asks():
    layer = TransformerDecoderLayer(D, H, FF, dropout=0.0).eval()
    x, memory = torch.randn(2, 5, D), torch.randn(2, 7, D)
    layer(x, memory, need_weights=True)
    kept = layer.last_cross_attn_weights
    layer(torch.randn(4, 3, D), torch.randn(4, 7, D))  # e.g. another thread's generation step
    assert layer.last_cross_attn_weights is kept and kept.shape == (2, H, 5, 7)


def test_decoder_layer_with_memory_dim():
    layer = TransformerDecoderLayer(D, H, FF, dropout=0.0, memory_dim=24).eval()
    out = layer(torch.randn(2, 5, D), torch.randn(2, 8, 24))
    assert out.shape == (2, 5, D)


def test_feedforward_shapes_and_bad_activation():
    ff = FeedForward(D, FF, activation="gelu")
    assert ff(torch.randn(2, 3, D)).shape == (2, 3, D)
    with pytest.raises(InputError, match="activation"):
        FeedForward(D, FF, activation="swish")


def test_encoder_stack_padding_does_not_leak():
    torch.manual_seed(3)
    enc = TransformerEncoder(D, H, num_layers=2).eval()
    assert isinstance(enc.norm, nn.LayerNorm) and enc.layers[0].ff.linear1.out_features == 4 * D
    x = torch.randn(2, 6, D)
    kpm = padding([4, 6], 6)
    y = x.clone()
    y[0, 4:] = 100.0  # what sits in padded positions must not change real ones
    a, b = enc(x, key_padding_mask=kpm), enc(y, key_padding_mask=kpm)
    assert (a[0, :4] - b[0, :4]).abs().max() <= ATOL
    assert (a[1] - b[1]).abs().max() == 0
    # Post-norm stacks have no final norm: the last layer already normalised.
    assert isinstance(TransformerEncoder(D, H, 1, norm_first=False).norm, nn.Identity)


def test_decoder_stack_causal_and_cache():
    torch.manual_seed(4)
    dec = TransformerDecoder(D, H, num_layers=2, memory_dim=12).eval()
    x, memory = torch.randn(2, 7, D), torch.randn(2, 5, 12)
    mem_kpm = padding([5, 3], 5)
    full = dec(x, memory, memory_key_padding_mask=mem_kpm, need_weights=True)
    assert [w.shape for w in dec.cross_attn_weights] == [(2, H, 7, 5)] * 2
    # The future does not reach the past.
    y = x.clone()
    y[:, 5:] = torch.randn(2, 2, D)
    assert (dec(y, memory, memory_key_padding_mask=mem_kpm)[:, :5] - full[:, :5]).abs().max() <= ATOL
    # Prompt of 3, then one position at a time through the cache.
    cache = KVCache()
    parts = [dec(x[:, :3], memory, memory_key_padding_mask=mem_kpm, cache=cache)]
    for t in range(3, 7):
        parts.append(dec(x[:, t : t + 1], memory, memory_key_padding_mask=mem_kpm, cache=cache))
    assert cache.seq_len == 7 and len(cache.cross_attn) == 2
    assert (torch.cat(parts, dim=1) - full).abs().max() <= ATOL


def test_layers_gradients_reach_every_parameter():
    for module, args in (
        (TransformerEncoder(D, H, 2, dropout=0.1), (torch.randn(2, 5, D),)),
        (
            TransformerDecoder(D, H, 2, dropout=0.1, memory_dim=12),
            (torch.randn(2, 5, D), torch.randn(2, 3, 12)),
        ),
    ):
        module.train()
        module(*args).square().sum().backward()
        for name, p in module.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_sinusoidal_encoding_values_and_offset():
    pe = SinusoidalPositionalEncoding(8, max_len=32)
    x = torch.zeros(1, 4, 8)
    out = pe(x)
    assert torch.allclose(out[0, 0], torch.tensor([0.0, 1.0] * 4))
    assert torch.allclose(
        out[0, 3, :2], torch.tensor([torch.sin(torch.tensor(3.0)), torch.cos(torch.tensor(3.0))])
    )
    assert torch.allclose(out[0, 1, 2], torch.sin(torch.tensor(1 / 10000 ** (2 / 8))))
    assert torch.equal(pe(x[:, :2], offset=2), out[:, 2:])
    assert "pe" not in pe.state_dict()
    assert SinusoidalPositionalEncoding(7, max_len=4)(torch.zeros(1, 4, 7)).shape == (1, 4, 7)
    with pytest.raises(InputError, match="max_len"):
        pe(torch.zeros(1, 4, 8), offset=30)


def test_learned_positions_offset_and_explicit_positions():
    pos = LearnedPositionalEmbedding(10, 4)
    x = torch.zeros(2, 3, 4)
    assert torch.equal(pos(x), pos.weight[:3].expand(2, 3, 4))
    assert torch.equal(pos(x, offset=5), pos.weight[5:8].expand(2, 3, 4))
    positions = torch.tensor([[0, 0, 1], [0, 1, 2]])
    assert torch.equal(pos(x, positions=positions)[0, 2], pos.weight[1])
    with pytest.raises(InputError, match="max_len"):
        pos(x, offset=8)


def test_modality_embedding_adds_one_vector_per_modality():
    emb = ModalityEmbedding(3, 4)
    x = torch.randn(2, 5, 4)
    out = emb(x, modality=1)
    assert torch.allclose(out - x, emb.weight[1].expand(2, 5, 4))
    assert not torch.allclose(emb(x, 0), emb(x, 2))
    with pytest.raises(InputError, match="modality"):
        emb(x, 3)
