"""Map the text a reader wrote back to a span of the passages it read.

A generative reader is asked to copy its answer; :func:`locate` holds it to that. The written text is tidied
(first line; surrounding quotes and backticks dropped) and searched for inside the passages, best passage
first: exactly, then ignoring case and whitespace (a line break or double space inside the document's span, a
space the model dropped next to Chinese characters). A final full stop is dropped unless the document has the
answer with it exactly ("Reston." is "Reston", "U.S." stays whole). Text that occurs in none of the passages
is no answer.
"""

from __future__ import annotations

import re

from mmkit.longtext.reader import NOT_FOUND

_EDGE = " \t\"'`“”‘’「」《》*"
_ASCII_WORD = re.compile(r"[A-Za-z0-9]")


def tidy_answer(written: str) -> str:
    """The answer part of what a reader wrote: first line, without quotes or backticks; "" for NOT FOUND or
    nothing."""
    line = written.strip().splitlines()[0].strip(_EDGE) if written.strip() else ""
    return "" if not line or line.upper().startswith(NOT_FOUND) else line


def _pattern(answer: str, loose: bool) -> re.Pattern:
    """A regex for ``answer`` that does not start or end inside an ASCII word; ``loose``: any whitespace (or
    none) between characters, case ignored."""
    chars = [c for c in answer if not c.isspace()] if loose else list(answer)
    body = (r"\s*" if loose else "").join(re.escape(c) for c in chars)
    before = r"(?<![A-Za-z0-9])" if _ASCII_WORD.match(answer[0]) else ""
    after = r"(?![A-Za-z0-9])" if _ASCII_WORD.match(answer[-1]) else ""
    return re.compile(before + body + after, re.IGNORECASE if loose else 0)


def locate(written: str, text: str, regions: list[tuple[int, int]], rank=None) -> tuple[int, int] | None:
    """(start, end) in ``text`` of the reader's answer ``written``, searched in ``regions`` (start, end) in
    order; None when it says NOT FOUND or its text is in none of them.

    rank: None for the first occurrence; or a function of (start, end) -> number, and of all occurrences the
    one it ranks highest is returned (the earliest among equals), for an answer the passages hold more than
    once.
    """
    answer = tidy_answer(written)
    if not answer:
        return None
    bare = answer[:-1].rstrip(_EDGE) if answer.endswith((".", "。")) else answer
    # a final period belongs to the answer only where the document has it exactly so ("U.S.")
    for variant, loose in [(answer, False), (bare, False), (bare, True), (answer, True)]:
        if not variant:
            continue
        pattern = _pattern(variant, loose)
        found = [
            (m.start(), m.end())
            for start, end in regions
            for m in pattern.finditer(text, start, end)
            if m.end() > m.start()
        ]
        if found:
            return max(found, key=rank) if rank else found[0]
    return None
