import math

import pytest
import torch
import torch.nn.functional as F

from mmkit.errors import InputError
from mmkit.objectives import (
    LearnableTemperature,
    causal_lm_loss,
    itc_loss,
    itm_loss,
    itm_pairs,
    mask_tokens,
    mine_hard_negatives,
    mlm_loss,
    nsp_loss,
)


def nll(row, target):
    """-log softmax(row)[target], written out with math."""
    return -(row[target] - math.log(sum(math.exp(v) for v in row)))


def test_causal_lm_loss_by_hand_ignores_padding():
    # B=1, L=3, V=3; the last token is padding, so only position 0 -> token 1 is scored... plus position 1 -> 2
    # when unpadded. Logits at the last position are never used.
    logits = torch.tensor([[[1.0, 2.0, 0.0], [0.5, 0.0, 3.0], [9.0, 9.0, 9.0]]])
    ids = torch.tensor([[0, 1, 2]])
    both = (nll([1.0, 2.0, 0.0], 1) + nll([0.5, 0.0, 3.0], 2)) / 2
    assert causal_lm_loss(logits, ids).item() == pytest.approx(both, rel=1e-6)
    padded = causal_lm_loss(logits, ids, attention_mask=torch.tensor([[1, 1, 0]]))
    assert padded.item() == pytest.approx(nll([1.0, 2.0, 0.0], 1), rel=1e-6)


def test_causal_lm_loss_matches_transformers():
    from transformers.loss.loss_utils import ForCausalLMLoss

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 7, 11, generator=g)
    ids = torch.randint(11, (3, 7), generator=g)
    mask = torch.ones(3, 7, dtype=torch.long)
    mask[1, 5:] = 0
    labels = ids.masked_fill(mask == 0, -100)
    expected = ForCausalLMLoss(logits, labels, vocab_size=11)
    assert causal_lm_loss(logits, ids, mask).item() == pytest.approx(expected.item(), rel=1e-6)


def test_causal_lm_loss_rejects_mismatched_shapes():
    with pytest.raises(InputError):
        causal_lm_loss(torch.zeros(2, 4, 5), torch.zeros(2, 3, dtype=torch.long))


SPECIALS = [0, 1, 2, 3]  # PAD, CLS, SEP, MASK
MASK_ID, VOCAB = 3, 1000


def test_mask_tokens_statistics_on_100k_tokens():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(len(SPECIALS), VOCAB, (100, 1000), generator=g)
    ids[:, 0], ids[:, -1] = 1, 2  # CLS ... SEP on every row: 2% specials
    masked, labels = mask_tokens(ids, (MASK_ID, VOCAB, SPECIALS), generator=g)
    picked = labels != -100
    candidates = (~torch.isin(ids, torch.tensor(SPECIALS))).sum().item()
    assert picked.sum().item() / candidates == pytest.approx(0.15, abs=0.005)
    assert torch.equal(labels[picked], ids[picked])

    n = picked.sum().item()
    as_mask = (masked[picked] == MASK_ID).sum().item() / n
    kept = (masked[picked] == ids[picked]).sum().item() / n
    random = 1 - as_mask - kept
    assert as_mask == pytest.approx(0.80, abs=0.015)
    assert kept == pytest.approx(0.10, abs=0.015)
    assert random == pytest.approx(0.10, abs=0.015)
    assert torch.equal(masked[~picked], ids[~picked])


def test_mask_tokens_never_touches_specials():
    ids = torch.tensor([[1, 5, 6, 7, 2, 0, 0]] * 2000)
    masked, labels = mask_tokens(ids, (MASK_ID, VOCAB, SPECIALS), mlm_probability=0.9,
                                 generator=torch.Generator().manual_seed(0))
    special_cols = [0, 4, 5, 6]
    assert torch.equal(masked[:, special_cols], ids[:, special_cols])
    assert (labels[:, special_cols] == -100).all()
    assert (labels[:, 1:4] != -100).float().mean().item() == pytest.approx(0.9, abs=0.02)


def test_mask_tokens_accepts_a_tokenizer_and_is_reproducible(tmp_path):
    from transformers import BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    # transformers 5 ignores a `vocab_file=` keyword; loading the folder reads vocab.txt.
    tok = BertTokenizerFast.from_pretrained(tmp_path)
    ids = torch.tensor([tok("a b c a b c a b c")["input_ids"]] * 50)
    first = mask_tokens(ids, tok, generator=torch.Generator().manual_seed(3))
    second = mask_tokens(ids, tok, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert (first[0] == tok.mask_token_id).any()
    assert (first[1][:, [0, -1]] == -100).all()


def test_mlm_loss_scores_only_labelled_positions():
    logits = torch.tensor([[[2.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 3.0, 0.0]]])
    labels = torch.tensor([[0, -100, 1]])
    expected = (nll([2.0, 0.0, 1.0], 0) + nll([1.0, 3.0, 0.0], 1)) / 2
    assert mlm_loss(logits, labels).item() == pytest.approx(expected, rel=1e-6)


def test_nsp_loss_uses_bert_label_order():
    logits = torch.tensor([[2.0, -1.0], [0.5, 1.5]])
    is_next = torch.tensor([True, False])
    # column 0 = continuation: the first pair's target is 0, the second's 1
    expected = (nll([2.0, -1.0], 0) + nll([0.5, 1.5], 1)) / 2
    assert nsp_loss(logits, is_next).item() == pytest.approx(expected, rel=1e-6)
    assert nsp_loss(logits, torch.tensor([1, 0])).item() == pytest.approx(expected, rel=1e-6)


def test_itc_loss_by_hand():
    img = torch.tensor([[3.0, 0.0], [0.0, 2.0]])  # normalises to e1, e2
    txt = torch.tensor([[1.0, 1.0], [0.0, 5.0]])  # normalises to (1,1)/sqrt2, e2
    s = 10.0
    c = 1 / math.sqrt(2)
    sims = [[c, 0.0], [c, 1.0]]  # image i against text j
    i2t = (nll([s * v for v in sims[0]], 0) + nll([s * v for v in sims[1]], 1)) / 2
    cols = [[sims[0][j], sims[1][j]] for j in range(2)]
    t2i = (nll([s * v for v in cols[0]], 0) + nll([s * v for v in cols[1]], 1)) / 2
    assert itc_loss(img, txt, s).item() == pytest.approx((i2t + t2i) / 2, rel=1e-6)


def test_itc_loss_matches_transformers_clip():
    from transformers.models.clip.modeling_clip import image_text_contrastive_loss

    g = torch.Generator().manual_seed(0)
    img, txt = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    scale = 14.3
    logits_per_text = scale * F.normalize(txt, dim=-1) @ F.normalize(img, dim=-1).T
    assert itc_loss(img, txt, scale).item() == pytest.approx(image_text_contrastive_loss(logits_per_text).item(), rel=1e-6)


def test_learnable_temperature_starts_at_init_and_is_capped():
    temp = LearnableTemperature(init=0.07, max_scale=100)
    assert temp().item() == pytest.approx(1 / 0.07, rel=1e-5)
    assert temp.temperature == pytest.approx(0.07, rel=1e-5)
    with torch.no_grad():
        temp.log_scale.fill_(10.0)
    assert temp().item() == pytest.approx(100.0, rel=1e-5)
    fresh = LearnableTemperature()
    itc_loss(torch.randn(4, 3), torch.randn(4, 3), fresh()).backward()
    assert fresh.log_scale.grad is not None and fresh.log_scale.grad.item() != 0.0


def test_hard_negatives_are_never_the_positive():
    g = torch.Generator().manual_seed(0)
    for b in (2, 3, 8):
        sim = torch.randn(b, b, generator=g) * 5 + 20 * torch.eye(b)  # the positive is by far the most similar
        for _ in range(50):
            neg_t, neg_i = mine_hard_negatives(sim, generator=g)
            assert (neg_t != torch.arange(b)).all() and (neg_i != torch.arange(b)).all()


def test_hard_negatives_follow_softmax_and_respect_positive_mask():
    # image 0: text 1 has sim 2, text 2 sim 0 -> P(text 1) = e^2 / (e^2 + 1) ≈ 0.881
    sim = torch.tensor([[9.0, 2.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 9.0]])
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([mine_hard_negatives(sim, generator=g)[0][0] for _ in range(4000)])
    assert (draws == 1).float().mean().item() == pytest.approx(math.exp(2) / (math.exp(2) + 1), abs=0.02)
    dup = torch.zeros(3, 3, dtype=torch.bool)
    dup[0, 1] = True  # text 1 also describes image 0
    assert all(mine_hard_negatives(sim, generator=g, positive_mask=dup)[0][0] == 2 for _ in range(50))


def test_itm_pairs_and_loss_by_hand():
    # B=2: each image's only negative text is the other one, so the pairs are deterministic.
    sim = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    image_idx, text_idx, labels = itm_pairs(sim)
    assert image_idx.tolist() == [0, 1, 0, 1, 1, 0]
    assert text_idx.tolist() == [0, 1, 1, 0, 0, 1]
    assert labels.tolist() == [1, 1, 0, 0, 0, 0]

    images = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    texts = torch.tensor([[3.0, 0.0], [0.0, 1.0]])

    def head(i, t):
        return (i * t).sum(-1)  # dot products: matched 3 and 2, mismatched 0

    def bce(z, y):
        p = 1 / (1 + math.exp(-z))
        return -(y * math.log(p) + (1 - y) * math.log(1 - p))

    expected = (bce(3, 1) + bce(2, 1) + 4 * bce(0, 0)) / 6
    assert itm_loss(head, images, texts, sim).item() == pytest.approx(expected, rel=1e-6)


def test_mining_rejects_a_batch_without_negatives():
    with pytest.raises(InputError):
        mine_hard_negatives(torch.ones(1, 1))
    with pytest.raises(InputError):
        mine_hard_negatives(torch.ones(2, 2), positive_mask=torch.ones(2, 2, dtype=torch.bool))
