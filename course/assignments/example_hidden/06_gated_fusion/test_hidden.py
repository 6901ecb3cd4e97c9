import torch
from submission import GatedFusion


def test_matches_the_formula_end_to_end():
    torch.manual_seed(3)
    f = GatedFusion(5, 7, 6, 4)
    image, text = torch.randn(3, 5), torch.randn(3, 7)
    z = torch.sigmoid(f.gate_proj(torch.cat([image, text], -1)))
    h = z * torch.tanh(f.image_proj(image)) + (1 - z) * torch.tanh(f.text_proj(text))
    assert torch.allclose(f(image, text)[0], f.head(h), atol=1e-5)


def test_missing_text_means_image_only():
    torch.manual_seed(4)
    f = GatedFusion(5, 7, 6, 4)
    image = torch.randn(3, 5)
    logits, gate = f(image, None)
    assert torch.equal(gate, torch.ones(3, 6))
    assert torch.allclose(logits, f.head(torch.tanh(f.image_proj(image))), atol=1e-6)


def test_rows_are_independent_and_every_parameter_learns():
    torch.manual_seed(5)
    f = GatedFusion(4, 4, 8, 2)
    image, text = torch.randn(6, 4), torch.randn(6, 4)
    logits, _ = f(image, text)
    assert torch.allclose(f(image[2:3], text[2:3])[0], logits[2:3], atol=1e-6)
    logits.pow(2).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in f.parameters())
