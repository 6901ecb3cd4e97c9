import pytest
import torch
from submission import MultiHeadSelfAttention
from test_public import copy_into_torch


def test_without_mask_matches_torch():
    torch.manual_seed(2)
    ours = MultiHeadSelfAttention(12, 3)
    ref = copy_into_torch(ours, 12, 3)
    x = torch.randn(3, 4, 12)
    assert torch.allclose(ours(x, causal=False), ref(x, x, x, need_weights=False)[0], atol=1e-5)


def test_one_head_and_one_token():
    attention = MultiHeadSelfAttention(4, 1)
    assert attention(torch.randn(2, 1, 4)).shape == (2, 1, 4)


def test_indivisible_width_is_refused():
    with pytest.raises(ValueError):
        MultiHeadSelfAttention(10, 3)
