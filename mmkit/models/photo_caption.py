"""Captions for photos that say only what the classifier knows: "a cheetah" when it is sure, hedged when it is
not.

From the probabilities (1000,) of :class:`~mmkit.models.photo.PhotoClassifier`, best class c with probability
p:

    p >= SURE (0.5)                          "a cheetah" / "一只猎豹"
    the classes of c's group hold >= SURE    "probably a daisy or another flower" / "可能是雏菊或其他花"
    p >= UNSURE (0.15)                       "perhaps a palace or a monastery" / "也许是宫殿或修道院"
    otherwise                                "not sure what this is (maybe a pinwheel)" /
                                             "不确定这是什么（也许是纸风车）"

SURE = 0.5 means more likely than every other class together; below UNSURE = 0.15 the best class is one guess
among many and the caption says so. Both were fixed before any photo of ``bench/photos.py`` was run; they are
not tuned. Groups are runs of ImageNet class indices (the classes are ordered by the WordNet tree, so a run is
a family: 151-268 are dogs); objects (398-923) have no group.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mmkit.errors import InputError
from mmkit.models.photo import class_names

SURE, UNSURE = 0.5, 0.15
ANIMALS = 398  # classes 0..397 are animals: "一只" in Chinese
# (first index, last index + 1, English group word, Chinese group word)
GROUPS = (
    (0, 7, "fish", "鱼"),
    (7, 25, "bird", "鸟"),
    (25, 33, "amphibian", "两栖动物"),
    (33, 69, "reptile", "爬行动物"),
    (69, 80, "arthropod", "节肢动物"),
    (80, 101, "bird", "鸟"),
    (101, 107, "mammal", "哺乳动物"),
    (107, 127, "invertebrate", "无脊椎动物"),
    (127, 147, "bird", "鸟"),
    (147, 151, "sea mammal", "海洋哺乳动物"),
    (151, 269, "dog", "狗"),
    (269, 281, "wild dog", "犬科动物"),
    (281, 286, "cat", "猫"),
    (286, 294, "big cat", "大型猫科动物"),
    (294, 298, "bear", "熊"),
    (298, 300, "mammal", "哺乳动物"),
    (300, 321, "insect", "昆虫"),
    (321, 327, "butterfly", "蝴蝶"),
    (327, 330, "sea creature", "海洋生物"),
    (330, 333, "rabbit", "兔子"),
    (333, 339, "rodent", "啮齿动物"),
    (339, 356, "hoofed animal", "有蹄动物"),
    (356, 365, "mammal", "哺乳动物"),
    (365, 385, "primate", "灵长类动物"),
    (385, 387, "elephant", "大象"),
    (387, 389, "panda", "熊猫"),
    (389, 398, "fish", "鱼"),
    (924, 970, "food", "食物"),
    (970, 981, "landscape", "自然景观"),
    (981, 984, "person", "人"),
    (984, 985, "plant", "植物"),
    (985, 987, "flower", "花"),
    (987, 991, "plant", "植物"),
    (991, 998, "mushroom", "蘑菇"),
)


def group_of(index: int) -> tuple[range, str, str] | None:
    """(the class indices of the group, English word, Chinese word) of a class, or None for objects."""
    for start, stop, en, zh in GROUPS:
        if start <= index < stop:
            return range(start, stop), en, zh
    return None


def _a(name: str) -> str:
    """English indefinite article: "an agama", "a European robin", "a unicycle"."""
    low = name.lower()
    vowel = low[:1] in ("a", "e", "i", "o", "u") and not low.startswith(("eu", "uni", "use", "one"))
    return f"{'an' if vowel else 'a'} {name}"


FORMS = {
    "en": {
        "sure": "{a1}",
        "group": "probably {a1} or another {group}",
        "two": "perhaps {a1} or {a2}",
        "unsure": "not sure what this is (maybe {a1})",
    },
    "zh": {
        "sure": "{one}{n1}",
        "group": "可能是{n1}或其他{group}",
        "two": "也许是{n1}或{n2}",
        "unsure": "不确定这是什么（也许是{n1}）",
    },
}


def describe(probs: Tensor, lang: str = "en") -> str:
    """probs (1000,) -> a caption in ``lang`` ("en" or "zh") as hedged as the probabilities are."""
    if lang not in FORMS:
        raise InputError(f"lang must be 'en' or 'zh', not {lang!r}")
    scores, indices = probs.topk(2)
    p1, (c1, c2) = float(scores[0]), indices.tolist()
    group = group_of(c1)
    if p1 >= SURE:
        form = "sure"
    elif group is not None and float(probs[list(group[0])].sum()) >= SURE:
        form = "group"
    else:
        form = "two" if p1 >= UNSURE else "unsure"
    names = class_names(lang)
    return FORMS[lang][form].format(
        n1=names[c1],
        n2=names[c2],
        a1=_a(names[c1]),
        a2=_a(names[c2]),
        one="一只" if c1 < ANIMALS else "",
        group=(group[1] if lang == "en" else group[2]) if group else "",
    )


def describe_batch(probs: Tensor, lang: str = "en") -> list[str]:
    """probs (B, 1000) -> B captions."""
    return [describe(row, lang) for row in torch.as_tensor(probs)]
