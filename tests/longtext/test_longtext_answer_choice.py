"""The answer the reader may choose: not a truncation of a better-prior span, and nothing without a number when the
question asks for one (then "not in the document")."""

import numpy as np
import pytest

from mmkit.longtext.qa import LongTextQA
from mmkit.longtext.reader import CausalLMReader
from mmkit.longtext.spans import asks_for_number, candidates, has_number


class _Model:
    def eval(self):
        return self


class ShortStringLM(CausalLMReader):
    """A causal-LM reader whose "model" prefers shorter answers by 3 nats a character: the bias of a small LM that
    made Gemma pick "七点" over "七点半" (no weights needed to reproduce it)."""

    def __init__(self):
        super().__init__(_Model(), object())
        self.read = []

    def log_likelihoods(self, question, context, answers):
        self.read.append(list(answers))
        return np.array([-3.0 * len(answer) if question else 0.0 for answer in answers], dtype=np.float32)


@pytest.mark.parametrize("question, sentence, answer", [
    ("白鹭港图书馆每天早上几点开门？", "白鹭港图书馆每天早上七点半开门。", "七点半"),
    ("长风号货船的船长是谁？", "长风号货船的船长是何静宜。", "何静宜"),
])
def test_the_reader_does_not_pick_a_truncation_of_the_better_prior_span(question, sentence, answer):
    spans = candidates(sentence, 0, question)
    assert spans[0].text == answer  # the prior is right ...
    nested = [s for s in spans if s.text != answer and s.start >= spans[0].start and s.end <= spans[0].end]
    assert nested and nested[0].prior > spans[0].prior - 1.0  # ... and a truncation sits inside the LM's margin
    reader = ShortStringLM()
    choice, scores = reader.choose(question, sentence, spans)
    assert spans[choice].text == answer, [(s.text, float(x)) for s, x in zip(spans, scores)]
    assert all(np.isneginf(scores[spans.index(s)]) for s in nested)


def test_the_reader_still_breaks_ties_between_spans_that_are_not_nested():
    # Two separate names within the margin: the LM decides, as before.
    question, sentence = "Who built the lighthouse?", "The lighthouse was built by Elsa Brandt and Tom Okafor."
    spans = candidates(sentence, 0, question)
    shortlisted = [s for s in spans if s.prior >= spans[0].prior - 1.0]
    reader = ShortStringLM()
    reader.choose(question, sentence, spans)
    assert reader.read and len(reader.read[0]) >= 2
    assert {"Elsa Brandt", "Tom Okafor"} <= {s.text for s in shortlisted}


def test_questions_that_ask_for_a_number():
    assert all(asks_for_number(q) for q in ["松溪县的风筝节每年几月举行？", "维拉克辛的成人推荐剂量是多少？",
                                            "梅岭镇条约是哪一年签订的？", "How many dimensions does it have?",
                                            "In what year was the PSF formed?"])
    assert not any(asks_for_number(q) for q in ["长风号货船的船长是谁？", "Who created Python?",
                                                "Which command saves a file?", "When was the lighthouse built?"])
    assert all(has_number(t) for t in ["三月", "七点半", "1856年", "thirty-one metres", "June", "twelve"])
    assert not any(has_number(t) for t in ["动物园", "花卷", "Elsa Brandt", "lighthouse"])


FILLER = "第一讲第一节:移动光标。请按键盘上的字母键 j 来移动光标。要退出程序请输入 :q! 然后按回车。"


def test_a_number_question_over_a_sentence_without_a_number_is_not_in_the_document():
    # The sentence covers the question well (松溪县, 风筝节, 每年, 举行) but gives a place, not a month.
    document = f"{FILLER}\n\n松溪县的风筝节每年都在河边举行。\n\n{FILLER}"
    qa = LongTextQA(encoder=False, reader="lexical")
    assert qa("松溪县的风筝节每年在哪里举行？", document)["answer"] == "河边"  # the sentence is supported ...
    out = qa("松溪县的风筝节每年几月举行？", document)
    assert out["found"] is False and out["answer"] is None, out["answer"]  # ... but holds no month
    out = qa("松溪县的风筝节每年几月举行？", document.replace("都在河边", "十一月在河边"))
    assert out["answer"] == "十一月"
