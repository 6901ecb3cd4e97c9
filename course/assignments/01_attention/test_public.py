import torch
import torch.nn.functional as F
from submission import scaled_dot_product_attention


def test_matches_pytorch_without_mask():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 5, 8), torch.randn(2, 7, 8), torch.randn(2, 7, 4)
    out, weights = scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 5, 4) and weights.shape == (2, 5, 7)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v), atol=1e-5)


def test_weights_are_a_distribution():
    torch.manual_seed(1)
    q, k, v = torch.randn(3, 4, 6), torch.randn(3, 4, 6), torch.randn(3, 4, 6)
    _, weights = scaled_dot_product_attention(q, k, v)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 4), atol=1e-6)
    assert (weights >= 0).all()


def test_mask_blocks_keys():
    torch.manual_seed(2)
    q, k, v = torch.randn(1, 3, 4), torch.randn(1, 3, 4), torch.randn(1, 3, 4)
    mask = torch.tensor([[True, False, True]] * 3)
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert torch.all(weights[..., 1] == 0)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-5)
