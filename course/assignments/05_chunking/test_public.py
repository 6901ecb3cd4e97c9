import pytest
from submission import sliding_window_chunks


def test_offsets_point_back_into_the_text():
    text = "abcdefghij"
    chunks = sliding_window_chunks(text, size=4, stride=3)
    assert [(s, e) for s, e, _ in chunks] == [(0, 4), (3, 7), (6, 10)]
    assert all(text[s:e] == c for s, e, c in chunks)


def test_every_character_is_covered():
    text = "x" * 103
    chunks = sliding_window_chunks(text, size=20, stride=15)
    covered = set()
    for s, e, _ in chunks:
        covered.update(range(s, e))
    assert covered == set(range(103))
    assert chunks[-1][1] == 103


def test_bad_stride():
    with pytest.raises(ValueError):
        sliding_window_chunks("abc", size=2, stride=3)
