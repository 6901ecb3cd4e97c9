"""Assignment 4: the symmetric InfoNCE (CLIP) contrastive loss."""

import torch
import torch.nn.functional as F


def info_nce(image_emb, text_emb, temperature=0.07):
    """image_emb, text_emb (B, D), row i of each a matching pair. Embeddings are L2-normalised inside.
    Returns the scalar (CE(image -> texts) + CE(text -> images)) / 2 over logits = sim / temperature."""
    # BEGIN SOLUTION
    image_emb = F.normalize(image_emb, dim=-1)
    text_emb = F.normalize(text_emb, dim=-1)
    logits = image_emb @ text_emb.T / temperature
    target = torch.arange(len(logits))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    # END SOLUTION
