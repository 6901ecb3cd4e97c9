import pytest
import torch
from submission import absmax_quantize, dequantize, int8_linear


def test_zero_row_and_dtype_of_input():
    w = torch.zeros(2, 4, dtype=torch.float16)
    w[1] = torch.tensor([0.5, -1.0, 0.25, 0.0], dtype=torch.float16)
    q, scale = absmax_quantize(w)
    assert torch.equal(q[0], torch.zeros(4, dtype=torch.int8)) and torch.isfinite(scale).all()
    assert torch.allclose(dequantize(q, scale)[1], w[1].float(), atol=1.0 / 254 + 1e-6)


def test_int8_linear_close_to_float_linear():
    torch.manual_seed(2)
    layer = torch.nn.Linear(64, 32)
    x = torch.randn(8, 64)
    q, scale = absmax_quantize(layer.weight.detach())
    out = int8_linear(x, q, scale, layer.bias.detach())
    expected = layer(x).detach()
    assert out.shape == (8, 32)
    assert (out - expected).abs().max() < 0.05 * expected.abs().max()


def test_agrees_with_bitsandbytes():
    functional = pytest.importorskip("bitsandbytes.functional")
    torch.manual_seed(3)
    w = torch.randn(12, 40)
    q, scale = absmax_quantize(w)
    bnb_q, row_absmax, _ = functional.int8_vectorwise_quant(w)
    assert torch.allclose(scale.squeeze(1) * 127, row_absmax, rtol=1e-5)
    assert (q.int() - bnb_q.int()).abs().max() <= 1  # rounding of exact halves may differ
    assert (q == bnb_q).float().mean() > 0.99
