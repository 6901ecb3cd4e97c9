import torch
from submission import absmax_quantize, dequantize, int8_linear


def test_types_range_and_scale():
    torch.manual_seed(0)
    w = torch.randn(6, 10)
    q, scale = absmax_quantize(w)
    assert q.dtype == torch.int8 and q.shape == (6, 10)
    assert scale.dtype == torch.float32 and scale.shape == (6, 1)
    assert int(q.abs().max()) == 127
    assert torch.allclose(scale.squeeze(1), w.abs().amax(1) / 127)


def test_error_is_at_most_half_a_step():
    torch.manual_seed(1)
    w = 3 * torch.randn(16, 32)
    q, scale = absmax_quantize(w)
    error = (dequantize(q, scale) - w).abs()
    assert (error <= scale / 2 + 1e-6).all()


def test_hand_example():
    q, scale = absmax_quantize(torch.tensor([[1.27, -0.635, 0.0]]))
    assert q.tolist() == [[127, -64, 0]] or q.tolist() == [[127, -63, 0]]  # -63.5 rounds either way
    assert abs(float(scale) - 0.01) < 1e-7
    assert torch.allclose(int8_linear(torch.ones(1, 3), q, scale), torch.tensor([[0.64]]), atol=0.011)
