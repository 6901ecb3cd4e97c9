"""Our attention equals PyTorch's: F.scaled_dot_product_attention and nn.MultiheadAttention with copied weights."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmkit.errors import InputError
from mmkit.nn import KVCache, MultiHeadAttention, causal_mask, scaled_dot_product_attention

ATOL = 1e-5


def qkv(b=2, h=3, lq=5, lk=7, dk=8, dv=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(b, h, lq, dk, generator=g),
        torch.randn(b, h, lk, dk, generator=g),
        torch.randn(b, h, lk, dv, generator=g),
    )


@pytest.mark.parametrize("kind", ["none", "bool", "float", "causal", "bool4d"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_sdpa_matches_torch(kind, need_weights):
    lk = 5 if kind == "causal" else 7
    q, k, v = qkv(lk=lk)
    mask, ref_kwargs = None, {}
    if kind == "bool":
        mask = torch.rand(5, 7, generator=torch.Generator().manual_seed(1)) > 0.3
        mask[:, 0] = True  # every query sees at least one key
    elif kind == "bool4d":
        mask = torch.rand(2, 1, 5, 7, generator=torch.Generator().manual_seed(2)) > 0.5
        mask[..., 0] = True
    elif kind == "float":
        mask = torch.randn(2, 3, 5, 7, generator=torch.Generator().manual_seed(3))
    ref_kwargs = {"is_causal": True} if kind == "causal" else {"attn_mask": mask}
    out, weights = scaled_dot_product_attention(
        q, k, v, mask=mask, is_causal=kind == "causal", need_weights=need_weights
    )
    ref = F.scaled_dot_product_attention(q, k, v, **ref_kwargs)
    assert out.shape == (2, 3, 5, 6)
    assert (out - ref).abs().max() <= ATOL
    if need_weights:
        assert weights.shape == (2, 3, 5, lk)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 5), atol=ATOL, rtol=0)
        if mask is not None and mask.dtype == torch.bool:
            assert (weights.masked_select(~mask.expand_as(weights)) == 0).all()
    else:
        assert weights is None


def test_sdpa_causal_weights_are_lower_triangular_and_cache_aligned():
    q, k, v = qkv(lq=4, lk=4)
    _, w = scaled_dot_product_attention(q, k, v, is_causal=True)
    assert (w.triu(1) == 0).all()
    # Two new queries over six keys (four cached): bottom-right alignment lets query 0 see keys 0..4.
    assert causal_mask(2, 6).tolist() == [[True] * 5 + [False], [True] * 6]
    q2, k2, v2 = qkv(lq=2, lk=6)
    a, _ = scaled_dot_product_attention(q2, k2, v2, is_causal=True, need_weights=True)
    b, _ = scaled_dot_product_attention(q2, k2, v2, is_causal=True, need_weights=False)
    assert (a - b).abs().max() <= ATOL


def test_sdpa_fully_masked_row_is_zero_not_nan():
    q, k, v = qkv()
    mask = torch.ones(5, 7, dtype=torch.bool)
    mask[2] = False
    for need_weights in (True, False):
        out, w = scaled_dot_product_attention(q, k, v, mask=mask, need_weights=need_weights)
        assert not out.isnan().any()
        assert (out[:, :, 2] == 0).all()
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert (out - ref).abs().max() <= ATOL


def pair(d=16, h=4, kdim=None, vdim=None, bias=True, seed=0):
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(d, h, bias=bias, kdim=kdim, vdim=vdim, batch_first=True)
    ours = MultiHeadAttention(d, h, bias=bias, kdim=kdim, vdim=vdim).load_torch_weights(ref)
    return ours, ref


def padding(b, length, lengths):
    """(b, length) bool, True from lengths[i] on (torch's key_padding_mask convention)."""
    return torch.arange(length)[None, :] >= torch.tensor(lengths)[:, None]


CASES = {
    "self": dict(),
    "self_padded": dict(kpm=True),
    "self_attn_mask_bool": dict(attn_mask="bool"),
    "self_attn_mask_float": dict(attn_mask="float"),
    "self_attn_mask_3d": dict(attn_mask="3d"),
    "self_causal": dict(causal=True),
    "self_causal_padded": dict(causal=True, kpm=True),
    "cross": dict(cross=True),
    "cross_padded": dict(cross=True, kpm=True),
    "cross_kdim_vdim": dict(cross=True, kdim=12, vdim=20, kpm=True),
    "no_bias": dict(bias=False, kpm=True),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("need_weights", [False, True])
def test_mha_matches_torch(case, batch, need_weights):
    c = CASES[case]
    d, h, lq = 16, 4, 6
    lk = 9 if c.get("cross") else lq
    ours, ref = pair(d, h, c.get("kdim"), c.get("vdim"), c.get("bias", True))
    g = torch.Generator().manual_seed(7)
    x = torch.randn(batch, lq, d, generator=g)
    key = torch.randn(batch, lk, c.get("kdim") or d, generator=g) if c.get("cross") else x
    value = torch.randn(batch, lk, c.get("vdim") or d, generator=g) if c.get("cross") else x
    kpm = padding(batch, lk, [lk - 2 * (i % 2) - 1 for i in range(batch)]) if c.get("kpm") else None
    attn_mask = None
    if c.get("attn_mask") == "bool":
        attn_mask = torch.rand(lq, lk, generator=g) > 0.6  # True = blocked
        attn_mask[:, 0] = False
    elif c.get("attn_mask") == "float":
        attn_mask = torch.randn(lq, lk, generator=g)
    elif c.get("attn_mask") == "3d":
        attn_mask = torch.rand(batch * h, lq, lk, generator=g) > 0.6
        attn_mask[..., 0] = False
    causal = c.get("causal", False)
    ref_mask = torch.ones(lq, lq, dtype=torch.bool).triu(1) if causal else attn_mask

    ref_out, ref_w = ref(
        x, key, value, key_padding_mask=kpm, attn_mask=ref_mask, need_weights=need_weights, is_causal=causal
    )
    out, w = ours(
        x,
        None if key is x else key,
        None if value is x else value,
        key_padding_mask=kpm,
        attn_mask=attn_mask,
        is_causal=causal,
        need_weights=need_weights,
    )
    assert out.shape == (batch, lq, d)
    assert (out - ref_out).abs().max() <= ATOL
    if need_weights:
        assert w.shape == (batch, lq, lk)
        assert (w - ref_w).abs().max() <= ATOL
        _, per_head = ours(
            x,
            None if key is x else key,
            None if value is x else value,
            key_padding_mask=kpm,
            attn_mask=attn_mask,
            is_causal=causal,
            need_weights=True,
            average_attn_weights=False,
        )
        _, ref_per_head = ref(
            x,
            key,
            value,
            key_padding_mask=kpm,
            attn_mask=ref_mask,
            is_causal=causal,
            average_attn_weights=False,
        )
        assert per_head.shape == (batch, h, lq, lk)
        assert (per_head - ref_per_head).abs().max() <= ATOL
    else:
        assert w is None


def test_mha_fused_and_explicit_paths_agree():
    ours, _ = pair()
    x = torch.randn(2, 5, 16)
    kpm = padding(2, 5, [5, 3])
    fused, _ = ours(x, key_padding_mask=kpm, is_causal=True, need_weights=False)
    explicit, _ = ours(x, key_padding_mask=kpm, is_causal=True, need_weights=True)
    assert (fused - explicit).abs().max() <= ATOL


def test_mha_matches_torch_inference_fast_path():
    ours, ref = pair()
    ref.eval()
    x = torch.randn(3, 6, 16)
    with torch.inference_mode():
        ref_out, _ = ref(x, x, x, need_weights=False)
        out, _ = ours(x)
    assert (out - ref_out).abs().max() <= ATOL


def test_mha_causal_mask_blocks_the_future():
    ours, _ = pair()
    x = torch.randn(2, 6, 16)
    y = x.clone()
    y[:, 4:] = torch.randn(2, 2, 16)  # change positions 4 and 5
    a, _ = ours(x, is_causal=True)
    b, _ = ours(y, is_causal=True)
    assert (a[:, :4] - b[:, :4]).abs().max() == 0
    assert (a[:, 4:] - b[:, 4:]).abs().max() > 1e-3


@pytest.mark.parametrize("need_weights", [False, True])
def test_mha_self_attention_cache_equals_full(need_weights):
    ours, _ = pair()
    x = torch.randn(2, 7, 16)
    full, _ = ours(x, is_causal=True)
    cache = KVCache()
    first, _ = ours(x[:, :3], is_causal=True, cache=cache, need_weights=need_weights)
    steps = [first] + [
        ours(x[:, t : t + 1], is_causal=True, cache=cache, need_weights=need_weights)[0] for t in range(3, 7)
    ]
    assert cache.seq_len == 7
    assert (torch.cat(steps, dim=1) - full).abs().max() <= ATOL


def test_mha_cross_attention_cache_computes_memory_once():
    ours, _ = pair(kdim=12, vdim=12)
    x, memory = torch.randn(2, 4, 16), torch.randn(2, 9, 12)
    full, _ = ours(x, memory)
    cache = KVCache()
    a, _ = ours(x[:, :2], memory, cache=cache)
    # A different memory is ignored once the cache holds one: the keys were computed on the first call.
    b, _ = ours(x[:, 2:], torch.zeros_like(memory), cache=cache)
    assert (torch.cat([a, b], 1) - full).abs().max() <= ATOL
    assert cache.seq_len == 0 and len(cache.cross_attn) == 1


def test_kv_cache_reorder_selects_rows():
    ours, _ = pair()
    cache = KVCache()
    x = torch.randn(3, 4, 16)
    ours(x, cache=cache)
    k_before = next(iter(cache.self_attn.values()))[0]
    cache.reorder(torch.tensor([2, 2, 0]))
    k_after = next(iter(cache.self_attn.values()))[0]
    assert torch.equal(k_after, k_before[[2, 2, 0]])


def test_mha_rejects_bad_shapes():
    with pytest.raises(InputError, match="divisible"):
        MultiHeadAttention(10, 3)
    ours, _ = pair()
    with pytest.raises(InputError, match="key_padding_mask"):
        ours(torch.randn(2, 5, 16), key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))


def test_mha_gradients_reach_every_parameter():
    ours, _ = pair(kdim=12, vdim=20)
    out, _ = ours(torch.randn(2, 3, 16), torch.randn(2, 5, 12), torch.randn(2, 5, 20))
    out.square().sum().backward()
    for name, p in ours.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
