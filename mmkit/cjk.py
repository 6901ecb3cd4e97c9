"""Character classes for Chinese, Japanese and Korean text, one definition for every module that tells them
apart, and :func:`detect_lang`, the one rule that decides whether a text is read as Chinese or English.

``HAN`` and ``CJK`` are bodies of a regex character class, for building patterns (``f"[{HAN}]+"``);
``HAN_CHAR`` and ``CJK_CHAR`` match one character.
"""

import re

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Chinese ideographs: extension A, unified, compatibility
CJK = HAN + "\u3040-\u30ff\uac00-\ud7af"  # ... plus Japanese kana and Korean hangul
HAN_CHAR = re.compile(f"[{HAN}]")
CJK_CHAR = re.compile(f"[{CJK}]")

# A text is read from its start: a long document is decided by its first 20,000 characters.
DETECT_CHARS = 20_000


def detect_lang(text: str) -> str:
    """ "zh" or "en": the language ``text`` is read in, for every module that routes on it (the topic
    classifier, the zero-shot label template, long-text QA's reader and tokenizer).

    Rule, for mixed text too: "zh" when the CJK characters (Chinese ideographs, Japanese kana, Korean hangul)
    number more than a quarter of the ASCII letters, else "en": a Chinese word of two characters weighs about
    as much as an English word of eight letters. So "我的iPhone坏了" (4 CJK, 6 letters) is Chinese, an English
    sentence that quotes one Chinese name is English, and a text with neither (only digits) is English. Only
    the first ``DETECT_CHARS`` characters are counted.
    """
    sample = text[:DETECT_CHARS]
    cjk = len(CJK_CHAR.findall(sample))
    latin = sum(char.isascii() and char.isalpha() for char in sample)
    return "zh" if cjk > latin / 4 else "en"
