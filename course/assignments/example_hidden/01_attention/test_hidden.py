import math

import torch
import torch.nn.functional as F
from submission import scaled_dot_product_attention


def test_heads_dimension_and_causal_mask():
    torch.manual_seed(3)
    q, k, v = (torch.randn(2, 3, 6, 8) for _ in range(3))
    mask = torch.ones(6, 6, dtype=torch.bool).tril()
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-5)


def test_scaled_by_square_root_of_d_k():
    q = torch.tensor([[[1.0, 1.0, 1.0, 1.0]]])
    k = torch.tensor([[[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]])
    v = torch.tensor([[[1.0], [0.0]]])
    _, weights = scaled_dot_product_attention(q, k, v)
    expected = math.exp(4 / 2) / (math.exp(4 / 2) + 1)
    assert abs(float(weights[0, 0, 0]) - expected) < 1e-6


def test_gradients_flow():
    q, k, v = (torch.randn(1, 4, 4, requires_grad=True) for _ in range(3))
    scaled_dot_product_attention(q, k, v)[0].sum().backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in (q, v))
