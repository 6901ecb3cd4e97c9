import math

import torch
from submission import late_fusion, normalise_weights


def test_weights_sum_to_one():
    assert torch.allclose(normalise_weights([1, 3]), torch.tensor([0.25, 0.75]))


def test_hand_computed_case():
    image = torch.tensor([[2.0, 0.0]])
    text = torch.tensor([[0.0, 1.0]])
    fused = late_fusion([image, text], [1, 1])  # softmax(0.5 * [2, 0] + 0.5 * [0, 1]) = softmax([1, 0.5])
    expected = math.exp(1) / (math.exp(1) + math.exp(0.5))
    assert abs(float(fused[0, 0]) - expected) < 1e-6
    assert torch.allclose(fused.sum(-1), torch.ones(1))


def test_missing_modality_is_dropped():
    image = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    fused = late_fusion([image, None], [1, 4])
    assert torch.allclose(fused, torch.softmax(image, -1), atol=1e-6)
