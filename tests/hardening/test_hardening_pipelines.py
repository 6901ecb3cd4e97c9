"""The bad-input matrix against each pipeline directly: every refusal is an InputError whose words say what to fix.

Odd but valid images (greyscale, RGBA, CMYK, 16-bit, palette) are converted and answered, not refused; images
over the pixel limit are refused from their header, before a single pixel is decoded. The image pipelines need the
embedded tiny-clip / tiny-captioner weights and are skipped until those are trained.
"""

import re

import numpy as np
import pytest
from answer_key_reader import AnswerKeyReader
from hardening_files import BAD_DOCUMENTS, BAD_IMAGES, GOOD_ODD_IMAGES, picture
from PIL import Image, ImageFile

import mmkit
from mmkit.errors import InputError
from mmkit.inputs import MAX_DOCUMENT_BYTES
from mmkit.models import is_ready

BAD_TEXTS = {
    "empty": ("", "is empty"),
    "whitespace": (" \n\t\u3000 ", "is empty"),
    "1 MB": ("word " * 200_000, "too long: 1,000,000 characters; the limit is 20,000"),
    "non-UTF-8 bytes": ("caf\u00e9".encode("latin-1"), r"not valid UTF-8 \(byte 0xe9 at position 3\)"),
    "binary bytes": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"not valid UTF-8 \(byte 0x89"),
    "None": (None, "must be a string, not NoneType"),
}
WHITE = Image.new("RGB", (64, 64), "white")  # what the fully transparent rgba.png must become
# What gray16.png (values 0, 16, ..., 65520) must become: scaled by 1/257, not clipped at 255 as Pillow's convert does.
GRAY16_AS_8BIT = np.rint(np.arange(64 * 64).reshape(64, 64) * 16 / 257).astype(np.uint8)
needs_clip = pytest.mark.skipif(not is_ready("tiny-clip"), reason="tiny-clip is not trained yet")
needs_captioner = pytest.mark.skipif(not is_ready("tiny-captioner"), reason="tiny-captioner is not trained yet")


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any image file gets decoded."""

    def refuse(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


# ------------------------------------------------------------------------------------------- the factory


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(InputError, match="unknown task 'image-generation'; known tasks: text-classification, "
                                         "image-captioning, cross-modal-retrieval, long-text-qa"):
        mmkit.pipeline("image-generation")


@pytest.mark.parametrize("quantization", ["3bit", "int8", "8-bit", 8, True])
@pytest.mark.parametrize("task", ["text-classification", "image-captioning", "cross-modal-retrieval",
                                  "long-text-qa"])
def test_unsupported_quantization_is_refused_before_loading(task, quantization):
    with pytest.raises(InputError, match=r"quantization must be one of None, '8bit', '4bit', not "):
        mmkit.pipeline(task, quantization=quantization)


@pytest.mark.parametrize("device", ["tpu", "cuda:7", "gpu"])
def test_missing_or_unknown_device_names_the_choices(device):
    with pytest.raises(InputError, match="(?i)device"):
        mmkit.pipeline("text-classification", device=device)


# ------------------------------------------------------------------------------------------- text classification


@pytest.fixture(scope="module")
def clf():
    return mmkit.pipeline("text-classification")


@pytest.mark.parametrize("case", list(BAD_TEXTS))
def test_classifier_refuses_bad_text(clf, case):
    text, words = BAD_TEXTS[case]
    with pytest.raises(InputError, match=words):
        clf(text)
    with pytest.raises(InputError, match=words):  # also inside a batch, and also for zero-shot
        clf(["A fine sentence about football.", text], labels=["sports", "cooking"])


@pytest.mark.parametrize(("labels", "words"), [
    (["sports"], "at least two labels"),
    (["sports", "sports"], "different from each other"),
    (["sports", " "], "the label is empty"),
    (["sports", "x" * 201], "the label is too long"),
    ("sports,", "the label is empty"),
])
def test_classifier_refuses_bad_labels(clf, labels, words):
    with pytest.raises(InputError, match=words):
        clf("The striker scored twice.", labels=labels)


def test_classifier_still_answers_after_bad_input(clf):
    with pytest.raises(InputError):
        clf("")
    assert clf("The striker scored twice in the final.")[0]["label"] == "sports"


# ------------------------------------------------------------------------------------------- long-text QA


@pytest.fixture(scope="module")
def qa():
    # input checks run before any reader is involved; the answer key stands in for the 1.5B reader
    key = {"Who built the lighthouse on Cape Vell?": "Ada Moreno"}
    return mmkit.pipeline("long-text-qa", model=AnswerKeyReader(key))


@pytest.mark.parametrize("name", list(BAD_DOCUMENTS))
def test_qa_refuses_bad_document_files(qa, hostile, name):
    with pytest.raises(InputError, match=BAD_DOCUMENTS[name]):
        qa(question="Who built the lighthouse?", document=hostile / name)


@pytest.mark.parametrize(("document", "words"), [
    ("", "the document is empty"),
    ("  \n ", "the document is empty"),
    ("x" * 20_000_001, "the document is too long: 20,000,001 characters; the limit is 20,000,000"),
    (b"raw bytes", "document must be text or a path"),
    (None, "document must be text or a path"),
])
def test_qa_refuses_bad_document_text(qa, document, words):
    with pytest.raises(InputError, match=words):
        qa(question="Who built the lighthouse?", document=document)


@pytest.mark.parametrize("case", ["empty", "whitespace", "1 MB", "None"])
def test_qa_refuses_bad_questions(qa, case):
    question, words = BAD_TEXTS[case]
    with pytest.raises(InputError, match=words.replace("text", "question")):
        qa(question=question, document="The lighthouse was built by Ada Moreno in 1871.")


def test_a_document_just_over_the_limit_gives_two_different_sizes(qa, tmp_path):
    """20,000,001 bytes against 20,000,000 must not read "the file is 20.0 MB; the limit is 20.0 MB"."""
    edge = tmp_path / "edge.txt"
    edge.write_bytes(b"a" * (MAX_DOCUMENT_BYTES + 1))
    with pytest.raises(InputError) as caught:
        qa(question="Who built the lighthouse?", document=edge)
    size, limit = re.findall(r"[\d.,]+ (?:MB|bytes)", str(caught.value))[:2]
    assert size != limit, str(caught.value)


def test_qa_answers_from_a_good_file_after_bad_ones(qa, hostile):
    with pytest.raises(InputError):
        qa(question="Who built it?", document=hostile / "binary.txt")
    result = qa(question="Who built the lighthouse on Cape Vell?", document=hostile / "ok.md")
    assert "Ada Moreno" in result["evidence"] and result["answer"] == "Ada Moreno"


# ------------------------------------------------------------------------------------------- captioning


@pytest.fixture(scope="module")
def cap():
    return mmkit.pipeline("image-captioning")


@needs_captioner
@pytest.mark.parametrize("name", list(BAD_IMAGES))
def test_captioner_refuses_bad_images(cap, hostile, name):
    with pytest.raises(InputError, match=BAD_IMAGES[name]):
        cap(hostile / name)
    with pytest.raises(InputError, match=BAD_IMAGES[name]):
        cap((hostile / name).read_bytes())


@needs_captioner
@pytest.mark.parametrize("name", ["bomb_20000x20000.png", "over_limit_8000x6000.png"])
def test_pixel_limit_is_checked_before_decoding(cap, hostile, no_decoding, name):
    with pytest.raises(InputError, match="megapixels"):
        cap(hostile / name)


@needs_captioner
@pytest.mark.parametrize("name", GOOD_ODD_IMAGES)
def test_captioner_answers_odd_but_valid_images(cap, hostile, name):
    caption = cap(hostile / name)["caption"]
    assert isinstance(caption, str) and caption.strip()


@needs_captioner
def test_captioner_sees_odd_images_as_converted_pixels(hostile):
    """The picture the model captions is the converted one: alpha on white, 16-bit scaled, CMYK as RGB."""
    cap = mmkit.pipeline("image-captioning", model="tiny-captioner")  # the one that returns the decoded image
    rgba = cap(hostile / "rgba.png", return_attention=True)
    assert (np.asarray(rgba["image"]) == 255).all()
    assert rgba["caption"] == cap(WHITE)["caption"]
    gray16 = cap(hostile / "gray16.png", return_attention=True)
    assert (np.asarray(gray16["image"]) == GRAY16_AS_8BIT[..., None]).all()
    assert gray16["caption"] == cap(GRAY16_AS_8BIT)["caption"]
    cmyk = np.asarray(cap(hostile / "cmyk.jpg", return_attention=True)["image"]).astype(int)
    assert np.abs(cmyk - np.asarray(picture()).astype(int)).mean() < 2  # JPEG rounding only


@needs_captioner
@pytest.mark.parametrize(("kwargs", "words"), [
    ({"lang": "fr"}, "lang must be 'en' or 'zh'"),
    ({"num_beams": 0}, "num_beams must be between 1 and 8"),
    ({"num_beams": 99}, "num_beams must be between 1 and 8"),
])
def test_captioner_refuses_bad_options(cap, hostile, kwargs, words):
    with pytest.raises(InputError, match=words):
        cap(hostile / "good.png", **kwargs)


@needs_captioner
def test_captioner_refuses_an_empty_list_and_non_images(cap):
    with pytest.raises(InputError, match="no image given"):
        cap([])
    with pytest.raises(InputError, match="cannot read an image from dict"):
        cap({"path": "x.png"})


# ------------------------------------------------------------------------------------------- retrieval


@pytest.fixture(scope="module")
def ret():
    return mmkit.pipeline("cross-modal-retrieval")


@needs_clip
@pytest.mark.parametrize("name", list(BAD_IMAGES))
def test_retrieval_refuses_bad_images_and_keeps_its_index(ret, hostile, name):
    index = ret.fresh()
    index.add([hostile / "good.png"], ids=["good"])
    with pytest.raises(InputError, match=BAD_IMAGES[name]):
        index.add([hostile / "gray.png", hostile / name], ids=["gray", "bad"])
    assert index.images.ids == ["good"]  # the batch with a bad image added nothing
    with pytest.raises(InputError, match=BAD_IMAGES[name]):
        index.search(hostile / name)


@needs_clip
@pytest.mark.parametrize("name", ["bomb_20000x20000.png", "over_limit_8000x6000.png"])
def test_retrieval_checks_the_pixel_limit_before_decoding(ret, hostile, no_decoding, name):
    index = ret.fresh()
    with pytest.raises(InputError, match="megapixels"):
        index.add([hostile / name])
    index.images.add(ret.model.encode_images([WHITE]), ids=["white"])  # a non-empty index, built without decoding
    with pytest.raises(InputError, match="megapixels"):
        index.search(hostile / name)


@needs_clip
def test_retrieval_indexes_odd_images_as_converted_pixels(ret, hostile):
    index = ret.fresh()
    index.add([hostile / name for name in ("rgba.png", "gray16.png", "cmyk.jpg")], ids=["rgba", "gray16", "cmyk"])
    for query, expected in [(WHITE, "rgba"), (GRAY16_AS_8BIT, "gray16"), (picture(), "cmyk")]:
        top = index.search(query, k=1)[0]
        assert top["id"] == expected
        assert top["score"] > (0.999 if expected != "cmyk" else 0.99)


@needs_clip
def test_retrieval_indexes_odd_images_and_refuses_bad_queries(ret, hostile):
    index = ret.fresh()
    index.add([hostile / name for name in GOOD_ODD_IMAGES], ids=list(GOOD_ODD_IMAGES))
    assert len(index) == len(GOOD_ODD_IMAGES)
    for query, words in [("", "is empty"), ("word " * 200_000, "too long"), ("a", None)]:
        if words is None:
            assert len(index.search(query, k=3)) == 3
            continue
        with pytest.raises(InputError, match=words):
            index.search(query)
    for k in (0, -1, 2.5, "3"):
        with pytest.raises(InputError, match="k must be a positive whole number"):
            index.search("a red square", k=k)
    with pytest.raises(InputError, match="target must be 'images' or 'captions'"):
        index.search("a red square", target="videos")
    with pytest.raises(InputError, match="the captions index is empty"):
        index.search(hostile / "good.png", target="captions")


@needs_clip
def test_retrieval_refuses_an_empty_index_and_an_imageless_folder(ret, tmp_path):
    with pytest.raises(InputError, match="the images index is empty: add images first"):
        ret.fresh().search("anything")
    (tmp_path / "notes.txt").write_text("no pictures")
    with pytest.raises(InputError, match="no images"):
        ret.fresh().add(tmp_path)
