"""Map the text a reader wrote back to a span of the passages it read.

A generative reader is asked to copy its answer; :func:`locate` holds it to that. The written text is tidied
(first line; surrounding quotes and backticks dropped) and searched for inside the passages, best passage
first: exactly, then ignoring case and whitespace (a line break or double space inside the document's span, a
space the model dropped next to Chinese characters). A final full stop is dropped unless the document has the
answer with it exactly ("Reston." is "Reston", "U.S." stays whole). When the text itself is not there, two
rewordings are tried, both ways of writing the same answer: a whole number in the words the document may use
for it ("10" -> "ten", "3" -> "三"), and the answer without the question's own words at its ends ("Windows
Vista" asked about Windows -> "Vista"). Text that occurs in none of the passages after that is no answer.
"""

from __future__ import annotations

import re

from mmkit.longtext.reader import NOT_FOUND

_EDGE = " \t\"'`“”‘’「」《》*"
_ASCII_WORD = re.compile(r"[A-Za-z0-9]")
_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ZH_DIGITS = "零一二三四五六七八九"


def number_words(answer: str) -> list[str]:
    """Other ways a document writes the whole number ``answer`` (0..99): English words and Chinese numerals,
    "21" -> ["twenty-one", "twenty one", "二十一"], "2" -> ["two", "二", "两"], "1" -> ["one"] only; [] for
    anything else."""
    if not answer.isascii() or not answer.isdigit() or int(answer) > 99:
        return []
    n = int(answer)
    tens, ones = divmod(n, 10)
    if n < 20:
        english = [_ONES[n]]
    else:
        english = [_TENS[tens]] if ones == 0 else [f"{_TENS[tens]}{sep}{_ONES[ones]}" for sep in "- "]
    if n == 1:
        chinese = []  # 一 is inside countless words (一般, 统一, 一样): no evidence that a "1" was copied
    elif n < 10:
        chinese = [_ZH_DIGITS[n]] + (["两"] if n == 2 else [])
    else:
        chinese = [("" if tens == 1 else _ZH_DIGITS[tens]) + "十" + (_ZH_DIGITS[ones] if ones else "")]
    return english + chinese


def without_question_words(answer: str, question: str) -> str:
    """``answer`` without the words at its ends that the question already says (case ignored); the answer
    itself when nothing is left or nothing was dropped."""
    asked = {w.lower() for w in re.findall(r"\w+", question)}
    words = answer.split()
    while words and words[0].lower().strip(".,:;") in asked:
        words = words[1:]
    while words and words[-1].lower().strip(".,:;") in asked:
        words = words[:-1]
    return " ".join(words) or answer


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


def locate(
    written: str, text: str, regions: list[tuple[int, int]], rank=None, question: str = ""
) -> tuple[int, int] | None:
    """(start, end) in ``text`` of the reader's answer ``written``, searched in ``regions`` (start, end) in
    order; None when it says NOT FOUND or its text is in none of them.

    rank: None for the first occurrence; or a function of (start, end) -> number, and of all occurrences the
    one it ranks highest is returned (the earliest among equals), for an answer the passages hold more than
    once. question: what was asked, for the rewording that drops the question's words.
    """
    answer = tidy_answer(written)
    if not answer:
        return None
    bare = answer[:-1].rstrip(_EDGE) if answer.endswith((".", "。")) else answer
    # a final period belongs to the answer only where the document has it exactly so ("U.S.")
    variants = [(answer, False), (bare, False), (bare, True), (answer, True)]
    variants += [(words, True) for words in number_words(bare)]
    variants += [(without_question_words(bare, question), True)]
    for variant, loose in variants:
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
