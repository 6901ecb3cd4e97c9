"""What the reader wrote -> a span of the passages it read (crafted reader outputs, no model)."""

import pytest

from mmkit.longtext.spans import locate, number_words, tidy_answer, without_question_words

TEXT = ("Python was created in the early 1990s by Guido van Rossum at CWI.\n"
        "Guido remained Python's principal author.  In 1995, Guido continued his work at CNRI in Reston,\n"
        "Virginia. The ABCD project is unrelated to ABC.\n"
        "默认使用 pager,在无法找到 pager 时使用 cat。")
ALL = [(0, len(TEXT))]


def span(written, regions=ALL):
    found = locate(written, TEXT, regions)
    return None if found is None else TEXT[found[0]:found[1]]


@pytest.mark.parametrize("written, expected", [
    ("Guido van Rossum", "Guido van Rossum"),  # exact
    ("guido VAN rossum", "Guido van Rossum"),  # case
    ("Reston, Virginia", "Reston,\nVirginia"),  # a line break in the document, a space in the answer
    ("Reston,Virginia", "Reston,\nVirginia"),  # a space the model dropped
    ('"Guido van Rossum".', "Guido van Rossum"),  # quotes and a final period are not part of the answer
    ("`cat`", "cat"),
    ("ABC", "ABC"),  # the whole word, not the start of "ABCD"
    ("使用pager", "使用 pager"),  # Chinese next to a Latin word, without the document's space
    ("early 1990s", "early 1990s"),
])
def test_written_answers_map_to_the_document_span(written, expected):
    assert span(written) == expected


@pytest.mark.parametrize("written", ["NOT FOUND", "not found.", "", "   ", "Guido van Rossum wrote it in 1991",
                                     "Amsterdam", "Rossu"])
def test_refusals_and_text_that_is_not_in_the_passages_are_no_answer(written):
    assert span(written) is None


def test_only_the_passages_read_count_and_the_best_passage_comes_first():
    guido = TEXT.index("Guido van Rossum")
    assert span("Guido van Rossum", [(guido + 20, len(TEXT))]) is None  # in the document but not in what was read
    second = TEXT.index("Guido continued")
    regions = [(second, len(TEXT)), (0, second)]  # the passage ranked first is searched first
    assert locate("Guido", TEXT, regions)[0] == second


def test_an_answer_held_twice_is_placed_where_the_rank_says():
    text = "Jupiter is the largest planet. The Great Red Spot on Jupiter is a storm."
    first, second = text.index("Jupiter"), text.rindex("Jupiter")
    assert locate("Jupiter", text, [(0, len(text))]) == (first, first + 7)
    assert locate("Jupiter", text, [(0, len(text))], rank=lambda span: span[0] > 20) == (second, second + 7)
    assert locate("Jupiter", text, [(0, len(text))], rank=lambda span: 0) == (first, first + 7)  # equals: earliest


def test_tidy_answer_keeps_the_first_line_and_inner_periods():
    assert tidy_answer("BeOpen.com\nsome explanation") == "BeOpen.com"
    assert tidy_answer("`U.S.`") == "U.S."
    assert locate("U.S.", "Made in the U.S. by Acme.", [(0, 25)]) == (12, 16)  # an abbreviation keeps its period
    assert tidy_answer("NOT FOUND") == ""


def test_a_number_is_found_in_the_words_the_document_writes_it_in():
    text = "By default the history holds ten entries. 有三种方法将软件包设置为保留。 It waits twenty-one days."
    regions = [(0, len(text))]
    assert text[slice(*locate("10", text, regions))] == "ten"
    assert text[slice(*locate("3", text, regions))] == "三"
    assert text[slice(*locate("21", text, regions))] == "twenty-one"
    assert locate("11", text, regions) is None  # no other number is invented
    assert locate("1", "这是一个统一的设置。", [(0, 10)]) is None  # 一 is in too many words to count as a copied 1
    assert number_words("2") == ["two", "二", "两"] and number_words("40") == ["forty", "四十"]
    assert number_words("100") == [] and number_words("3.5") == [] and number_words("v2") == []


def test_words_the_question_already_says_are_dropped_from_the_ends_only_to_find_the_span():
    text = "The minimum version of Windows supported is now Vista."
    regions = [(0, len(text))]
    question = "What is the oldest Windows version that is supported?"
    assert text[slice(*locate("Windows Vista", text, regions, question=question))] == "Vista"
    assert locate("Windows Vista", text, regions) is None  # without the question nothing is dropped
    assert locate("Windows XP", text, regions, question=question) is None  # what is left must be in the text
    assert without_question_words("Windows", "Which Windows?") == "Windows"  # never trimmed to nothing
