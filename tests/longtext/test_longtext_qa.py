"""LongTextQA end to end with BM25 and crafted reader outputs (fast), plus plug-in readers built from configs.

The fast tests use :class:`AnswerKeyReader` (it writes the key's answer when a passage it was given holds it):
retrieval, span mapping and offsets are real. The embedded 1.5B reader is exercised by the slow tests at the end
and by bench/longqa.py.
"""

import json

import numpy as np
import pytest
from answer_key_reader import AnswerKeyReader, save_tiny_causal_lm

from mmkit.datasets.haystack import make_haystack
from mmkit.errors import InputError
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
def qa(haystack):
    key = {needle.question: needle.answer for needle in haystack.needles}
    key.update({"What is the access code for the Quenby storage room?": "5521",
                "柳河湾仓库的门禁密码是什么？": "2980", "桐花镇的风筝节每年几月举行？": "五月",
                "How long is the footbridge over the Swale River?": "212 metres"})
    return LongTextQA(encoder=False, reader=AnswerKeyReader(key))


def test_planted_facts_are_retrieved_and_answered_with_offsets_into_the_original(qa, haystack):
    document = haystack.document
    for needle in haystack.needles:
        out = qa(needle.question, document)
        assert out["found"] and out["answer"] == needle.answer, (needle, out["written"])
        assert document[out["answer_start"] : out["answer_end"]] == needle.answer
        # the evidence is the sentence that holds the answer, found where it was planted
        assert out["start"] == needle.start and document[out["start"] : out["end"]] == needle.fact
        assert any(c["start"] <= needle.start < c["end"] for c in out["chunks"])
        assert [c["score"] for c in out["chunks"]] == sorted((c["score"] for c in out["chunks"]), reverse=True)
        assert len(out["chunks"]) == qa.top_k and all(a["end"] <= b["start"] or b["end"] <= a["start"]
                                               for a in out["chunks"] for b in out["chunks"] if a is not b)


def test_an_answer_that_is_not_in_the_passages_is_no_answer(haystack):
    # a reader that invents: what it writes is nowhere in the document, or says NOT FOUND
    absent = [question for question, _ in haystack.absent]
    reader = AnswerKeyReader(written={absent[0]: "Margaret Olsen", absent[1]: "NOT FOUND"})
    qa = LongTextQA(encoder=False, reader=reader)
    for question in absent:
        out = qa(question, haystack.document)
        assert out["found"] is False and out["answer"] is None and out["answer_start"] is None, out["written"]
        # the closest passage is still shown (apps label it "closest sentence (no answer)")
        assert haystack.document[out["start"] : out["end"]] == out["chunks"][0]["text"]


def test_a_written_answer_in_another_case_maps_to_the_document_text(haystack):
    needle = haystack.needles[1]
    qa = LongTextQA(encoder=False, reader=AnswerKeyReader(written={needle.question: needle.answer.upper() + "."}))
    out = qa(needle.question, haystack.document)
    assert out["answer"] == needle.answer and out["written"] == needle.answer.upper() + "."


def test_progress_reports_retrieving_then_reading(qa, haystack):
    stages = []
    qa(haystack.needles[0].question, haystack.document, progress=stages.append)
    assert stages == ["retrieving", "reading"]


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


def test_bad_arguments_are_refused(qa):
    with pytest.raises(InputError, match="lang"):
        LongTextQA(lang="fr")
    with pytest.raises(InputError, match="top_k"):
        LongTextQA(top_k=0)
    with pytest.raises(InputError, match="max_new_tokens"):
        qa("Anything?", "Some text.", max_new_tokens=0)


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


def test_only_the_bm25_shortlist_is_embedded_and_kept(haystack):
    from mmkit.longtext.retrieval import SHORTLIST

    encoder = CountingEncoder()
    needle = haystack.needles[1]
    qa = LongTextQA(encoder=encoder, reader=AnswerKeyReader({needle.question: needle.answer}))
    assert qa(needle.question, haystack.document)["answer"] == needle.answer
    index = qa.cache.get(haystack.document)
    assert len(index.vectors) == SHORTLIST < len(index.sentences)
    before = encoder.texts
    qa(needle.question, haystack.document)
    assert encoder.texts == before + 1  # only the question: its windows were embedded already


def test_e5_by_default_bm25_alone_on_request_and_a_given_encoder_for_every_language():
    from mmkit.models import is_ready, load

    if is_ready("multilingual-e5-small"):
        assert LongTextQA(reader=AnswerKeyReader()).encoder is load("multilingual-e5-small")  # the shared one
    assert LongTextQA(encoder=False, reader=AnswerKeyReader()).encoder is None
    encoder = CountingEncoder()
    qa = LongTextQA(encoder=encoder, reader=AnswerKeyReader({"柳河湾仓库的门禁密码是什么？": "2980"}))
    assert qa("柳河湾仓库的门禁密码是什么？", ZH_DOCUMENT)["answer"] == "2980" and encoder.texts > 1


DOC = ("Harbour notes. " * 40 + "\n\nThe lighthouse on Wyke Island was built by Ines Calloway in 1949.\n\n" +
       "Tide tables follow. " * 40)


def test_a_hub_extractive_model_plugs_in_by_path(tmp_path):
    from answer_key_reader import word_tokenizer
    from transformers import BertConfig, BertForQuestionAnswering

    tokenizer = word_tokenizer(DOC.replace(".", " . ").split() + "[CLS] Who built the lighthouse on ?".split())
    tokenizer.cls_token, tokenizer.sep_token = "[CLS]", "[SEP]"
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, architectures=["BertForQuestionAnswering"])
    BertForQuestionAnswering(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    out = LongTextQA(encoder=False, reader=str(tmp_path))("Who built the lighthouse on Wyke Island?", DOC)
    assert out["found"]
    # an untrained head picks some span, but it must be a span of the evidence in the original text
    assert out["start"] <= out["answer_start"] < out["answer_end"] <= out["end"]
    assert DOC[out["answer_start"] : out["answer_end"]] == out["answer"]


@pytest.mark.parametrize("architecture, template", [
    ("llama", None),  # a base model: plain prompt
    ("qwen2", "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} [SEP] {% endfor %}assistant :"),
])
def test_a_hub_causal_lm_plugs_in_by_path(tmp_path, architecture, template):
    save_tiny_causal_lm(tmp_path, DOC + " Who built the lighthouse on Wyke Island ?", architecture, template)
    assert json.loads((tmp_path / "config.json").read_text())["architectures"][0].lower().startswith(architecture)
    qa = LongTextQA(encoder=False, reader=str(tmp_path))
    reader = qa.reader()
    assert reader.name == "generative" and bool(reader.tokenizer.chat_template) == bool(template)
    out = qa("Who built the lighthouse on Wyke Island?", DOC, max_new_tokens=5)
    # a random model writes random words: at most 5 new tokens, one line; an answer only if it is document text
    assert isinstance(out["written"], str) and "\n" not in out["written"] and len(out["written"].split()) <= 5
    if out["found"]:
        assert DOC[out["answer_start"] : out["answer_end"]].lower().split() == out["written"].lower().split()
    else:
        assert out["answer"] is None and out["written"].lower() not in DOC.lower() or not out["written"]


@pytest.mark.slow
def test_real_reader_answers_planted_facts_and_refuses_absent_ones(haystack):
    qa = LongTextQA()
    for needle in haystack.needles:
        out = qa(needle.question, haystack.document)
        # the planted sentence is the evidence and the answer is the planted one, or its head ("350" of "350
        # metres": the reader writes the shortest answer it can)
        assert out["start"] == needle.start and out["answer"] and needle.answer.startswith(out["answer"]), out
    assert sum(not qa(question, haystack.document)["found"] for question, _ in haystack.absent) >= 1


@pytest.mark.slow
def test_real_reader_answers_easy_questions_in_both_languages():
    qa = LongTextQA()
    document = ("IDLEfork 0.8.1 was released on 22-Jul-2001.\n\nThe Harbour Trust runs the lighthouse tours.\n\n"
                "The lighthouse on Wyke Island was built by Margaret Olsen in 1884.")
    assert qa("Who built the lighthouse on Wyke Island?", document)["answer"] == "Margaret Olsen"
    assert qa("What is the release date of IDLEfork 0.8.1?", document)["answer"] == "22-Jul-2001"
    out = qa("柳河湾仓库的门禁密码是什么？", ZH_DOCUMENT)
    assert out["answer"] == "2980" and ZH_DOCUMENT[out["start"] : out["end"]] == "柳河湾仓库的门禁密码是2980。"
    assert qa("桐花镇的风筝节每年几月举行？", ZH_DOCUMENT)["answer"] == "五月"


def test_passages_read_neither_overlap_nor_repeat_each_other():
    from mmkit.longtext.retrieval import build_index

    repeated = "The spare key is under the pot. The spare key is blue. The spare key opens the shed."
    filler = " ".join(f"Paragraph {i} talks about gardening, weather and the garden." for i in range(40))
    index = build_index(f"{repeated} {filler}\n{repeated} {filler}", lang="en")  # one 3-sentence window, twice
    passages = index.search("Where is the spare key kept?", top_k=4)
    texts = [" ".join(p.text.split()) for p in passages]
    assert texts[0] == repeated
    assert len(set(texts)) == len(texts) == 4  # its second copy (as good, elsewhere) is not read again
    assert all(a.end <= b.start or b.end <= a.start for a in passages for b in passages if a is not b)


def test_an_html_page_is_answered_in_its_shown_words_with_offsets_into_the_markup():
    page = ("<!DOCTYPE html><html><body><p>APT reads its pinning from preferences.</p>"
            "<p>The default <code>Pin-Priority</code> of an installed package is <b>100</b> &amp; never less.</p>"
            "<p>Mirrors are listed in sources.list.</p></body></html>")
    question = "What is the default pin priority of an installed package?"
    qa = LongTextQA(encoder=False, reader=AnswerKeyReader(written={question: "Pin-Priority of an installed package is 100"}))
    out = qa(question, page)
    assert out["answer"] == "Pin-Priority of an installed package is 100"  # no </code> or <b> inside
    assert page[out["answer_start"]:out["answer_end"]] == "Pin-Priority</code> of an installed package is <b>100"
    assert "<" not in out["evidence"] and "&amp;" not in out["evidence"] and "& never less" in out["evidence"]
    assert all("<" not in chunk["text"] for chunk in out["chunks"])
