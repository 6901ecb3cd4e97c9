"""Assignment 1: scaled dot-product attention, softmax(Q K^T / sqrt(d_k) + mask) V."""

import math

import torch


def scaled_dot_product_attention(q, k, v, mask=None):
    """q (..., Lq, d_k), k (..., Lk, d_k), v (..., Lk, d_v); mask bool (True = may attend), broadcastable to
    (..., Lq, Lk). Returns (output (..., Lq, d_v), weights (..., Lq, Lk))."""
    # BEGIN SOLUTION
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
    # END SOLUTION
