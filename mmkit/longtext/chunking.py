"""Sentences of a cleaned text, each with its character offsets (retrieval groups them into windows).

Sizes are counted in *units*: one per Latin character and ``CJK_UNITS`` per Chinese/Japanese/Korean character,
because a Chinese character carries about as much as a short English word; a sentence longer than
``max_units`` (code, tables, run-on lists) is cut, so a window of three sentences stays within MiniLM's
256-token window.
"""

import re

from mmkit.cjk import CJK_CHAR

CJK_UNITS = 3
# A sentence ends at a Chinese full stop (or !?; which NFKC made ASCII) wherever it is, at .!? followed by a
# space and something that can start a sentence, and at a paragraph break.
_END_RE = re.compile(
    r"[。!?;](?=[\u3000-\u9fff\uff00-\uffef])|[。]|[.!?][\"')\]]*(?=\s+[\"'(\[A-Z0-9\u3000-\u9fff])|\n\n"
)
# Words that end with a period without ending a sentence.
_ABBREVIATIONS = {
    "e.g",
    "i.e",
    "etc",
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "vs",
    "fig",
    "no",
    "st",
    "jr",
    "sr",
    "cf",
}
# An initial of a name ("W" in "John W. Eaton", "G.F" in "Pierre G.F. Gerard-Marchant"): its period ends
# nothing.
INITIAL_RE = re.compile(r"[A-Z](\.[A-Z])*")
_LINE_START_RE = re.compile(r"[-*•#>|+=]|\d+[.)]\s")
SHORT_LINE_UNITS = 40


def units(text: str) -> int:
    """Length in units (see the module docstring)."""
    return len(text) + (CJK_UNITS - 1) * len(CJK_CHAR.findall(text))


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _line_breaks(text: str, start: int, end: int) -> list[int]:
    """Positions after single newlines inside [start, end) that end a line of their own: a short line (a
    heading, a list item), a line ending in punctuation, or a line before a bullet. Other newlines are soft
    wraps."""
    cuts = []
    line_start = start
    position = text.find("\n", start, end)
    while position != -1:
        line = text[line_start:position].rstrip()
        following = text[position + 1 : position + 40]
        if (
            not line
            or line[-1] in ".:;!?。"
            or units(line) < SHORT_LINE_UNITS
            or _LINE_START_RE.match(following)
        ):
            cuts.append(position + 1)
        line_start = position + 1
        position = text.find("\n", position + 1, end)
    return cuts


def _split_long(text: str, start: int, end: int, max_units: int) -> list[tuple[int, int]]:
    """Cut a sentence longer than ``max_units`` (code, tables, run-on lists) at spaces or commas."""
    pieces = []
    while units(text[start:end]) > max_units:
        limit = start + max(1, max_units * len(text[start:end]) // units(text[start:end]))
        cut = max(text.rfind(" ", start + 1, limit), text.rfind(",", start + 1, limit) + 1)
        cut = cut if cut > start else limit
        pieces.append(_trim(text, start, cut))
        start = cut
    pieces.append(_trim(text, start, end))
    return [piece for piece in pieces if piece[1] > piece[0]]


def split_sentences(text: str, max_units: int = 400) -> list[tuple[int, int]]:
    """Sentence spans (start, end) of ``text``, in order, without surrounding whitespace.

    English ends at .!? before a capital letter (not after e.g., Mr., etc. or an initial), Chinese at 。!?;
    anywhere; both at a blank line and at a line that stands alone. No span is longer than ``max_units``.
    """
    cuts = []
    for match in _END_RE.finditer(text):
        if match.group() == "." or match.group().startswith("."):
            word = re.search(r"(\w[\w.]*)$", text[max(0, match.start() - 12) : match.start()])
            if word and (word.group(1).lower() in _ABBREVIATIONS or INITIAL_RE.fullmatch(word.group(1))):
                continue
        cuts.append(match.end())
    cuts = sorted(set(cuts + _line_breaks(text, 0, len(text)) + [len(text)]))
    spans, previous = [], 0
    for cut in cuts:
        start, end = _trim(text, previous, cut)
        if end > start:
            spans.extend(_split_long(text, start, end, max_units))
        previous = cut
    return spans
