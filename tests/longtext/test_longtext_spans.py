"""Candidate answer spans: the bare answer beats a span that drags a question word along, by more than the margin
within which the LM reader may overrule the prior; the runner-up sentence offers spans only if it supports them."""

import numpy as np

from mmkit.longtext.qa import LongTextQA
from mmkit.longtext.reader import PRIOR_MARGIN
from mmkit.longtext.spans import candidates


def test_a_span_that_restates_a_question_word_falls_outside_the_reader_margin():
    for question, sentence, answer, restatement in [
        ("维拉克辛的成人推荐剂量是多少？", "维拉克辛的成人推荐剂量是每天750毫克。", "每天750毫克", "剂量是每天750毫克"),
        ("成都办事处的负责人是谁？", "成都办事处的负责人是何静宜。", "何静宜", "负责人是何静宜"),
        ("What is the recommended dose of coramide for adults?",
         "The recommended dose of coramide for adults is 250 milligrams.", "250 milligrams", "adults is 250 milligrams"),
    ]:
        prior = {c.text: c.prior for c in candidates(sentence, 0, question)}
        assert max(prior, key=prior.get) == answer
        assert prior[answer] - prior[restatement] > PRIOR_MARGIN, (answer, prior[answer], prior[restatement])


class RecordingReader:
    """Picks the best prior, like the lexical reader, and keeps the spans it was offered."""

    def __init__(self):
        self.offered = []

    def choose(self, question, context, spans):
        self.offered = [span.text for span in spans]
        return int(np.argmax([span.prior for span in spans])), np.array([span.prior for span in spans])


def test_an_unrelated_runner_up_sentence_offers_no_candidates():
    document = "第一讲第一节:移动光标\n\n柳河湾仓库的门禁密码是7551。\n\n请按键盘上的字母键 j 来移动光标。"
    reader = RecordingReader()
    out = LongTextQA(encoder=False, reader=reader)("柳河湾仓库的门禁密码是什么？", document)
    assert out["answer"] == "7551"
    assert reader.offered and all(text in "柳河湾仓库的门禁密码是7551。" for text in reader.offered), reader.offered
