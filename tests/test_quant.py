"""8-bit / 4-bit quantization through bitsandbytes on the CPU: accuracy of the layers, bytes saved, what is kept in
float, our models and Hugging Face ones, and the errors a user meets.

Error bounds, measured here with bitsandbytes 0.50.2 and justified:
- int8 (LLM.int8(), vector-wise): weights get one absmax scale per output row and activations one per input row,
  so each is rounded to a step of absmax/127. For a Gaussian row of 256-1536 values absmax is about 3σ, and a
  uniform rounding error of step s has RMS s/sqrt(12): relative error 3/(127*sqrt(12)) = 0.007 per operand,
  about 0.01 for the product (measured 0.0097-0.0102). Bound: 0.02.
- NF4: 16 levels placed at normal quantiles, one absmax per 64 weights; measured 0.090-0.092 relative error
  per layer on Gaussian weights (FP4, with levels not fitted to a normal: 0.121-0.122). Bounds: 0.12 and 0.16.
Through a whole network the errors of successive layers add up but LayerNorms keep them relative: bounds there are
set at about twice what was measured and stated beside each test.
"""

import copy
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM

from mmkit.encoders import AudioEncoder, EncoderOutput, PatchEncoder
from mmkit.errors import InputError, MissingDependencyError
from mmkit.fusion import FUSIONS
from mmkit.hub import default_text_model_path
from mmkit.nn import CausalLM, CausalLMConfig, TransformerEncoder
from mmkit.pipelines.text_classification import TextClassificationPipeline
from mmkit.quant import describe, footprint, load_quantized, quantize, quantized_weight_bytes

bnb = pytest.importorskip("bitsandbytes")

VARIANTS = [(8, "nf4", 0.02), (4, "nf4", 0.12), (4, "fp4", 0.16)]  # bits, quant_type, relative-error bound
EASY = {
    "The striker scored twice and the team won the cup final.": "sports",
    "Mix the flour, eggs and sugar, then bake the cake for forty minutes.": "cooking",
    "The central bank raised interest rates to fight inflation.": "finance",
    "The new phone has a faster processor and a better camera.": "technology",
}
LABELS = ["sports", "cooking", "finance", "technology"]


def rel_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    return float((approx.float() - exact.float()).norm() / exact.float().norm())


def gaussian_linear(k: int, n: int) -> nn.Linear:
    # Trained weights are close to Gaussian; nn.Linear's default init is uniform, which flatters int8.
    layer = nn.Linear(k, n)
    nn.init.normal_(layer.weight, std=0.02)
    nn.init.normal_(layer.bias, std=0.02)
    return layer


@pytest.mark.parametrize("bits, quant_type, bound", VARIANTS)
@pytest.mark.parametrize("k, n", [(256, 512), (384, 1536), (100, 10)])
def test_quantized_linear_stays_close_to_float(bits, quant_type, bound, k, n):
    torch.manual_seed(0)
    model = nn.Sequential(gaussian_linear(k, n)).eval()
    x = torch.randn(64, k)
    with torch.no_grad():
        exact = model(x)
        quantize(model, bits=bits, quant_type=quant_type)
        approx = model(x)
    assert type(model[0]).__name__ == ("Linear8bitLt" if bits == 8 else "Linear4bit")
    assert approx.shape == exact.shape and approx.dtype == exact.dtype
    # (100, 10) is a shape bitsandbytes' fused AVX512 CPU kernel cannot take; quantize routes it around that kernel.
    assert rel_error(approx, exact) < bound


def test_4bit_compute_dtype_and_bfloat16_inputs():
    torch.manual_seed(0)
    model = nn.Sequential(gaussian_linear(256, 512)).eval()
    x = torch.randn(8, 256)
    exact = model(x).detach()
    quantize(model, bits=4, compute_dtype=torch.bfloat16)
    with torch.no_grad():
        out = model(x)
    assert model[0].compute_dtype == torch.bfloat16 and out.dtype == torch.float32  # returned in the input dtype
    assert rel_error(out, exact) < 0.12
    with torch.no_grad():
        assert model(x.bfloat16()).dtype == torch.bfloat16


@pytest.fixture()
def encoder_stack():
    torch.manual_seed(0)
    return TransformerEncoder(d_model=128, n_heads=4, num_layers=2).eval()  # 12 Linear layers, K = 128 or 512


def test_footprint_shrinks_by_the_expected_ratio(encoder_stack):
    weights = [(m.out_features, m.in_features) for m in encoder_stack.modules() if isinstance(m, nn.Linear)]
    n_weights = sum(n * k for n, k in weights)
    float_total = footprint(encoder_stack)["total_bytes"]
    int8 = quantize(copy.deepcopy(encoder_stack), bits=8)
    nf4 = quantize(copy.deepcopy(encoder_stack), bits=4)
    nf4_double = quantize(copy.deepcopy(encoder_stack), bits=4, double_quant=True)

    # int8: one byte per weight plus small per-row scales; nf4: half a byte per weight plus per-block scales.
    # How bitsandbytes stores the scales (dtype, block size, code table) is its business: bounds, not a formula.
    assert n_weights < quantized_weight_bytes(int8)["bytes"] <= 1.1 * n_weights
    assert n_weights / 2 < quantized_weight_bytes(nf4)["bytes"] <= 0.6 * n_weights
    assert quantized_weight_bytes(int8)["ratio"] <= 0.55
    assert quantized_weight_bytes(nf4)["ratio"] <= 0.30
    assert quantized_weight_bytes(nf4_double)["bytes"] < quantized_weight_bytes(nf4)["bytes"]
    saved = footprint(encoder_stack)["parameters_bytes"] - footprint(int8)["parameters_bytes"]
    assert saved == 4 * n_weights - quantized_weight_bytes(int8)["bytes"]  # fp32 weights out, int8 + scales in
    assert footprint(nf4)["total_bytes"] < footprint(int8)["total_bytes"] < float_total
    assert footprint(int8)["by_dtype"]["int8"] == n_weights
    assert footprint(nf4)["by_dtype"]["uint8"] == n_weights // 2  # two 4-bit codes per byte


@pytest.mark.skipif(not bnb.functional.has_avx512bf16(), reason="only AVX512-BF16 CPUs re-lay out 4-bit weights")
def test_footprint_reads_the_quantization_state_as_it_is_now(encoder_stack):
    n = sum(m.weight.numel() for m in encoder_stack.modules() if isinstance(m, nn.Linear))
    quantize(encoder_stack, bits=4, double_quant=True)
    assert footprint(encoder_stack)["by_dtype"]["uint8"] == n // 2 + n // 64  # codes + 8-bit nested absmax
    with torch.no_grad():
        encoder_stack(torch.randn(1, 4, 128))
    # bitsandbytes' fused CPU kernel keeps one bfloat16 absmax per block of 64 instead of the nested 8-bit one.
    after = footprint(encoder_stack)
    assert after["by_dtype"]["uint8"] == n // 2 and after["by_dtype"]["bfloat16"] == 2 * n // 64
    assert describe(encoder_stack) == "4-bit nf4 (double quant): 12 Linear layers quantized, 0 kept"


def test_footprint_matches_transformers_get_memory_footprint():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=200, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, max_position_embeddings=32)
    model = BertModel(config).eval()
    assert footprint(model)["total_bytes"] == model.get_memory_footprint()
    rows = [m.out_features for m in model.modules() if isinstance(m, nn.Linear)]
    weights = [m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear)]

    int8 = quantize(copy.deepcopy(model), bits=8)
    f = footprint(int8)
    assert f["total_bytes"] - f["quant_state_bytes"] == int8.get_memory_footprint()
    assert f["quant_state_bytes"] == 4 * sum(rows)  # transformers does not see the SCB scales

    nf4 = quantize(copy.deepcopy(model), bits=4)
    f = footprint(nf4)
    assert f["total_bytes"] - f["quant_state_bytes"] == nf4.get_memory_footprint()
    assert f["quant_state_bytes"] == sum(4 * w // 64 + 64 for w in weights)


def test_skip_keeps_named_layers_in_float():
    torch.manual_seed(0)
    model = CausalLM(CausalLMConfig(vocab_size=96, d_model=64, n_heads=4, num_layers=2, max_len=32,
                                    tie_embeddings=False))
    quantize(model, bits=8, skip="lm_head")  # a single string is one name, not its letters
    assert type(model.lm_head) is nn.Linear and model.lm_head.weight.dtype == torch.float32
    assert describe(model) == "8-bit: 12 Linear layers quantized, 1 kept"
    assert type(model.blocks.layers[0].ff.linear1).__name__ == "Linear8bitLt"
    other = quantize(CausalLM(model.config), bits=4, skip=("ff.", "out_proj"))
    assert describe(other) == "4-bit nf4: 7 Linear layers quantized, 6 kept"
    assert type(other.blocks.layers[1].ff.linear2) is nn.Linear
    assert type(other.blocks.layers[1].self_attn.out_proj) is nn.Linear


def test_keep_8bit_puts_named_layers_of_a_4bit_model_in_8bit(encoder_stack):
    x = torch.randn(2, 5, 128)
    with torch.no_grad():
        exact = encoder_stack(x)
        nf4 = quantize(copy.deepcopy(encoder_stack), bits=4)
        mixed = quantize(copy.deepcopy(encoder_stack), bits=4, keep_8bit=["layers.1.ff."])
        errors = rel_error(nf4(x), exact), rel_error(mixed(x), exact)
        int8 = quantize(copy.deepcopy(encoder_stack), bits=8)
        int8(x)  # every model has run once: bitsandbytes may re-lay out 4-bit state at the first forward
    ff = mixed.layers[1].ff
    assert type(ff.linear1).__name__ == type(ff.linear2).__name__ == "Linear8bitLt"
    assert type(mixed.layers[0].ff.linear1).__name__ == "Linear4bit"
    assert describe(mixed) == "4-bit nf4 + 8-bit: 12 Linear layers quantized, 0 kept"
    # the two 8-bit layers hold 2 x 128 x 512 of the 2 x (4 x 128^2 + 2 x 128 x 512) weights, a third of them, so
    # the mixed model's size is 2/3 of the all-nf4 one's plus 1/3 of the all-int8 one's, whatever each layout is
    nf4_ratio, int8_ratio = quantized_weight_bytes(nf4)["ratio"], quantized_weight_bytes(int8)["ratio"]
    mixed_ratio = quantized_weight_bytes(mixed)["ratio"]
    assert nf4_ratio < mixed_ratio < int8_ratio
    assert mixed_ratio == pytest.approx(2 / 3 * nf4_ratio + 1 / 3 * int8_ratio, abs=1e-3)
    assert errors[1] < errors[0]  # measured 0.040 against 0.047
    with pytest.raises(InputError, match="keep_8bit names layers to keep in 8-bit inside a 4-bit model"):
        quantize(copy.deepcopy(encoder_stack), bits=8, keep_8bit="ff")


def _fusion_case(name):
    small = {"early": {"hidden": 64}, "late": {"hidden": 64}}.get(name, {"d_model": 64})
    model = FUSIONS[name]({"image": 64, "text": 32}, 5, **small)
    g = torch.Generator().manual_seed(1)
    image, text = torch.randn(2, 5, 64, generator=g), torch.randn(2, 3, 32, generator=g)
    mask = torch.tensor([[True, True, True], [True, False, False]])
    features = {"image": EncoderOutput(image, torch.ones(2, 5, dtype=torch.bool), image.mean(1)),
                "text": EncoderOutput(text, mask, text[:, 0])}
    return model, lambda m: m(features)


def _captioner_case():
    captioner = pytest.importorskip("mmkit.models.captioner")
    CaptionTokenizer, TinyCaptioner, TinyCaptionerConfig = (  # noqa: N806 (classes)
        captioner.CaptionTokenizer, captioner.TinyCaptioner, captioner.TinyCaptionerConfig)
    tokenizer = CaptionTokenizer.build(["a red apple", "a dog face"], ["红苹果"])
    config = TinyCaptionerConfig(vocab_size=len(tokenizer), channels=(16, 32), dim=64, d_model=64, max_len=16)
    model = TinyCaptioner(config, tokenizer)
    pixels, ids = torch.randn(2, 3, config.image_size, config.image_size), torch.tensor([[3, 5, 6, 2], [4, 7, 8, 2]])
    return model, lambda m: m(pixels, ids)


MMKIT_MODELS = {
    **{f"fusion-{name}": (lambda name=name: _fusion_case(name)) for name in FUSIONS},
    "patch-encoder": lambda: (PatchEncoder(dim=64, num_layers=2), lambda m, x=torch.randn(2, 3, 64, 64): m(x).pooled),
    "audio-encoder": lambda: (AudioEncoder(dim=64, n_mels=32), lambda m, x=torch.randn(2, 32, 40):
                              m(x, torch.ones(2, 40, dtype=torch.bool)).pooled),
    "captioner": _captioner_case,
}


@pytest.mark.parametrize("name", MMKIT_MODELS)
def test_every_mmkit_model_runs_quantized(name):
    torch.manual_seed(0)
    model, run = MMKIT_MODELS[name]()
    model.eval()
    with torch.no_grad():
        exact = run(model)
        linears = sum(type(m) is nn.Linear for m in model.modules())
        quantize(model, bits=8)
        approx = run(model)
    assert "8-bit" in describe(model) and quantized_weight_bytes(model)["layers"] >= linears - 1  # tied head
    # measured 0.005-0.019 (the deepest, token fusion, highest): a few int8 layers in a row, each about 0.01
    assert approx.shape == exact.shape and rel_error(approx, exact) < 0.05


class TorchAttentionBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(64, 4, batch_first=True)
        self.ff = nn.Linear(64, 64)

    def forward(self, x):
        return self.ff(self.attn(x, x, x, need_weights=False)[0])


def test_tied_head_and_torch_fused_layers_stay_float():
    torch.manual_seed(0)
    tied = CausalLM(CausalLMConfig(vocab_size=96, d_model=64, n_heads=4, num_layers=1, max_len=32))
    quantize(tied, bits=4)
    assert tied.lm_head.weight is tied.tok_emb.weight  # quantizing it would add a copy, not save memory
    # nn.MultiheadAttention hands out_proj.weight to its functional form: only exact nn.Linear layers are replaced.
    block = TorchAttentionBlock().eval()
    x = torch.randn(2, 5, 64)
    exact = block(x).detach()
    quantize(block, bits=8)
    assert type(block.ff).__name__ == "Linear8bitLt" and type(block.attn.out_proj) is not nn.Linear
    assert describe(block) == "8-bit: 1 Linear layers quantized, 1 kept"
    with torch.no_grad():
        assert rel_error(block(x), exact) < 0.02  # measured 0.005
    # nn.TransformerEncoderLayer's fused eval kernel reads linear1.weight and linear2.weight itself.
    layer = nn.TransformerEncoderLayer(64, 4, 128, batch_first=True).eval()
    with torch.no_grad():
        exact = layer(x)
        quantize(layer, bits=8)
        assert describe(layer) == "not quantized: 3 Linear layers"
        assert torch.equal(layer(x), exact)


def _rule_lm() -> CausalLM:
    """A fixed CausalLM that continues any sequence by +3 (mod 32): orthogonal token embeddings, no positions, and
    an LM head that reads token t as t + 3. The blocks keep their random init and still add to the residual."""
    torch.manual_seed(0)
    model = CausalLM(CausalLMConfig(vocab_size=32, d_model=64, n_heads=4, num_layers=2, max_len=64,
                                    tie_embeddings=False)).eval()
    basis = torch.linalg.qr(torch.randn(64, 64))[0][:32] * 8  # (V, D) orthogonal rows
    with torch.no_grad():
        model.tok_emb.weight.copy_(basis)
        model.pos_emb.weight.zero_()
        model.lm_head.weight.copy_(basis.roll(3, dims=0))  # row j = embedding of j - 3
    return model


@pytest.mark.parametrize("bits, bound", [(8, 0.02), (4, 0.2)])
def test_quantized_causal_lm_generates_the_same_greedy_tokens(bits, bound):
    model = _rule_lm()
    prompt = torch.tensor([[0, 3, 6], [5, 8, 11], [30, 1, 4]])
    expected = model.generate(prompt, max_new_tokens=12)
    assert torch.equal(expected[:, 3:], (prompt[:, -1:] + 3 * torch.arange(1, 13)) % 32)
    with torch.no_grad():
        exact = model(expected)
    quantize(model, bits=bits)
    assert describe(model).endswith("13 Linear layers quantized, 0 kept")
    assert torch.equal(model.generate(prompt, max_new_tokens=12), expected)
    assert torch.equal(model.generate(prompt, max_new_tokens=12, use_cache=False), expected)
    with torch.no_grad():
        assert rel_error(model(expected), exact) < bound  # measured 0.006 (int8), 0.069 (nf4)


@pytest.fixture(scope="module")
def classifier():
    return TextClassificationPipeline(model=default_text_model_path(), device=torch.device("cpu"))


def test_quantized_minilm_embeddings_stay_near_identical(classifier):
    texts = list(EASY)
    exact = classifier.encoder.embed(texts)
    for bits, least in ((8, 0.99), (4, 0.94)):  # measured cosine >= 0.9991 (int8) and >= 0.962 (nf4)
        encoder = copy.deepcopy(classifier.encoder)
        quantize(encoder.model, bits=bits)
        cosine = F.cosine_similarity(encoder.embed(texts), exact)
        assert cosine.min() > least, (bits, cosine)


def test_quantized_text_classifier_gives_the_same_top_label(classifier):
    quantized = TextClassificationPipeline(
        model=default_text_model_path(), device=torch.device("cpu"), quantization="8bit"
    )
    assert describe(quantized.encoder.model) == "8-bit: 37 Linear layers quantized, 0 kept"
    texts = list(EASY)
    exact = classifier(texts, labels=LABELS)
    approx = quantized(texts, labels=LABELS)
    assert [r[0]["label"] for r in exact] == list(EASY.values())
    assert [r[0]["label"] for r in approx] == list(EASY.values())
    # measured: the top score moves by 0.012 at most (0.848 -> 0.836 for the sports sentence)
    assert max(abs(a[0]["score"] - e[0]["score"]) for a, e in zip(approx, exact)) < 0.03


def test_clear_error_without_bitsandbytes(monkeypatch, encoder_stack):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # `import bitsandbytes` now raises ImportError
    with pytest.raises(MissingDependencyError, match="pip install bitsandbytes"):
        quantize(encoder_stack, bits=8)
    with pytest.raises(MissingDependencyError, match="pip install bitsandbytes"):
        load_quantized("/nonexistent", bits=4)
    assert describe(encoder_stack) == "not quantized: 12 Linear layers"
    assert footprint(encoder_stack)["quant_state_bytes"] == 0


def test_bad_options_and_unsupported_devices_are_input_errors(monkeypatch, encoder_stack):
    for kwargs, message in [
        ({"bits": 3}, "bits must be 8 or 4"),
        ({"bits": 4, "quant_type": "int4"}, "quant_type must be 'nf4' or 'fp4'"),
        ({"bits": 8, "double_quant": True}, "4-bit options"),
        ({"bits": 8, "compute_dtype": torch.bfloat16}, "4-bit options"),
    ]:
        with pytest.raises(InputError, match=message):
            quantize(encoder_stack, **kwargs)
    with pytest.raises(InputError, match="'meta' device"):
        quantize(TransformerEncoder(64, 4, 1).to("meta"), bits=8)
    # bitsandbytes lists where it runs; an older build that runs on CUDA only does not list the CPU.
    monkeypatch.setattr(bnb, "supported_torch_devices", {"cuda"})
    with pytest.raises(InputError, match=r"cannot quantize on 'cpu'; it supports \['cuda'\]"):
        quantize(encoder_stack, bits=4)
    monkeypatch.undo()
    quantize(encoder_stack, bits=8)
    with pytest.raises(InputError, match="already quantized"):
        quantize(encoder_stack, bits=4)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    """A tiny Llama saved like a hub model; hidden size 48 is a shape the fused CPU 4-bit kernel cannot take."""
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=128, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    model = LlamaForCausalLM(config).eval()
    path = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(path)
    return model, path


@pytest.mark.parametrize("bits, bound", [(8, 0.03), (4, 0.35)])
def test_load_quantized_hugging_face_model_on_cpu(tiny_llama, bits, bound):
    model, path = tiny_llama
    ids = torch.tensor([[1, 7, 20, 33, 5]])
    quantized = load_quantized(path, bits=bits, compute_dtype=torch.bfloat16 if bits == 4 else None,
                               double_quant=bits == 4)
    assert type(quantized).__name__ == "LlamaForCausalLM"  # the class named in the config, with its LM head
    proj = quantized.model.layers[0].self_attn.q_proj
    assert type(proj).__name__ == ("Linear8bitLt" if bits == 8 else "Linear4bit")
    assert type(quantized.lm_head) is nn.Linear  # transformers keeps the output head in float
    if bits == 4:
        assert proj.weight.quant_type == "nf4" and proj.compute_dtype == torch.bfloat16
        assert proj.weight.quant_state.nested  # double quant, before the CPU kernel re-lays it out
    f = footprint(quantized)
    assert f["total_bytes"] - f["quant_state_bytes"] == quantized.get_memory_footprint()
    assert f["total_bytes"] < footprint(model)["total_bytes"]
    with torch.no_grad():
        # measured 0.0095 (int8) and 0.23 (nf4): this random model's logits are small, and the 9% error of
        # each 4-bit layer (two of them of width 48, computed in bfloat16) is not averaged away.
        assert rel_error(quantized(ids).logits, model(ids).logits) < bound
    assert quantized.generate(ids, max_new_tokens=4, do_sample=False).shape == (1, 9)


def test_load_quantized_missing_model_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file or folder"):
        load_quantized(tmp_path / "missing", bits=8)
    with pytest.raises(InputError, match="bits must be 8 or 4"):
        load_quantized(tmp_path, bits=2)
