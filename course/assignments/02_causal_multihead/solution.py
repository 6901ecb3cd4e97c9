"""Assignment 2: multi-head self-attention with a causal mask."""

import math

import torch
from torch import nn


def causal_mask(n):
    """Bool (n, n): True where query i may attend to key j, i.e. j <= i."""
    # BEGIN SOLUTION
    return torch.ones(n, n, dtype=torch.bool).tril()
    # END SOLUTION


class MultiHeadSelfAttention(nn.Module):
    """x (B, L, D) -> (B, L, D). Projections q_proj, k_proj, v_proj, out_proj are nn.Linear(D, D)."""

    def __init__(self, d_model, n_heads):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.q_proj, self.k_proj = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)
        self.v_proj, self.out_proj = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)

    def forward(self, x, causal=True):
        # BEGIN SOLUTION
        b, length, d = x.shape

        def heads(t):  # (B, L, D) -> (B, H, L, d_head)
            return t.view(b, length, self.n_heads, self.d_head).transpose(1, 2)

        q, k, v = heads(self.q_proj(x)), heads(self.k_proj(x)), heads(self.v_proj(x))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)
        if causal:
            scores = scores.masked_fill(~causal_mask(length).to(x.device), float("-inf"))
        out = torch.softmax(scores, dim=-1) @ v  # (B, H, L, d_head)
        return self.out_proj(out.transpose(1, 2).reshape(b, length, d))
        # END SOLUTION
