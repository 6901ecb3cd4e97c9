"""Pre-training objectives: causal LM, masked LM, next-sentence prediction, image-text contrast and matching.

Every loss is a plain function of tensors, so a lesson can write out the formula beside it and a model can mix
several of them (ALBEF/BLIP train ITC + ITM + MLM together). Shapes: B batch, L sequence length, V vocabulary,
D embedding size.

- causal LM:  L = -1/N sum_t log p(x_{t+1} | x_<=t), over non-padding targets
- masked LM:  L = -1/|M| sum_{i in M} log p(x_i | x_masked), M = the selected positions
- NSP:        cross-entropy over {continuation, random} for a sentence pair
- ITC:        symmetric InfoNCE, (CE(s·I·Tᵀ, diag) + CE(s·T·Iᵀ, diag)) / 2 on L2-normalised embeddings
- ITM:        binary cross-entropy over matched pairs and hard negatives mined from the ITC similarity
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mmkit.errors import InputError

IGNORE_INDEX = -100


def causal_lm_loss(
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """Next-token cross-entropy: position t predicts token t+1.

    Args:
        logits: (B, L, V) scores for the token after each position.
        input_ids: (B, L) the sequence itself; entries equal to ``ignore_index`` are not scored.
        attention_mask: (B, L) 1 for real tokens, 0 for padding; padded targets are not scored.
    Returns:
        scalar mean over the B·(L-1) targets that are not ignored.
    """
    if logits.shape[:2] != input_ids.shape:
        raise InputError(
            f"logits {tuple(logits.shape)} and input_ids {tuple(input_ids.shape)} disagree on (B, L)."
        )
    targets = input_ids[:, 1:].clone()
    if attention_mask is not None:
        targets[attention_mask[:, 1:] == 0] = ignore_index
    shifted = logits[:, :-1, :]
    return F.cross_entropy(
        shifted.reshape(-1, shifted.size(-1)).float(), targets.reshape(-1), ignore_index=ignore_index
    )


def _mask_spec(tokenizer_or_ids) -> tuple[int, int, list[int]]:
    """(mask_token_id, vocab_size, special_ids) from a tokenizer or from that tuple itself."""
    if isinstance(tokenizer_or_ids, Sequence):
        mask_id, vocab_size, special_ids = tokenizer_or_ids
        return int(mask_id), int(vocab_size), [int(i) for i in special_ids]
    if getattr(tokenizer_or_ids, "mask_token_id", None) is None:
        raise InputError(
            "This tokenizer has no mask token; masked LM needs one (BERT-style tokenizers have [MASK])."
        )
    return tokenizer_or_ids.mask_token_id, len(tokenizer_or_ids), list(tokenizer_or_ids.all_special_ids)


def mask_tokens(
    input_ids: torch.Tensor,
    tokenizer_or_ids,
    mlm_probability: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's corruption: pick ``mlm_probability`` of the non-special tokens; of those 80% -> [MASK],
    10% -> a uniformly random id in [0, V), 10% unchanged.

    Args:
        input_ids: (B, L) token ids; not modified.
        tokenizer_or_ids: a tokenizer (``mask_token_id``, ``len()``, ``all_special_ids``) or the tuple
            ``(mask_token_id, vocab_size, special_ids)``. Special ids (CLS, SEP, PAD, ...) are never picked.
        generator: a ``torch.Generator`` on ``input_ids.device`` for reproducible masks.
    Returns:
        ``(masked_ids, labels)``, both (B, L): labels hold the original id at picked positions, -100
        elsewhere.
    """
    mask_id, vocab_size, special_ids = _mask_spec(tokenizer_or_ids)
    device = input_ids.device

    def coin(p: float) -> torch.Tensor:
        return torch.rand(input_ids.shape, generator=generator, device=device) < p

    special = torch.isin(input_ids, torch.tensor(special_ids, dtype=input_ids.dtype, device=device))
    picked = coin(mlm_probability) & ~special
    labels = torch.where(picked, input_ids, torch.full_like(input_ids, IGNORE_INDEX))

    to_mask = picked & coin(0.8)
    # Half of the remaining 20%: 0.5 of what was not masked gives the 10% random / 10% kept split.
    to_random = picked & ~to_mask & coin(0.5)
    random_ids = torch.randint(
        vocab_size, input_ids.shape, generator=generator, device=device, dtype=input_ids.dtype
    )

    masked = input_ids.clone()
    masked[to_mask] = mask_id
    masked[to_random] = random_ids[to_random]
    return masked, labels


def mlm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Masked-LM cross-entropy. logits (B, L, V), labels (B, L) from :func:`mask_tokens` (-100 = not scored).
    No shift: position i predicts its own original token."""
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1), ignore_index=IGNORE_INDEX
    )


def nsp_loss(logits: torch.Tensor, is_next: torch.Tensor) -> torch.Tensor:
    """Next-sentence prediction cross-entropy.

    Args:
        logits: (B, 2); column 0 scores "B continues A", column 1 "B is a random sentence" -- the order of
            BERT's pre-training head (``BertForPreTraining``, where ``next_sentence_label`` 0 means
            continuation), so a pretrained head can be plugged in unchanged.
        is_next: (B,) bool or 0/1, true where sentence B really follows sentence A.
    """
    target = (~is_next.bool()).long()
    return F.cross_entropy(logits.float(), target)


class LearnableTemperature(nn.Module):
    """CLIP's learnable logit scale s = 1/T, stored as log(1/T) so it stays positive.

    The log is clamped to [0, log(max_scale)] (CLIP caps the scale at 100): without the cap the scale keeps
    growing, the softmax becomes one-hot and training goes unstable.
    """

    def __init__(self, init: float = 0.07, max_scale: float = 100.0):
        super().__init__()
        self.max_log = math.log(max_scale)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / init)))

    def forward(self) -> torch.Tensor:
        """The scale s (scalar tensor) to multiply cosine similarities by."""
        return self.log_scale.clamp(0.0, self.max_log).exp()

    @property
    def temperature(self) -> float:
        return 1.0 / self.forward().item()


def itc_loss(
    image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor | float
) -> torch.Tensor:
    """Image-text contrastive loss (CLIP's symmetric InfoNCE).

    Args:
        image_emb, text_emb: (B, D); row i of each is a matching pair, every other row a negative. They are
            L2-normalised here, so raw encoder outputs can be passed.
        logit_scale: s = 1/T, a float or the output of :class:`LearnableTemperature`.
    Returns:
        scalar (CE over texts for each image + CE over images for each text) / 2.
    """
    if image_emb.shape != text_emb.shape:
        raise InputError(
            f"image_emb {tuple(image_emb.shape)} and text_emb {tuple(text_emb.shape)} must match (B, D)."
        )
    image_emb = F.normalize(image_emb.float(), dim=-1)
    text_emb = F.normalize(text_emb.float(), dim=-1)
    logits = logit_scale * image_emb @ text_emb.T  # (B, B): row i = image i against every text
    target = torch.arange(logits.size(0), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def mine_hard_negatives(
    sim: torch.Tensor,
    generator: torch.Generator | None = None,
    positive_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ALBEF's in-batch hard negatives: for each image a text drawn with probability ∝ softmax(sim) over the
    non-matching texts, and for each text an image drawn the same way from the columns.

    Args:
        sim: (B, B) image-to-text similarity (already scaled, e.g. the ITC logits); B >= 2. Gradients do not
            flow through the sampling.
        positive_mask: optional (B, B) bool, true where a pair also matches (duplicate captions); the diagonal
            is always a positive. Such pairs are never drawn.
    Returns:
        ``(neg_text_for_image, neg_image_for_text)``, each (B,) long indices into the batch.
    """
    if sim.ndim != 2 or sim.size(0) != sim.size(1) or sim.size(0) < 2:
        raise InputError(f"sim must be a square (B, B) matrix with B >= 2, got {tuple(sim.shape)}.")
    positives = torch.eye(sim.size(0), dtype=torch.bool, device=sim.device)
    if positive_mask is not None:
        positives = positives | positive_mask.bool()
    if positives.all(dim=1).any() or positives.all(dim=0).any():
        raise InputError(
            "Some image or text has no negative in the batch: every pair in its row/column is positive."
        )
    sim = sim.detach().float()

    def draw(scores: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        weights = scores.masked_fill(pos, float("-inf")).softmax(dim=1)
        return torch.multinomial(weights, 1, generator=generator).squeeze(1)

    return draw(sim, positives), draw(sim.T, positives.T)


def itm_pairs(
    sim: torch.Tensor,
    generator: torch.Generator | None = None,
    positive_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The 3B pairs an ITM head scores: B matched pairs, B (image, hard text) and B (hard image, text).

    Returns:
        ``(image_idx, text_idx, labels)``, each (3B,): pair j is ``(images[image_idx[j]],
        texts[text_idx[j]])`` and labels are 1.0 for the first B (matched), 0.0 for the 2B negatives.
    """
    neg_text, neg_image = mine_hard_negatives(sim, generator, positive_mask)
    batch = torch.arange(sim.size(0), device=sim.device)
    image_idx = torch.cat([batch, batch, neg_image])
    text_idx = torch.cat([batch, neg_text, batch])
    labels = torch.cat([torch.ones_like(batch), torch.zeros_like(batch), torch.zeros_like(batch)]).float()
    return image_idx, text_idx, labels


def itm_loss(
    head: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    image_feats: torch.Tensor,
    text_feats: torch.Tensor,
    sim: torch.Tensor,
    generator: torch.Generator | None = None,
    positive_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Image-text matching: binary cross-entropy of ``head`` on matched pairs and mined hard negatives.

    Args:
        head: ``head(images, texts) -> (N,)`` or ``(N, 1)`` match logits for N aligned pairs; typically a
            fusion encoder followed by a linear layer. It receives rows of the features below, re-indexed.
        image_feats, text_feats: (B, ...) per-example features (pooled (B, D) or token sequences (B, L, D)).
        sim: (B, B) image-to-text similarity used to mine negatives (see :func:`mine_hard_negatives`).
    Returns:
        scalar mean BCE over the 3B pairs (1 positive to 2 negatives, as in ALBEF).
    """
    image_idx, text_idx, labels = itm_pairs(sim, generator, positive_mask)
    logits = head(image_feats[image_idx], text_feats[text_idx]).reshape(-1)
    return F.binary_cross_entropy_with_logits(logits.float(), labels)
