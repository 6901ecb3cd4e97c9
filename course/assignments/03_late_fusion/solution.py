"""Assignment 3: decision-level (late) fusion, P = softmax(sum_i w_i z_i) (seed 001 §4.3)."""

import torch


def normalise_weights(weights):
    """A list of positive numbers -> a tensor of the same length that sums to 1."""
    # BEGIN SOLUTION
    w = torch.as_tensor(weights, dtype=torch.float32)
    if (w <= 0).any():
        raise ValueError("weights must be positive")
    return w / w.sum()
    # END SOLUTION


def late_fusion(logits, weights):
    """logits: a list with one (B, C) tensor per modality, or None where a modality is missing.
    weights: one positive number per modality. Missing modalities are dropped and the remaining weights
    renormalised. Returns the fused probabilities (B, C) = softmax(sum_i w_i z_i)."""
    # BEGIN SOLUTION
    present = [i for i, z in enumerate(logits) if z is not None]
    if not present:
        raise ValueError("at least one modality is needed")
    w = normalise_weights([weights[i] for i in present])
    fused = sum(w[j] * logits[i] for j, i in enumerate(present))
    return torch.softmax(fused, dim=-1)
    # END SOLUTION
