"""Figures in Markdown documents: captioned, read beside the text, answers mapped back to the image reference."""

import shutil
from pathlib import Path

import pytest
from answer_key_reader import AnswerKeyReader
from PIL import Image

import mmkit
from mmkit.errors import InputError
from mmkit.longtext.figures import describe_figures, find_figures
from mmkit.models import is_ready

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "examples" / "documents" / "field_trip.md"
TEXT = """# Trip notes

The bus left at seven. The lighthouse was built in 1868 and is thirty-one metres tall.

![Photo 1: Mia's lunch](pics/a.png)

After lunch we walked along the cliffs.

![Photo 2: Leo's toy](../outside.png) and ![remote](https://example.com/x.png) and ![abs](/etc/hostname)
"""


@pytest.fixture
def document(tmp_path) -> Path:
    folder = tmp_path / "notes"
    (folder / "pics").mkdir(parents=True)
    Image.new("RGB", (32, 32), "red").save(folder / "pics" / "a.png")
    Image.new("RGB", (32, 32), "blue").save(tmp_path / "outside.png")
    path = folder / "trip.md"
    path.write_text(TEXT, encoding="utf-8")
    return path


class FakeCaptioner:
    """Names each picture by its colour; counts its calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, path, lang="en"):
        self.calls.append(Path(path).name)
        colour = Image.open(path).getpixel((0, 0))
        return {"caption": {(255, 0, 0): "watermelon", (0, 0, 255): "rocket", (0, 255, 0): "pizza"}[colour]}


def answer_key():
    """Stands in for the 1.5B reader: writes these answers when a passage it reads holds them."""
    return AnswerKeyReader({"What was Leo's toy?": "rocket", "When was the lighthouse built?": "1868",
                            "What did Mia have for lunch?": "pizza", "What did Ana hold in the rain?": "umbrella",
                            "What does photo 1 show?": "watermelon"})


def test_local_relative_images_are_found_and_urls_and_absolute_paths_skipped(document):
    figures = find_figures(TEXT, document.parent)
    assert [(f.alt, f.path.name) for f in figures] == [("Photo 1: Mia's lunch", "a.png"),
                                                       ("Photo 2: Leo's toy", "outside.png")]
    assert [TEXT[f.start:f.end] for f in figures] == ["![Photo 1: Mia's lunch](pics/a.png)",
                                                      "![Photo 2: Leo's toy](../outside.png)"]


def test_offsets_in_the_described_text_map_back_to_the_original(document):
    figures = find_figures(TEXT, document.parent)
    described = describe_figures(TEXT, figures, ["watermelon", "rocket"])
    assert "(pics/a.png) Figure: watermelon." in described.text and "Figure: rocket." in described.text
    inserted = [range(at, at + length) for at, length, _, _ in described.inserts]
    for position in range(len(described.text)):
        if not any(position in r for r in inserted):  # outside the captions the two texts agree character by character
            assert TEXT[described.original(position)] == described.text[position]
    caption = described.text.index("watermelon")
    assert described.original(caption) == figures[0].start
    assert described.original(caption + 3, "end") == figures[0].end
    assert describe_figures(TEXT, figures, ["", "rocket"]).text.count("Figure:") == 1  # an unreadable image adds nothing


def test_a_question_about_a_figure_is_answered_with_its_caption(document):
    captioner = FakeCaptioner()
    qa = mmkit.pipeline("long-text-qa", model=answer_key(), captioner=captioner)
    result = qa(question="What was Leo's toy?", document=document)
    assert result["answer"] == "rocket" and result["found"]
    reference = "![Photo 2: Leo's toy](../outside.png)"
    assert TEXT[result["answer_start"]:result["answer_end"]] == reference
    assert result["figure"]["caption"] == "rocket" and result["figure"]["path"].endswith("outside.png")
    assert TEXT[result["start"]:result["end"]].startswith("![Photo 2")
    assert all(0 <= c["start"] < c["end"] <= len(TEXT) for c in result["chunks"])
    text_answer = qa(question="When was the lighthouse built?", document=document)
    assert text_answer["answer"] == "1868" and "figure" not in text_answer
    assert TEXT[text_answer["answer_start"]:text_answer["answer_end"]] == "1868"
    assert captioner.calls == ["a.png", "outside.png"]  # captioned once, then from the pipeline's cache
    Image.new("RGB", (32, 32), "lime").save(document.parent / "pics" / "a.png")  # a new picture under the same name
    assert qa(question="What did Mia have for lunch?", document=document)["answer"] == "pizza"
    assert captioner.calls == ["a.png", "outside.png", "a.png"]


def test_typed_text_and_figures_false_never_caption(document):
    captioner = FakeCaptioner()
    qa = mmkit.pipeline("long-text-qa", model=answer_key(), captioner=captioner)
    qa(question="What was Leo's toy?", document=document, figures=False)
    qa(question="What was Leo's toy?", document=TEXT, as_text=True)
    assert captioner.calls == []


def test_an_image_the_captioner_refuses_is_skipped(document):
    def refusing(path, lang="en"):
        raise InputError("not an image")

    qa = mmkit.pipeline("long-text-qa", model=answer_key(), captioner=refusing)
    result = qa(question="When was the lighthouse built?", document=document)
    assert result["answer"] == "1868"


@pytest.mark.skipif(not is_ready("tiny-captioner"), reason="python -m mmkit.training.recipes tiny-captioner")
def test_the_bundled_field_trip_notes_with_the_embedded_captioner(tmp_path):
    qa = mmkit.pipeline("long-text-qa", model=answer_key())
    assert qa(question="What was Leo's toy?", document=EXAMPLE)["answer"] == "rocket"
    assert qa(question="What did Ana hold in the rain?", document=str(EXAMPLE))["answer"] == "umbrella"
    # "photo" is in all three references and "1" in one, "show" only in "The keeper showed them ...": the evidence
    # weighs words by how few *sentences* hold them (over the document's two chunks every word looked as common)
    assert qa(question="What does photo 1 show?", document=EXAMPLE)["answer"] == "watermelon"
    # the pictures are named photo1..3, so the answer comes from the captioner: without them there is none
    copy = tmp_path / "field_trip.md"
    shutil.copy(EXAMPLE, copy)
    assert "figure" not in qa(question="What was Leo's toy?", document=copy)
