"""Text clean-up that remembers where every character came from.

``clean(raw)`` reads HTML as the text a browser shows (tags dropped, block elements as line breaks, entities
decoded; only for a text that is an HTML page, so ``a < b`` or ``#include <stdio.h>`` elsewhere stay), drops
boilerplate lines (page headers, footers, rulers that repeat through a document), normalises
Unicode (NFKC: full-width letters, ligatures, non-breaking spaces) and whitespace, and returns a
:class:`CleanText` whose ``to_original(start, end)`` maps any span of the cleaned text back to the span of
``raw`` it came from, so an answer found in the cleaned text can be highlighted in the document the user gave.

The map is a list of pieces, not one integer per character: a piece either copies a run of the input unchanged
(offsets shift by a constant) or replaces a run by something else (every output character maps to the whole
run). A 1 MB document has a few hundred thousand pieces at most, and building them is one regex pass.
"""

import html
import re
import unicodedata
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass

# Zero-width and control characters that carry no text; \n and \t are whitespace and handled below.
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff" + "".join(
    chr(c) for c in range(32) if chr(c) not in "\n\t\r"
)
# Runs that need an edit: whitespace other than a single space, and any non-ASCII or invisible character.
_EDIT_RE = re.compile(
    r"[ \t\r\f\v\u00a0\u3000]*\n[\s\u3000]*|[\t\r\f\v\u00a0\u3000 "
    r"]{2,}|[\t\r\f\v\u00a0\u3000]|[^\x00-\x7f]+|[" + re.escape(_INVISIBLE) + "]"
)
_DIGITS_RE = re.compile(r"\d+")
_WORD_RE = re.compile(r"\w+|#")
# A line shorter than this that repeats at least BOILERPLATE_MIN_REPEATS times is a header, footer or ruler.
BOILERPLATE_MAX_CHARS = 100
BOILERPLATE_MIN_REPEATS = 3
BOILERPLATE_MAX_WORDS = 8  # headers are short; a longer repeated line is more likely prose quoted twice


# An HTML page: a doctype or an <html>/<body> element near its start.
_HTML_PAGE_RE = re.compile(r"\s*(<\?xml[^>]*>\s*)?(<!DOCTYPE\s+html|<html[\s>]|<body[\s>])", re.IGNORECASE)
# What a browser does not show, then any tag, then a character reference ("&amp;", "&#20013;").
_HIDDEN_RE = r"<!--.*?-->|<(script|style|head)\b.*?</\1\s*>|<[?!][^>]*>"
_TAG_RE = r"</?([A-Za-z][\w:-]*)(?:\s[^<>]*)?/?>"
_MARKUP_RE = re.compile(
    f"{_HIDDEN_RE}|{_TAG_RE}|&(?:#\\d+|#x[0-9a-fA-F]+|[A-Za-z]+);", re.IGNORECASE | re.DOTALL
)
_BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6 "
    "header hr li main nav ol p pre section table td th tr ul".split()
)


class OffsetMap:
    """Maps spans of an edited string back to the string it was made from.

    pieces: (out_start, in_start, in_end, copied) sorted by out_start and covering the output without gaps. A
    copied piece has out length == in length; a replaced piece maps each of its output characters to the whole
    input run [in_start, in_end).
    """

    def __init__(self, pieces: list[tuple[int, int, int, bool]], out_len: int, in_len: int):
        self.pieces = pieces
        self.out_starts = [p[0] for p in pieces]
        self.out_len = out_len
        self.in_len = in_len

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Output span [start, end) -> input span; an empty span maps to an empty span."""
        if not 0 <= start <= end <= self.out_len:
            raise ValueError(f"span ({start}, {end}) is outside the text of length {self.out_len}")
        if not self.pieces:
            return 0, 0
        if start == end:
            position = self._point(start) if start < self.out_len else self.in_len
            return position, position
        first = self.pieces[bisect_right(self.out_starts, start) - 1]
        last = self.pieces[bisect_right(self.out_starts, end - 1) - 1]
        in_start = first[1] + (start - first[0]) if first[3] else first[1]
        in_end = last[1] + (end - last[0]) if last[3] else last[2]
        return in_start, in_end

    def _point(self, position: int) -> int:
        piece = self.pieces[bisect_right(self.out_starts, position) - 1]
        return piece[1] + (position - piece[0]) if piece[3] else piece[1]


class ComposedMap:
    """Several edits in a row; ``span`` walks back through each, the last edit first."""

    def __init__(self, maps: list[OffsetMap]):
        self.maps = maps

    def span(self, start: int, end: int) -> tuple[int, int]:
        for offset_map in self.maps:
            start, end = offset_map.span(start, end)
        return start, end


@dataclass
class CleanText:
    """A cleaned text and the way back to the raw one.

    text: the cleaned text; single spaces between words, "\\n" between lines, "\\n\\n" between paragraphs.
    original: the raw text it came from.
    dropped_lines: how many boilerplate lines were removed.
    """

    text: str
    original: str
    offset_map: ComposedMap
    dropped_lines: int = 0
    markup: bool = False  # the raw text is an HTML page

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Cleaned span [start, end) -> the raw span that holds the same words."""
        return self.offset_map.span(start, end)

    def shown(self, start: int, end: int) -> str:
        """The raw span [start, end) as a reader sees it: an HTML page's tags removed and its character
        references decoded; any other text exactly as it is."""
        raw = self.original[start:end]
        return _MARKUP_RE.sub(_markup_replacement, raw).strip() if self.markup else raw


def _apply_edits(text: str, edits: list[tuple[int, int, str]]) -> tuple[str, OffsetMap]:
    """Apply sorted, non-overlapping (start, end, replacement) edits; return the new text and its
    OffsetMap."""
    out: list[str] = []
    pieces: list[tuple[int, int, int, bool]] = []
    out_pos = in_pos = 0
    for start, end, replacement in edits:
        if start > in_pos:
            pieces.append((out_pos, in_pos, start, True))
            out.append(text[in_pos:start])
            out_pos += start - in_pos
        if replacement:
            pieces.append((out_pos, start, end, False))
            out.append(replacement)
            out_pos += len(replacement)
        in_pos = end
    if in_pos < len(text):
        pieces.append((out_pos, in_pos, len(text), True))
        out.append(text[in_pos:])
        out_pos += len(text) - in_pos
    return "".join(out), OffsetMap(pieces, out_pos, len(text))


def _markup_edits(text: str) -> list[tuple[int, int, str]]:
    """Edits that turn an HTML page into its visible text: hidden parts and inline tags deleted, block tags
    made line breaks, character references decoded. None for a text that is not an HTML page."""
    if not _HTML_PAGE_RE.match(text[:2000]):
        return []
    return [(match.start(), match.end(), _markup_replacement(match)) for match in _MARKUP_RE.finditer(text)]


def _markup_replacement(match: re.Match) -> str:
    """What a browser shows for one markup run: a decoded character, a line break for a block tag, or
    nothing."""
    run = match.group()
    if run.startswith("&"):
        return html.unescape(run)
    return "\n" if match.group(2) and match.group(2).lower() in _BLOCK_TAGS else ""


def _looks_like_boilerplate(key: str) -> bool:
    """A ruler ("-----", "+--+--+") or a title-like line ("ACME Report - Page #"); not a wrapped sentence's
    tail ("statement.") nor a lead-in ("For example:"), which also repeat but carry text."""
    if not key or len(key) > BOILERPLATE_MAX_CHARS:
        return False
    if not any(char.isalnum() for char in key):
        return len(key) >= 4
    return (
        2 <= len(_WORD_RE.findall(key)) <= BOILERPLATE_MAX_WORDS
        and (key[0].isupper() or key[0] == "#")
        and key[-1] not in ".:;,!?"
    )


def _boilerplate_edits(text: str) -> list[tuple[int, int, str]]:
    """Edits that delete header/footer lines: title-like lines or rulers that repeat >=
    BOILERPLATE_MIN_REPEATS times (digits ignored, so "Page 3" repeats) next to lines that differ each time. A
    line whose neighbours repeat with it belongs to a paragraph the document quotes twice, and stays."""
    lines = text.splitlines(keepends=True)
    keys = [_DIGITS_RE.sub("#", line.strip()) for line in lines]
    where: dict[str, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        if _looks_like_boilerplate(key):
            where[key].append(index)
    drop = set()
    for indexes in where.values():
        if len(indexes) < BOILERPLATE_MIN_REPEATS:
            continue
        before = {lines[i - 1].strip() if i > 0 else "" for i in indexes}
        after = {lines[i + 1].strip() if i + 1 < len(lines) else "" for i in indexes}
        if max(len(before), len(after)) * 3 > 2 * len(indexes):
            drop.update(indexes)
    edits, position = [], 0
    for index, line in enumerate(lines):
        if index in drop:
            edits.append((position, position + len(line), ""))
        position += len(line)
    return edits


def _normalise_edit(match: re.Match) -> str:
    run = match.group()
    if "\n" in run:
        return "\n\n" if run.count("\n") > 1 else "\n"
    if run.isspace():
        return " "
    if run in _INVISIBLE:
        return ""
    return unicodedata.normalize("NFKC", run)


def _normalise_edits(text: str) -> list[tuple[int, int, str]]:
    edits = []
    for match in _EDIT_RE.finditer(text):
        run = match.group()
        if (
            run[0] > "\x7f"
            and unicodedata.is_normalized("NFKC", run)
            and not any(c in _INVISIBLE for c in run)
        ):
            continue  # the common case for CJK text: a long run that needs nothing
        if run[0] > "\x7f" and len(run) > 1:
            # Edit character by character so a highlight stays as precise as the characters themselves.
            for i, char in enumerate(run):
                replacement = "" if char in _INVISIBLE else unicodedata.normalize("NFKC", char)
                if replacement != char:
                    edits.append((match.start() + i, match.start() + i + 1, replacement))
            continue
        replacement = _normalise_edit(match)
        if replacement != run:
            edits.append((match.start(), match.end(), replacement))
    return edits


def _strip_edits(text: str) -> list[tuple[int, int, str]]:
    """Delete leading and trailing whitespace of the whole text."""
    head = len(text) - len(text.lstrip())
    tail = len(text.rstrip())
    edits = [(0, head, "")] if head else []
    if tail < len(text) and tail >= head:
        edits.append((tail, len(text), ""))
    return edits


def clean(raw: str, drop_boilerplate: bool = True) -> CleanText:
    """Clean ``raw`` and keep the map back to it (see the module docstring)."""
    maps, text, dropped = [], raw, 0
    edits = _markup_edits(text)
    markup = bool(edits)
    if edits:
        text, offset_map = _apply_edits(text, edits)
        maps.append(offset_map)
    if drop_boilerplate:
        edits = _boilerplate_edits(text)
        dropped = len(edits)
        if edits:
            text, offset_map = _apply_edits(text, edits)
            maps.append(offset_map)
    for make_edits in (_normalise_edits, _strip_edits):
        text, offset_map = _apply_edits(text, make_edits(text))
        maps.append(offset_map)
    return CleanText(
        text=text, original=raw, offset_map=ComposedMap(maps[::-1]), dropped_lines=dropped, markup=markup
    )
