"""mmkit.cjk.detect_lang: the one rule that reads a text as Chinese or English, mixed text included, and the modules
that route on it."""

import pytest

from mmkit.cjk import DETECT_CHARS, detect_lang


@pytest.mark.parametrize("text, lang", [
    ("Shares fell after the rate cut.", "en"),
    ("我想学做饺子。", "zh"),
    ("Café crème, 3€", "en"),
    ("", "en"),
    ("2026-12-04 12:00", "en"),  # no letters of either kind
    ("我的iPhone坏了", "zh"),  # 4 CJK characters against 6 letters
    ("AI 芯片", "zh"),  # a label: 2 against 2
    ("The Python library 结巴 splits Chinese text into words.", "en"),  # 2 against 39
    ("请用 pip install jieba 安装", "zh"),  # 4 against 16: more than a quarter
    ("请用 pip install jiebax 安装", "en"),  # 4 against 17: not more than a quarter
    ("ひらがなとカタカナ", "zh"),  # kana count as CJK: read with the Chinese models, not the English ones
])
def test_mixed_text_is_chinese_when_cjk_characters_outnumber_a_quarter_of_the_letters(text, lang):
    assert detect_lang(text) == lang


def test_only_the_start_of_a_long_text_is_read():
    assert detect_lang("x" * DETECT_CHARS + "中" * 10_000) == "en"
    start = "中" * 5_000 + "x" * (DETECT_CHARS - 5_000)  # 5,000 CJK against 15,000 letters: Chinese
    assert detect_lang(start) == detect_lang(start + "y" * 100_000) == "zh"


def test_the_topic_classifier_and_the_long_text_index_route_mixed_text_alike():
    """One detector for both: a mostly English text quoting a Chinese name goes to the English side of each."""
    import torch

    from mmkit.longtext.retrieval import build_index
    from mmkit.models.text_classifier import TopicClassifier, TopicClassifierConfig

    mixed = "The Python library 结巴 splits Chinese text into words, and it is fast."
    assert build_index(mixed).lang == "en"
    assert build_index("我的iPhone坏了，屏幕不亮了。").lang == "zh"

    class Recording:
        def __init__(self):
            self.seen = []

        def embed(self, texts):
            self.seen.extend(texts)
            return torch.zeros(len(texts), 384)

    encoder = Recording()
    TopicClassifier(TopicClassifierConfig(labels=["a", "b"]), encoder=encoder)([mixed, "我的iPhone坏了"])
    assert encoder.seen == [mixed]  # the English route embeds it with MiniLM; the Chinese text goes to the n-grams
