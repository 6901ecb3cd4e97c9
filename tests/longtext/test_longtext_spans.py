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


def test_a_chinese_word_made_of_question_characters_counts_as_a_question_word():
    # jieba cuts the question into 叫/什么/名字 and the evidence into 名叫/花卷: 名叫 says nothing the question
    # does not, so neither it nor a span that starts on it may beat the bare name.
    question, sentence = "桐花镇动物园的小熊猫叫什么名字？", "桐花镇动物园的小熊猫名叫花卷。"
    prior = {c.text: c.prior for c in candidates(sentence, 0, question)}
    assert max(prior, key=prior.get) == "花卷"
    assert "名叫" not in prior  # no new word at all: not a candidate
    assert prior["花卷"] - prior["名叫花卷"] > PRIOR_MARGIN, (prior["花卷"], prior["名叫花卷"])
    # A word sharing only some characters with the question is still new: 花 is in 桐花镇, 卷 is not.
    assert "花卷" in prior


def test_the_unit_after_a_number_belongs_to_the_answer_even_when_the_question_names_it():
    # 哪一年 puts 年 among the question characters, but in 1856年 the 年 is the unit of the number, one word with it:
    # cutting it off leaves a bare "1856" where the document says "1856年". Same for 多少毫克 -> 750毫克.
    for question, sentence, number, unit in [("梅岭镇条约是哪一年签订的？", "梅岭镇条约签订于1856年。", "1856", "年"),
                                             ("维拉克辛每天服用多少毫克？", "维拉克辛的成人推荐剂量是每天750毫克。", "750", "毫克")]:
        prior = {c.text: c.prior for c in candidates(sentence, 0, question)}
        assert max(prior, key=prior.get) == number + unit, prior
        assert number not in prior and unit not in prior, prior


def test_urls_and_email_addresses_are_answered_whole():
    # The word splitter used to cut "https://..." at "://", and the bare scheme "https" won.
    document = ("The Harbour Trust runs the lighthouse tours.\n\n"
                "The booking website of the tours is https://tours.example.org/book?day=sat, open all year.\n\n"
                "Questions about group visits go to visits.desk@example.org before noon.")
    qa = LongTextQA(encoder=False, reader="lexical")
    for question, answer in [("What is the booking website of the tours?", "https://tours.example.org/book?day=sat"),
                             ("Where do questions about group visits go?", "visits.desk@example.org")]:
        out = qa(question, document)
        assert out["answer"] == answer, out
        assert document[out["answer_start"] : out["answer_end"]] == answer
