import torch
from submission import info_nce

from mmkit.objectives import itc_loss


def test_equals_mmkit_itc_loss():
    torch.manual_seed(1)
    image, text = torch.randn(6, 12), torch.randn(6, 12)
    assert torch.allclose(info_nce(image, text, 0.1), itc_loss(image, text, 10.0), atol=1e-5)


def test_invariant_to_embedding_scale():
    torch.manual_seed(2)
    image, text = torch.randn(5, 8), torch.randn(5, 8)
    assert torch.allclose(info_nce(image, text), info_nce(3 * image, 0.5 * text), atol=1e-5)
