"""Assignment 8: absmax int8 quantization of a weight matrix, one scale per row (what LLM.int8() does)."""

import torch


def absmax_quantize(w):
    """w (R, C) float -> (q (R, C) int8 in [-127, 127], scale (R, 1) float32) with q = round(w / scale) and
    scale = max|w_row| / 127. An all-zero row gets scale 1 and q = 0 (no division by zero)."""
    # BEGIN SOLUTION
    w = w.float()
    absmax = w.abs().amax(dim=1, keepdim=True)
    scale = torch.where(absmax > 0, absmax / 127, torch.ones_like(absmax))
    q = torch.round(w / scale).clamp(-127, 127).to(torch.int8)
    return q, scale
    # END SOLUTION


def dequantize(q, scale):
    """(R, C) int8, (R, 1) float32 -> (R, C) float32 approximation of the original w."""
    # BEGIN SOLUTION
    return q.float() * scale
    # END SOLUTION


def int8_linear(x, q, scale, bias=None):
    """x (B, C) float @ dequantize(q, scale).T (+ bias (R,)) -> (B, R): a linear layer with int8 weights."""
    # BEGIN SOLUTION
    out = x.float() @ dequantize(q, scale).T
    return out if bias is None else out + bias
    # END SOLUTION
