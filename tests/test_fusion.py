import math

import pytest
import torch
from torch import nn

from mmkit.encoders.base import Encoder, EncoderOutput
from mmkit.errors import InputError
from mmkit.fusion import (
    FUSIONS,
    CrossAttentionFusion,
    EarlyFusion,
    GatedFusion,
    LateFusion,
    MultimodalClassifier,
    TokenFusion,
)

DIMS = {"image": 12, "text": 10}
C = 5


def features(batch=3, seed=0, lengths=(7, 4, 2)):
    """Image: 5 real tokens each; text: 7 slots with ``lengths`` real tokens, padding filled with junk."""
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, 5, DIMS["image"], generator=g)
    text = torch.randn(batch, 7, DIMS["text"], generator=g)
    text_mask = torch.arange(7)[None, :] < torch.tensor(lengths)[:, None]
    return {
        "image": EncoderOutput(image, torch.ones(batch, 5, dtype=torch.bool), image.mean(1)),
        "text": EncoderOutput(text, text_mask, text[:, 0]),
    }


def pad(out: EncoderOutput, extra: int, seed: int) -> EncoderOutput:
    """The same examples with ``extra`` more padding slots holding large random values."""
    b, _, d = out.tokens.shape
    junk = 100 * torch.randn(b, extra, d, generator=torch.Generator().manual_seed(seed))
    mask = torch.cat([out.mask, torch.zeros(b, extra, dtype=torch.bool)], 1)
    return EncoderOutput(torch.cat([out.tokens, junk], 1), mask, out.pooled)


def build(name, dims=DIMS, num_classes=C, **kwargs):
    small = {"early": {"hidden": 16}, "late": {"hidden": 16}, "gated": {"d_model": 16},
             "cross_attention": {"d_model": 16, "n_heads": 2}, "token": {"d_model": 16, "n_heads": 2}}[name]
    torch.manual_seed(0)
    return FUSIONS[name](dims, num_classes, **small, **kwargs)


ALL = [*FUSIONS]


@pytest.mark.parametrize("name", ALL)
def test_logits_shape_and_finite(name):
    out = build(name)(features())
    assert out.shape == (3, C) and torch.isfinite(out).all()


def test_early_fusion_weighted_sum_shape_and_initial_weights():
    fusion = EarlyFusion(DIMS, C, mode="weighted_sum", hidden=16)
    assert fusion(features()).shape == (3, C)
    assert torch.allclose(fusion.alpha.softmax(0), torch.tensor([0.5, 0.5]))


@pytest.mark.parametrize("name", ALL)
def test_padding_tokens_do_not_change_outputs(name):
    fusion = build(name).eval()
    feats = features()
    padded = {m: pad(o, extra=3 + i, seed=i) for i, (m, o) in enumerate(feats.items())}
    torch.testing.assert_close(fusion(padded), fusion(feats), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["cross_attention", "token"])
def test_real_tokens_do_change_outputs(name):
    """The padding test above is not vacuous: the token-level fusions do read the real tokens of both sides."""
    fusion = build(name).eval()
    base = fusion(features())
    for m, n_real in (("image", 5), ("text", 2)):
        feats = features()
        feats[m].tokens[2, n_real - 1] += 1.0  # the last real token of example 2
        changed = fusion(feats)
        assert not torch.allclose(changed[2], base[2], atol=1e-4)
        torch.testing.assert_close(changed[:2], base[:2])


def test_cross_attention_puts_no_weight_on_padded_keys():
    fusion = CrossAttentionFusion(DIMS, C, d_model=16, n_heads=2, query="image")
    feats = features()
    logits, weights = fusion(feats, need_weights=True)
    assert weights.shape == (3, 2, 5, 7)
    pad_keys = ~feats["text"].mask  # (B, N_text)
    assert weights.masked_select(pad_keys[:, None, None, :].expand_as(weights)).abs().max() == 0
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 5))


def test_late_fusion_equals_the_seed_formula_by_hand():
    """seed 001 §4.3: P = softmax(w_1 z_1 + w_2 z_2). Identity heads make z_i the inputs themselves."""
    fusion = LateFusion({"a": 3, "b": 3}, 3, weights={"a": 1.0, "b": 3.0})
    fusion.heads = nn.ModuleDict({"a": nn.Identity(), "b": nn.Identity()})
    z_a, z_b = torch.tensor([[1.0, 2.0, 0.0]]), torch.tensor([[0.0, 0.0, 3.0]])
    feats = {"a": EncoderOutput(z_a[:, None], torch.ones(1, 1, dtype=torch.bool), z_a),
             "b": EncoderOutput(z_b[:, None], torch.ones(1, 1, dtype=torch.bool), z_b)}
    fused = [0.25 * 1 + 0.75 * 0, 0.25 * 2 + 0.75 * 0, 0.25 * 0 + 0.75 * 3]  # w = (1, 3) / 4
    expected = torch.tensor([[math.exp(s) for s in fused]])
    expected /= expected.sum()
    probs = fusion(feats).softmax(-1)
    torch.testing.assert_close(probs, expected)
    assert fusion.modality_weights() == pytest.approx({"a": 0.25, "b": 0.75})
    # It is a product of experts, not the arithmetic mean of the probabilities.
    mean_of_probs = 0.25 * z_a.softmax(-1) + 0.75 * z_b.softmax(-1)
    assert (probs - mean_of_probs).abs().max() > 0.05
    # Log-probabilities in place of logits give the same P: per-row constants cancel in the softmax.
    logp = {m: EncoderOutput(o.tokens, o.mask, o.pooled.log_softmax(-1)) for m, o in feats.items()}
    torch.testing.assert_close(fusion(logp).softmax(-1), expected)


def test_late_fusion_drops_a_missing_modality_and_renormalises():
    fusion = LateFusion({"image": 12, "text": 10, "audio": 4}, C, weights={"image": 1, "text": 1, "audio": 2},
                        hidden=16)
    feats = features()
    z = {m: fusion.heads[m](o.pooled) for m, o in feats.items()}
    torch.testing.assert_close(fusion(feats), 0.5 * z["image"] + 0.5 * z["text"])
    torch.testing.assert_close(fusion({"text": feats["text"]}), z["text"])
    assert fusion.modality_weights(["image", "text"]) == pytest.approx({"image": 0.5, "text": 0.5})
    assert fusion.modality_weights() == pytest.approx({"image": 0.25, "text": 0.25, "audio": 0.5})
    with pytest.raises(InputError, match="knows modalities"):
        fusion({"video": feats["text"]})


@pytest.mark.parametrize("name", ["early", "cross_attention", "gated", "token"])
def test_other_fusions_refuse_a_missing_modality(name):
    with pytest.raises(InputError, match="LateFusion"):
        build(name)({"image": features()["image"]})


@pytest.mark.parametrize("name,kwargs", [*((n, {}) for n in ALL), ("early", {"mode": "weighted_sum"}),
                                         ("late", {"learn_weights": True})])
def test_gradients_reach_every_parameter(name, kwargs):
    fusion = build(name, **kwargs)
    loss = nn.functional.cross_entropy(fusion(features()), torch.tensor([0, 1, 2]))
    loss.backward()
    for pname, p in fusion.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname
    if name == "late" and not kwargs:
        assert "log_weights" not in dict(fusion.named_parameters())  # fixed weights stay fixed


@pytest.mark.parametrize("name", ALL)
def test_each_fusion_fits_a_small_batch(name):
    """Training works end to end: 8 examples whose label needs both modalities are fitted."""
    fusion = build(name)
    feats = features(batch=8, lengths=(7, 6, 5, 4, 3, 2, 1, 7))
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    opt = torch.optim.AdamW(fusion.parameters(), lr=2e-2)
    for _ in range(30):
        opt.zero_grad()
        nn.functional.cross_entropy(fusion(feats), labels).backward()
        opt.step()
    assert (fusion(feats).argmax(-1) == labels).all()


def test_gated_fusion_gates_sum_to_one_per_dimension():
    fusion = GatedFusion(DIMS, C, d_model=16)
    g = fusion.gates(features())
    assert g.shape == (3, 2, 16) and (g > 0).all()
    torch.testing.assert_close(g.sum(1), torch.ones(3, 16))


def test_token_fusion_uses_the_modality_embedding():
    """Swapping the two modality embeddings changes the output: attention can tell the modalities apart."""
    dims = {"a": 10, "b": 10}
    fusion = TokenFusion(dims, C, d_model=16, n_heads=2).eval()
    feats = features()
    feats = {"a": feats["text"], "b": pad(feats["text"], 0, 0)}
    before = fusion(feats)
    with torch.no_grad():
        for p in fusion.modality_embedding.parameters():
            p.add_(torch.randn_like(p))
    assert not torch.allclose(fusion(feats), before, atol=1e-4)


def test_bad_configurations_raise_input_errors():
    with pytest.raises(InputError, match="concat"):
        EarlyFusion(DIMS, C, mode="max")
    with pytest.raises(InputError, match="query"):
        CrossAttentionFusion(DIMS, C, query="audio")
    with pytest.raises(InputError, match="positive"):
        LateFusion(DIMS, C, weights={"image": 1.0})


class TinyEncoder(Encoder):
    def __init__(self, modality, in_dim, dim):
        super().__init__()
        self.modality, self.dim, self.linear = modality, dim, nn.Linear(in_dim, dim)

    def preprocess(self, raw):
        return {"x": torch.stack(raw)}

    def forward(self, x):
        tokens = self.linear(x)
        return EncoderOutput(tokens, torch.ones(tokens.shape[:2], dtype=torch.bool), tokens.mean(1))


def test_multimodal_classifier_ties_encoders_and_fusion():
    torch.manual_seed(0)
    encoders = {"image": TinyEncoder("image", 3, 12), "text": TinyEncoder("text", 4, 10)}
    model = MultimodalClassifier(encoders, LateFusion(DIMS, C, hidden=16))
    batch = {"image": {"x": torch.randn(2, 5, 3)}, "text": {"x": torch.randn(2, 6, 4)}}
    logits = model(batch)
    expected = model.fusion({m: encoders[m](**inputs) for m, inputs in batch.items()})
    torch.testing.assert_close(logits, expected)
    assert model({"text": batch["text"]}).shape == (2, C)  # late fusion predicts from the text alone
    with pytest.raises(InputError, match="no encoder"):
        model({"audio": batch["text"]})
    with pytest.raises(InputError, match="widths"):
        MultimodalClassifier({"image": TinyEncoder("image", 3, 7)}, LateFusion(DIMS, C))


def test_real_encoders_data_and_every_fusion_end_to_end():
    """ShapesColorsDataset -> make_collate -> SmallCNNEncoder + TextTransformerEncoder -> each fusion -> logits."""
    from mmkit.datasets.shapes import ShapesColorsDataset, make_collate
    from mmkit.encoders import SmallCNNEncoder, TextTransformerEncoder

    torch.manual_seed(0)
    encoders = {"image": SmallCNNEncoder(dim=16, image_size=32, channels=(8, 16)),
                "text": TextTransformerEncoder(dim=16, n_heads=2, num_layers=1, max_len=16)}
    ds = ShapesColorsDataset(4)
    inputs, labels = make_collate(encoders)([ds[i] for i in range(4)])
    dims = {m: e.dim for m, e in encoders.items()}
    for name in FUSIONS:
        logits = MultimodalClassifier(encoders, build(name, dims, ds.num_classes))(inputs)
        assert logits.shape == (4, ds.num_classes) and torch.isfinite(logits).all(), name
    assert labels.tolist() == [ds[i]["label"] for i in range(4)]
