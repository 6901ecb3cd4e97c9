import math

import torch
from submission import info_nce


def test_two_pairs_by_hand():
    image = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # each row: logits [1/T, 0]; CE = log(1 + exp(-1/T)); both directions equal
    expected = math.log(1 + math.exp(-1 / 0.5))
    assert abs(float(info_nce(image, text, temperature=0.5)) - expected) < 1e-6


def test_matched_pairs_score_lower_than_shuffled():
    torch.manual_seed(0)
    image = torch.randn(8, 16)
    text = image + 0.1 * torch.randn(8, 16)
    assert info_nce(image, text) < info_nce(image, text[torch.randperm(8)])


def test_returns_a_scalar_with_gradients():
    image = torch.randn(4, 8, requires_grad=True)
    loss = info_nce(image, torch.randn(4, 8))
    assert loss.shape == ()
    loss.backward()
    assert image.grad is not None
