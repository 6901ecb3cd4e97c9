import torch
from submission import MultiHeadSelfAttention, causal_mask
from torch import nn


def copy_into_torch(ours, d_model, n_heads):
    ref = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)
    return ref.eval()


def test_causal_mask_is_lower_triangular():
    assert torch.equal(causal_mask(3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool))


def test_matches_torch_multihead_attention_with_causal_mask():
    torch.manual_seed(0)
    ours = MultiHeadSelfAttention(16, 4)
    ref = copy_into_torch(ours, 16, 4)
    x = torch.randn(2, 5, 16)
    expected, _ = ref(x, x, x, attn_mask=~causal_mask(5), need_weights=False)
    assert torch.allclose(ours(x), expected, atol=1e-5)


def test_future_tokens_do_not_change_the_past():
    torch.manual_seed(1)
    attention = MultiHeadSelfAttention(8, 2)
    x = torch.randn(1, 6, 8)
    changed = x.clone()
    changed[:, 4:] = torch.randn(1, 2, 8)
    assert torch.allclose(attention(x)[:, :4], attention(changed)[:, :4], atol=1e-6)
