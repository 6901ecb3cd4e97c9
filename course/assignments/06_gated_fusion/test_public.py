import torch
from submission import GatedFusion


def test_shapes_and_gate_range():
    torch.manual_seed(0)
    fusion = GatedFusion(d_image=6, d_text=4, d_model=8, num_classes=3)
    logits, gate = fusion(torch.randn(5, 6), torch.randn(5, 4))
    assert logits.shape == (5, 3) and gate.shape == (5, 8)
    assert ((gate > 0) & (gate < 1)).all()


def test_gate_follows_the_formula():
    torch.manual_seed(1)
    fusion = GatedFusion(3, 2, 4, 2)
    image, text = torch.randn(2, 3), torch.randn(2, 2)
    _, gate = fusion(image, text)
    expected = torch.sigmoid(fusion.gate_proj(torch.cat([image, text], -1)))
    assert torch.allclose(gate, expected, atol=1e-6)


def test_a_closed_gate_uses_only_the_text():
    torch.manual_seed(2)
    fusion = GatedFusion(3, 2, 4, 2)
    with torch.no_grad():
        fusion.gate_proj.weight.zero_()
        fusion.gate_proj.bias.fill_(-50.0)  # z = sigmoid(-50) ~ 0
    image, text = torch.randn(4, 3), torch.randn(4, 2)
    logits, _ = fusion(image, text)
    assert torch.allclose(logits, fusion.head(torch.tanh(fusion.text_proj(text))), atol=1e-5)
