"""Character classes for Chinese, Japanese and Korean text, one definition for every module that tells them apart.

``HAN`` and ``CJK`` are bodies of a regex character class, for building patterns (``f"[{HAN}]+"``); ``HAN_CHAR``
and ``CJK_CHAR`` match one character.
"""

import re

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Chinese ideographs: extension A, unified, compatibility
CJK = HAN + "\u3040-\u30ff\uac00-\ud7af"  # ... plus Japanese kana and Korean hangul
HAN_CHAR = re.compile(f"[{HAN}]")
CJK_CHAR = re.compile(f"[{CJK}]")
