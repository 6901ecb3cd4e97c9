"""One owner per model: the registry's models are shared and stay float; a pipeline that quantizes gets its own copy.

Each task is built float -> 8bit -> float -> 4bit -> float in one process, as an app does when its quantization box
changes. After each step, what the pipeline says about itself (``repr``, ``describe()``) must match the bitsandbytes
layers it really runs, and the registry's shared model must still be float. Long-text QA runs a tiny random Llama
put in the registry's place for both embedded readers (the real ones take minutes to convert on 2 cores).
"""

import pytest
import torch

import mmkit
from mmkit.errors import InputError
from mmkit.models import is_ready, registry
from mmkit.quant import describe

bnb = pytest.importorskip("bitsandbytes")

STEPS = [None, "8bit", None, "4bit", None]


def bnb_layers(module) -> tuple[int, int]:
    """(Linear8bitLt count, Linear4bit count) in ``module``."""
    modules = list(module.modules())
    return (sum(isinstance(m, bnb.nn.Linear8bitLt) for m in modules),
            sum(isinstance(m, bnb.nn.Linear4bit) for m in modules))


def assert_reports_match_layers(pipe, quantization, report: str, module) -> None:
    n8, n4 = bnb_layers(module)
    assert (f"quantization='{quantization}'" in repr(pipe)) == (quantization is not None), repr(pipe)
    assert ("quantization=" in repr(pipe)) == (quantization is not None), repr(pipe)
    if quantization is None:
        assert (n8, n4) == (0, 0)
        assert report.startswith("not quantized:"), report
    elif quantization == "8bit":
        assert n8 > 0 and n4 == 0
        assert report.startswith(f"8-bit: {n8} Linear layers quantized"), report
    else:
        assert n4 > 0
        assert "4-bit nf4" in report and f": {n4 + n8} Linear layers quantized" in report, report


def assert_float(module) -> None:
    assert bnb_layers(module) == (0, 0)
    assert describe(module).startswith("not quantized:")


@pytest.mark.parametrize("encoder", ["multilingual-e5-small", "minilm"])
def test_text_classification_float_8bit_float_4bit_float(encoder):
    shared = registry.load(encoder)
    head_name = registry.load("topic-classifier").config.encoder if is_ready("topic-classifier") else None
    for quantization in STEPS:
        clf = mmkit.pipeline("text-classification", model=encoder, device="cpu", quantization=quantization)
        assert_reports_match_layers(clf, quantization, clf.describe(), clf.encoder.model)
        assert (clf.encoder is shared) == (quantization is None)
        if clf.head is not None:  # the head runs on its config's encoder: the shared one only when unchanged
            head_shared = registry.load(head_name)
            assert (clf.head.encoder is head_shared) == (quantization is None)
            assert registry.load("topic-classifier").encoder is head_shared
            # one copy of an encoder that serves both roles, float or quantized; two different models else
            assert (clf.head.encoder is clf.encoder) == (head_name == encoder)
            assert_float(head_shared.model)
        # MiniLM's four most sensitive layers stay 8-bit at 4 bits, in whichever role; e5 has none ranked
        for name, role in ((encoder, clf.encoder), (head_name, clf.head.encoder if clf.head else None)):
            if role is not None and quantization == "4bit":
                assert bnb_layers(role.model)[0] == (4 if name == "minilm" else 0), name
        scores = clf("The striker scored twice in the final.", labels=["sports", "cooking"])
        assert scores[0]["label"] == "sports"
        if clf.head is not None:
            assert clf("国足二比零战胜对手。")[0]["label"] == "sports"
        assert_float(shared.model)


@pytest.mark.parametrize(("task", "name"), [("image-captioning", "tiny-captioner"),
                                          ("cross-modal-retrieval", "tiny-clip")])
def test_image_tasks_float_8bit_float_4bit_float(task, name):
    if not is_ready(name):
        pytest.skip(f"{name} is not trained yet")
    for quantization in STEPS:
        pipe = mmkit.pipeline(task, model=name, device="cpu", quantization=quantization)
        assert_reports_match_layers(pipe, quantization, pipe.describe(), pipe.model)
        assert (pipe.model is registry.load(name)) == (quantization is None)
        assert_float(registry.load(name))
        if task == "image-captioning":
            assert pipe(torch.zeros(3, 32, 32).permute(1, 2, 0).numpy())["caption"]


@pytest.mark.parametrize("task", ["image-captioning", "cross-modal-retrieval"])
def test_the_photo_default_is_the_shared_float_model_and_refuses_quantization(task):
    pipe = mmkit.pipeline(task, device="cpu")
    photo = registry.load("efficientnet-lite0-photo")
    assert pipe.module is photo or getattr(pipe.model, "classifier", None) is photo
    with pytest.raises(InputError, match="is not quantized"):
        mmkit.pipeline(task, device="cpu", quantization="8bit")
    assert_float(photo)


@pytest.fixture
def tiny_registry_reader(monkeypatch):
    """A random 2-layer Llama (width 64, untied head) as the registry's shared reader (both languages)."""
    from tokenizers import Tokenizer, models
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {word: i for i, word in enumerate(["[PAD]", "[UNK]", "[SEP]", "a", "b"])}
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="[UNK]")),
                                        unk_token="[UNK]", pad_token="[PAD]", eos_token="[SEP]")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2)
    shared = LlamaForCausalLM(config).eval()
    monkeypatch.setitem(registry._loaded, "qwen-reader", (shared, tokenizer))
    return shared


def test_long_text_qa_float_8bit_float_4bit_float(tiny_registry_reader):
    for quantization in STEPS:
        qa = mmkit.pipeline("long-text-qa", encoder=False, device="cpu", quantization=quantization)
        for lang in ("en", "zh"):
            reader = qa.qa.reader(lang)
            assert_reports_match_layers(qa, quantization, qa.describe(lang), reader.model)
            assert (reader.model is tiny_registry_reader) == (quantization is None)
        assert describe(tiny_registry_reader) == "not quantized: 15 Linear layers"


def test_moving_a_shared_model_to_another_device_moves_a_copy():
    """own_model without a GPU: the "meta" device stands in for another device."""
    from mmkit.pipelines.base import own_model

    shared = torch.nn.Linear(4, 2)
    moved = own_model(shared, torch.device("meta"), shared=True)
    assert moved is not shared and moved.weight.device.type == "meta" and shared.weight.device.type == "cpu"
    assert own_model(shared, torch.device("cpu"), shared=True) is shared  # already as asked: no copy
    mine = torch.nn.Linear(4, 2)
    assert own_model(mine, torch.device("meta"), shared=False) is mine and mine.weight.device.type == "meta"


def test_a_small_embedded_reader_is_chosen_by_name_and_shared(tiny_registry_reader, monkeypatch):
    monkeypatch.setitem(registry._loaded, "smollm2-reader", registry._loaded["qwen-reader"])
    qa = mmkit.pipeline("long-text-qa", model="smollm2-reader", encoder=False, device="cpu")
    assert qa.qa.reader().model is tiny_registry_reader  # the registry's copy, not a load by hub id
    quantized = mmkit.pipeline("long-text-qa", model="smollm2-reader", encoder=False, quantization="8bit")
    assert quantized.qa.reader().model is not tiny_registry_reader
    assert describe(tiny_registry_reader) == "not quantized: 15 Linear layers"
