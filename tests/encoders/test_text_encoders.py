"""Text encoders: the embedded MiniLM against sentence-transformers' numbers, our own Transformer's masking and
gradients, and embed() (length-sorted batching) against encode()."""

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoTokenizer, BertConfig, BertModel

from mmkit.encoders import HFTextEncoder, TextTransformerEncoder
from mmkit.errors import InputError
from mmkit.hub import default_text_model_path, load_auto

MIXED = [
    "Hi.",
    "A man is eating a piece of bread while the dog watches him from under the kitchen table.",
    "Two words",
    "Retrieval and classification call embed() for thousands of sentences at a time.",
    "",
    "One more sentence of middling length here.",
]


@pytest.fixture(scope="module")
def minilm():
    return HFTextEncoder()


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return TextTransformerEncoder(dim=32, n_heads=2, num_layers=2, max_len=64).eval()


def test_minilm_similarity_matches_sentence_transformers(minilm):
    v = minilm.embed(
        ["A man is eating food.", "A man is eating a piece of bread.", "A man is riding a horse."]
    )
    bread, horse = float(v[0] @ v[1]), float(v[0] @ v[2])
    assert bread > 0.5 and bread > horse + 0.3
    # sentence-transformers 6.2.0 SentenceTransformer(<same folder>).encode gives 0.7553 and 0.2474
    assert bread == pytest.approx(0.7553, abs=1e-3)
    assert horse == pytest.approx(0.2474, abs=1e-3)
    assert torch.allclose(v.norm(dim=1), torch.ones(3), atol=1e-5)
    assert minilm.dim == v.shape[1] == 384


def test_minilm_pooled_is_masked_mean_of_tokens(minilm):
    out = minilm.encode(["short", "a noticeably longer sentence with padding for the first"])
    assert out.tokens.shape[:2] == out.mask.shape and out.mask.dtype == torch.bool
    n = int(out.mask[0].sum())
    assert n == 3 and not out.mask[0, n:].any()  # [CLS] short [SEP]
    assert torch.allclose(out.pooled[0], F.normalize(out.tokens[0, :n].mean(0), dim=0), atol=1e-6)


def test_minilm_embed_equals_encode_for_mixed_lengths(minilm):
    embedded = minilm.embed(MIXED, batch_size=4)  # two batches: the order is restored across them
    assert torch.allclose(embedded, minilm.encode(MIXED).pooled, atol=1e-5)


def test_minilm_truncates_at_max_length(minilm):
    batch = minilm.preprocess("word " * 1000)
    assert batch["input_ids"].shape == (1, 256)


def test_any_hf_encoder_with_cls_pooling(tmp_path):
    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    BertModel(config).save_pretrained(tmp_path)
    tokenizer = load_auto(AutoTokenizer, default_text_model_path())
    tokenizer.save_pretrained(tmp_path)
    enc = HFTextEncoder(str(tmp_path), pooling="cls", normalize=False)
    out = enc.encode(["one", "two three four"])
    assert enc.dim == 32 and out.pooled.shape == (2, 32)
    assert torch.equal(out.pooled, out.tokens[:, 0])
    with pytest.raises(InputError):
        HFTextEncoder(str(tmp_path), pooling="max")


def test_own_encoder_shapes_and_tokenizer(small):
    # one embedding row per token of the tokenizer, whatever its vocabulary size
    assert small.token_embedding.num_embeddings == len(small.tokenizer) and small.modality == "text"
    texts = ["hello world", "a longer sentence than the first"]
    out = small.encode(texts)
    assert out.tokens.shape == (2, out.mask.shape[1], 32) and out.pooled.shape == (2, 32)
    assert out.mask.sum(1).tolist() == [len(small.tokenizer(text).input_ids) for text in texts]


def test_padding_does_not_change_pooled(small):
    alone = small.encode(["the cat sat"])
    batch = small.encode(["the cat sat", "a much longer sentence that forces padding onto the first one"])
    n = alone.tokens.shape[1]
    assert batch.tokens.shape[1] > n
    assert torch.allclose(alone.pooled[0], batch.pooled[0], atol=1e-5)
    assert torch.allclose(alone.tokens[0], batch.tokens[0, :n], atol=1e-5)


def test_embed_of_nothing_is_empty(small):
    assert small.embed([]).shape == (0, 32)


def test_own_embed_equals_encode_and_keeps_train_mode(small):
    small.train()
    try:
        embedded = small.embed(MIXED, batch_size=4)
        assert small.training
    finally:
        small.eval()
    assert torch.allclose(embedded, small.encode(MIXED).pooled, atol=1e-5)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    enc = TextTransformerEncoder(dim=32, n_heads=2, num_layers=2, max_len=32)
    out = enc.encode(["gradients should flow", "everywhere"])
    # Random weights: a plain sum of LayerNorm outputs has zero gradient when the gain is uniform.
    loss = (out.tokens * torch.randn_like(out.tokens)).sum() + (
        out.pooled * torch.randn_like(out.pooled)
    ).sum()
    loss.backward()
    missing = [name for name, p in enc.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


@pytest.mark.parametrize("bad", [[], [1, 2], ["ok", None]])
def test_bad_text_input_is_an_input_error(small, bad):
    with pytest.raises(InputError):
        small.encode(bad)
