import pytest
import torch
from submission import late_fusion


def test_matches_mmkit_late_fusion_formula():
    torch.manual_seed(0)
    z = [torch.randn(4, 3) for _ in range(3)]
    w = [0.2, 0.5, 0.3]
    expected = torch.softmax(0.2 * z[0] + 0.5 * z[1] + 0.3 * z[2], dim=-1)
    assert torch.allclose(late_fusion(z, w), expected, atol=1e-6)


def test_bad_weights_and_no_modality():
    with pytest.raises(ValueError):
        late_fusion([torch.zeros(1, 2)], [0])
    with pytest.raises(ValueError):
        late_fusion([None, None], [1, 1])
