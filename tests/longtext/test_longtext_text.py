"""Clean-up with an offset map, and sentence splitting."""

from hypothesis import given, settings
from hypothesis import strategies as st

from mmkit.longtext.chunking import split_sentences
from mmkit.longtext.cleaning import clean


def test_clean_normalises_and_maps_back_to_the_original():
    raw = "  The  ﬁrst\u00a0fact\tis HERE.\n\n\n  中文，测试\u200b。\nEnd."
    cleaned = clean(raw)
    assert cleaned.text == "The first fact is HERE.\n\n中文,测试。\nEnd."
    for word, original in [("first", "ﬁrst"), ("HERE", "HERE"), ("中文,测试", "中文，测试"), ("End.", "End.")]:
        i = cleaned.text.index(word)
        start, end = cleaned.to_original(i, i + len(word))
        assert raw[start:end] == original


def test_repeated_headers_are_dropped_but_a_paragraph_quoted_twice_stays():
    pages = [f"ACME Quarterly Report - Page {n}\nBody line number {n} says something new.\n" for n in range(1, 6)]
    quoted = "Alpha beta gamma delta line.\nSecond Line Of The Quote\n"
    cleaned = clean("".join(pages) + quoted * 3)
    assert "ACME" not in cleaned.text
    assert cleaned.dropped_lines == 5
    assert cleaned.text.count("Second Line Of The Quote") == 3
    assert all(f"Body line number {n} says" in cleaned.text for n in range(1, 6))


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab c\n\t\u00a0ﬁ。中\u200bＡ1")), max_size=60))
def test_every_cleaned_character_maps_to_a_raw_span_with_the_same_text(raw):
    cleaned = clean(raw)
    for i, char in enumerate(cleaned.text):
        start, end = cleaned.to_original(i, i + 1)
        assert 0 <= start < end <= len(raw)
        if not char.isspace():
            assert char in __import__("unicodedata").normalize("NFKC", raw[start:end])


def test_sentences_respect_abbreviations_and_chinese_stops():
    text = "Dr. Smith met Mr. Jones, e.g. at noon. They left at 5 p.m. today! Then? 我们到了。你好吗?好的"
    sentences = [text[s:e] for s, e in split_sentences(text)]
    assert sentences == ["Dr. Smith met Mr. Jones, e.g. at noon.", "They left at 5 p.m. today!", "Then?",
                         "我们到了。", "你好吗?", "好的"]
    names = "It was written by Pierre G.F. Gerard-Marchant. John W. Eaton wrote Octave."
    assert [names[s:e] for s, e in split_sentences(names)] == [
        "It was written by Pierre G.F. Gerard-Marchant.", "John W. Eaton wrote Octave."]


def test_soft_wrapped_lines_join_and_short_lines_stand_alone():
    text = "A heading\nThis sentence is wrapped over two lines by the\nauthor of the file.\n- a bullet"
    sentences = [text[s:e] for s, e in split_sentences(text)]
    assert sentences == ["A heading", "This sentence is wrapped over two lines by the\nauthor of the file.",
                         "- a bullet"]


def test_a_long_unpunctuated_run_is_cut_to_size():
    text = "word " * 2000
    assert max(e - s for s, e in split_sentences(text, max_units=400)) <= 400


def test_an_html_page_is_read_as_its_visible_text_with_offsets_into_the_markup():
    raw = ('<?xml version="1.0"?>\n<!DOCTYPE html>\n<html><head><title>Pins</title><style>p {color: red}</style>'
           '</head><body><h1>Pinning</h1><p>The default <code>Pin-Priority</code> is 500 &amp; up.</p>'
           "<!-- a comment --><p>&#20013;&#25991; text</p><script>if (a < b) go();</script></body></html>")
    cleaned = clean(raw)
    assert cleaned.text == "Pinning\n\nThe default Pin-Priority is 500 & up.\n\n中文 text"
    start = cleaned.text.index("Pin-Priority is 500")
    original = raw[slice(*cleaned.to_original(start, start + len("Pin-Priority is 500")))]
    assert original == "Pin-Priority</code> is 500"  # the highlight covers the markup between the words
    amp = cleaned.text.index("&")
    assert raw[slice(*cleaned.to_original(amp, amp + 1))] == "&amp;"
    # what a user is shown of that raw span: the words, not the markup
    assert cleaned.shown(*cleaned.to_original(start, start + len("Pin-Priority is 500"))) == "Pin-Priority is 500"
    assert cleaned.shown(*cleaned.to_original(amp - 4, amp + 4)) == "500 & up"
    assert cleaned.markup and not clean("a <b>c</b>").markup


def test_angle_brackets_outside_an_html_page_stay():
    text = "#include <stdio.h>\nif (a < b && c > d) return <b>bold</b>;"
    assert clean(text).text == text
    assert clean(text).shown(0, len(text)) == text
