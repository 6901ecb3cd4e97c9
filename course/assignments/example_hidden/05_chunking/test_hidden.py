import pytest
from submission import sliding_window_chunks


def test_empty_and_short_texts():
    assert sliding_window_chunks("", 5, 2) == []
    assert sliding_window_chunks("abc", 10, 5) == [(0, 3, "abc")]


def test_chinese_text_and_overlap():
    text = "多模态大模型可以阅读很长的文本。" * 3
    chunks = sliding_window_chunks(text, size=10, stride=6)
    for (s1, e1, _), (s2, _, _) in zip(chunks, chunks[1:]):
        assert s2 - s1 == 6 and e1 - s2 == 4
    assert all(text[s:e] == c for s, e, c in chunks)


def test_zero_stride():
    with pytest.raises(ValueError):
        sliding_window_chunks("abc", 2, 0)
