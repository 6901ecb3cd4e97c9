"""LongTextQA end to end with the model-free reader and BM25 only (fast), plus plug-in readers built from configs.

The real readers (SmolLM2, Gemma) are exercised by the slow test at the end and by bench/longqa.py.
"""

import json

import numpy as np
import pytest

from mmkit.errors import InputError
from mmkit.longtext.haystack import make_haystack
from mmkit.longtext.qa import LongTextQA


@pytest.fixture(scope="module")
def filler():
    from pydoc_data.topics import topics

    return "\n\n".join(topics[name] for name in sorted(topics))


@pytest.fixture(scope="module")
def haystack(filler):
    # ~300k characters (~75k tokens) with facts at the start, the middle and the end.
    return make_haystack(filler, 300_000, [0.0, 0.5, 1.0], seed=3, absent=2)


@pytest.fixture()
def qa():
    return LongTextQA(encoder=False, reader="lexical")


def test_planted_facts_are_answered_with_offsets_into_the_original(qa, haystack):
    document = haystack.document
    for needle in haystack.needles:
        out = qa(needle.question, document)
        assert out["found"] and out["answer"] == needle.answer, (needle, out["answer"])
        assert document[out["answer_start"] : out["answer_end"]] == needle.answer
        # the evidence span is the planted sentence, found where it was planted
        assert out["start"] == needle.start and document[out["start"] : out["end"]] == needle.fact
        assert any(c["start"] <= needle.start < c["end"] for c in out["chunks"])
        assert [c["score"] for c in out["chunks"]] == sorted((c["score"] for c in out["chunks"]), reverse=True)


def test_a_question_about_an_absent_fact_is_not_answered(qa, haystack):
    for question, _ in haystack.absent:
        out = qa(question, haystack.document)
        assert out["found"] is False and out["answer"] is None, (question, out["evidence"])


def test_second_question_on_the_same_document_reuses_the_index(qa, haystack):
    first, second = haystack.needles[:2]
    qa(first.question, haystack.document)
    qa(second.question, haystack.document)
    assert qa.cache.builds == 1 and qa.cache.hits == 1
    qa(first.question, haystack.document + " ")  # another text is another index
    assert qa.cache.builds == 2


def test_offsets_survive_messy_whitespace_and_unicode(qa):
    document = ("Ｒｅｐｏｒｔ\u00a0header\n\n" + "Filler   text about   nothing in particular.  " * 30 +
                "\n\nThe   access code\tfor the Quenby storage room is 5521.\n\n" +
                "More filler about other things entirely.  " * 30)
    out = qa("What is the access code for the Quenby storage room?", document)
    assert out["answer"] == "5521"
    assert document[out["answer_start"] : out["answer_end"]] == "5521"
    assert document[out["start"] : out["end"]] == "The   access code\tfor the Quenby storage room is 5521."


ZH_DOCUMENT = "\n\n".join([
    "本手册介绍仓库管理系统的基本用法。系统支持入库、出库和盘点三种操作。",
    "每次入库时，管理员需要在终端上登记货物的名称、数量和存放位置。",
    "出库操作必须由两名员工共同确认，以免发生差错。",
    "盘点通常在每个月的最后一个工作日进行，持续大约两个小时。",
    "柳河湾仓库的门禁密码是2980。",
    "如果终端无法连接服务器，请先检查网线，然后重新启动终端。",
    "系统的日志文件保存在服务器的数据目录中，保留九十天。",
    "桐花镇的风筝节每年五月举行。",
    "遇到火警时，所有员工应从最近的安全出口撤离，并在广场集合。",
] * 1)


def test_chinese_document(qa):
    out = qa("柳河湾仓库的门禁密码是什么？", ZH_DOCUMENT)
    assert out["lang"] == "zh" and out["answer"] == "2980"
    assert ZH_DOCUMENT[out["start"] : out["end"]] == "柳河湾仓库的门禁密码是2980。"
    assert qa("桐花镇的风筝节每年几月举行？", ZH_DOCUMENT)["answer"] == "五月"
    assert qa("白鹭港码头的经理是谁？", ZH_DOCUMENT)["found"] is False


def test_files_are_read_and_bad_files_refused(qa, tmp_path):
    good = tmp_path / "notes.md"
    good.write_text("# Notes\n\nThe footbridge over the Swale River is 212 metres long.\n", encoding="utf-8")
    assert qa("How long is the footbridge over the Swale River?", good)["answer"] == "212 metres"
    assert qa("How long is the footbridge over the Swale River?", str(good))["answer"] == "212 metres"
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        qa("Anything?", empty)
    binary = tmp_path / "corrupt.txt"
    binary.write_bytes(b"PK\x03\x04\x00\x00binary\x00junk" * 10)
    with pytest.raises(InputError, match="binary"):
        qa("Anything?", binary)
    with pytest.raises(InputError, match="no file"):
        qa("Anything?", str(tmp_path / "missing.txt"))
    with pytest.raises(InputError, match="question"):
        qa("   ", good)


def test_fifty_megabytes_are_refused_with_the_limit(qa, tmp_path):
    from mmkit.inputs import MAX_DOCUMENT_BYTES

    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(50_000_000)  # sparse: the size check must refuse it before reading
    with pytest.raises(InputError, match=f"limit is {MAX_DOCUMENT_BYTES / 1e6:.1f} MB"):
        qa("Anything?", big)
    with pytest.raises(InputError, match=f"limit is {MAX_DOCUMENT_BYTES:,}"):
        qa("Anything?", "x" * 50_000_000)


class CountingEncoder:
    """Deterministic bag-of-words vectors; counts how many texts it was asked to embed."""

    def __init__(self):
        self.texts = 0

    def embed(self, texts):
        self.texts += len(texts)
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, hash(word) % 64] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def test_only_bm25_candidates_are_embedded_and_kept(haystack):
    encoder = CountingEncoder()
    qa = LongTextQA(encoder=encoder, reader="lexical")
    needle = haystack.needles[1]
    assert qa(needle.question, haystack.document)["answer"] == needle.answer
    index = qa.cache.get(haystack.document)
    chunks_embedded = sum(kind == "chunk" for kind, _ in index.embeddings)
    assert 0 < chunks_embedded <= 24 < len(index.chunks)
    before = encoder.texts
    qa(needle.question, haystack.document)
    assert encoder.texts == before + 1  # only the question: its chunks and sentences were embedded already


def _tiny_tokenizer(words):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *sorted(set(words))])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", eos_token="[SEP]")


DOC = ("Harbour notes. " * 40 + "\n\nThe lighthouse on Wyke Island was built by Ines Calloway in 1949.\n\n" +
       "Tide tables follow. " * 40)


def test_a_hub_extractive_model_plugs_in_by_path(tmp_path):
    from transformers import BertConfig, BertForQuestionAnswering

    tokenizer = _tiny_tokenizer(DOC.replace(".", " . ").split() + "Who built the lighthouse on ?".split())
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, architectures=["BertForQuestionAnswering"])
    BertForQuestionAnswering(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    out = LongTextQA(encoder=False, reader=str(tmp_path))("Who built the lighthouse on Wyke Island?", DOC)
    assert type(out and LongTextQA).__name__ and out["found"]
    # an untrained head picks some span, but it must be a span of the evidence sentence in the original text
    assert out["start"] <= out["answer_start"] < out["answer_end"] <= out["end"]
    assert DOC[out["answer_start"] : out["answer_end"]].split() == out["answer"].split()


def test_a_hub_causal_lm_plugs_in_by_path(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _tiny_tokenizer(DOC.replace(".", " . ").split() + "Context Question Answer : Who built ?".split())
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, architectures=["LlamaForCausalLM"])
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]
    qa = LongTextQA(encoder=False, reader=str(tmp_path))
    out = qa("Who built the lighthouse on Wyke Island?", DOC)
    assert qa.reader("en").name == "causal-lm" and out["found"]
    assert out["start"] <= out["answer_start"] < out["answer_end"] <= out["end"]
    assert len(out["answer"].split()) <= 8  # a span, never the passage


@pytest.mark.slow
def test_real_reader_answers_planted_facts(haystack):
    qa = LongTextQA()
    for needle in haystack.needles:
        out = qa(needle.question, haystack.document)
        assert out["answer"] == needle.answer and out["start"] == needle.start


def test_a_question_naming_what_the_document_never_mentions_is_not_answered(qa):
    document = ("IDLEfork 0.8.1 was released on 22-Jul-2001.\n\nThe Harbour Trust runs the lighthouse tours.\n\n"
                "The lighthouse on Wyke Island was built by Margaret Olsen in 1884.")
    assert qa("What is the release date of IDLEfork 0.8.1?", document)["answer"] == "22-Jul-2001"
    for question in ["What is the release date of IDLEfork 0.9?",  # a version it never has
                     "Who built the lighthouse on Skye Island?"]:  # a name it never has
        out = qa(question, document)
        assert not out["found"] and out["answer"] is None, (question, out["answer"])
    assert qa("Who built the lighthouse on Wyke Island?", document)["answer"] == "Margaret Olsen"
