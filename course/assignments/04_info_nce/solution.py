"""Assignment 4: the symmetric InfoNCE (CLIP) contrastive loss, written without a library cross-entropy."""

import torch.nn.functional as F


def info_nce(image_emb, text_emb, temperature=0.07):
    """image_emb, text_emb (B, D), row i of each a matching pair. Embeddings are L2-normalised inside.
    Returns the scalar (CE(image -> texts) + CE(text -> images)) / 2 over logits = sim / temperature,
    where CE is the mean over rows of -log softmax(logits)[i, i]."""
    # BEGIN SOLUTION
    image_emb = F.normalize(image_emb, dim=-1)
    text_emb = F.normalize(text_emb, dim=-1)
    logits = image_emb @ text_emb.T / temperature  # (B, B); the diagonal holds the matching pairs
    image_to_text = -logits.log_softmax(dim=1).diagonal().mean()
    text_to_image = -logits.log_softmax(dim=0).diagonal().mean()
    return (image_to_text + text_to_image) / 2
    # END SOLUTION
