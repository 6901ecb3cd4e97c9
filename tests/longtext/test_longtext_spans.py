"""Candidate answer spans: the bare answer beats a span that drags a question word along, by more than the margin
within which the LM reader may overrule the prior; the runner-up sentence offers spans only if it supports them."""

import numpy as np

from mmkit.longtext.qa import LongTextQA
from mmkit.longtext.reader import PRIOR_MARGIN
from mmkit.longtext.retrieval import terms
from mmkit.longtext.spans import candidates, tidy_span


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


def best_span(sentence, question):
    return candidates(sentence, 0, question)[0].text


def test_a_name_with_initials_is_one_answer():
    assert best_span("The package was written by Pierre G.F. Gerard-Marchant in 2006.", "Who wrote the package?") == \
        "Pierre G.F. Gerard-Marchant"
    assert best_span("Octave was first written by John W. Eaton.", "Who wrote Octave first?") == "John W. Eaton"
    # a period that ends a sentence still ends a span
    assert not any("Ada. Later" in c.text for c in candidates("The lead was Ada. Later it was Bob.", 0, "Who led?"))


def test_a_comma_beside_chinese_ends_a_span():
    # NFKC has turned "，" into ","; "pager,在无法找到" is two clauses, not an answer
    spans = [c.text for c in candidates("默认使用 pager,在无法找到 pager 时使用 cat。", 0, "默认使用什么程序？")]
    assert "pager" in spans and not any("," in span for span in spans)
    # in English a comma may sit inside an answer
    assert any("," in c.text for c in candidates("It was signed on 8 June, 1771 in Bath.", 0, "When was it signed?"))


def test_a_slash_joined_word_that_holds_a_question_word_repeats_the_question():
    spans = {c.text: c.prior for c in candidates("Press F5 to import/reload the module.", 0,
                                                 "Which key reloads the module?")}
    assert max(spans, key=spans.get) == "F5"
    assert spans["F5"] > spans.get("import/reload", float("-inf"))
    # and the same word in the question is a question word too
    assert best_span("(Next uid/gid allocation: 64070.)", "What is the next uid/gid allocation?") == "64070"


def test_number_words_answer_how_many():
    assert best_span("The list had ten members in February 2012.", "How many members did the list have?") == "ten"


def test_decimal_numbers_are_one_term():
    version_terms = terms("Version 0.9 came after 3.11.")
    assert "0.9" in version_terms and "3.11" in version_terms and "0" not in version_terms and "9" not in version_terms


def test_an_answer_shows_line_wraps_as_spaces_except_inside_chinese():
    assert tidy_span("John\n  W. Eaton") == "John W. Eaton"
    assert tidy_span("所介\n绍 Vim") == "所介绍 Vim"


def test_a_command_with_its_argument_answers_which_keys_or_command():
    assert best_span("Type :set ic to make searches ignore case.", "Which command makes searches ignore case?") == \
        ":set ic"
    spans = {c.text: c.prior for c in candidates("Press CTRL-W CTRL-W to jump to the other window.", 0,
                                                 "Which keys take you to the other window?")}
    assert spans["CTRL-W CTRL-W"] > spans["CTRL-W"]  # "keys", plural, asks for a key too


def test_an_adverb_is_not_an_answer():
    assert best_span("The accounts are automatically created by update-passwd.", "What creates the accounts?") == \
        "update-passwd"
