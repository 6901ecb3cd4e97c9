"""The `mmkit` command through a real subprocess, as a shell user runs it."""

import json
import subprocess
import sys

import pytest


def run_cli(*args, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "mmkit.cli", *args], capture_output=True, text=True, timeout=600,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(__import__("pathlib").Path.home())},
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_help_for_every_command():
    for command in (["--help"], ["classify", "--help"], ["caption", "--help"], ["index", "build", "--help"],
                    ["index", "search", "--help"], ["ask", "--help"], ["models", "--help"]):
        out = run_cli(*command).stdout
        assert "usage: mmkit" in out


def test_models_json_lists_the_embedded_models():
    rows = json.loads(run_cli("models", "--json").stdout)
    names = {row["name"] for row in rows}
    assert {"minilm", "smollm2-reader", "tiny-clip", "tiny-captioner", "topic-classifier",
            "efficientnet-lite0-photo"} <= names
    photo = next(row for row in rows if row["name"] == "efficientnet-lite0-photo")
    assert photo["ready"] is True and photo["kind"] == "image-classifier"
    minilm = next(row for row in rows if row["name"] == "minilm")
    assert minilm["ready"] is True and minilm["size_mb"] > 50


def test_classify_zero_shot_json():
    ranked = json.loads(run_cli("classify", "The goalkeeper saved a penalty.", "--labels", "sports,cooking",
                                "--json").stdout)
    assert ranked[0]["label"] == "sports"
    assert ranked[0]["score"] > ranked[1]["score"]


@pytest.mark.parametrize("args, message", [
    (["classify", "   ", "--labels", "a,b"], "empty"),
    (["ask", "/no/such/document.md", "What?"], "no file at"),
    # a misspelt path, or the arguments swapped, is not answered as if the words were the document
    (["ask", "README.md.nope", "What is it?"], "no file at"),
    (["ask", "Which planet has the Great Red Spot?", "data/examples/documents/solar_system.md"], "no file at"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    proc = run_cli(*args, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("mmkit: ")
    assert message in proc.stderr.lower()
    assert "Traceback" not in proc.stderr


def test_ask_answers_from_a_file_and_says_when_the_answer_is_not_there():
    document = "data/examples/documents/solar_system.md"
    answer = run_cli("ask", document, "Which planet has the Great Red Spot?").stdout
    assert answer.startswith("Jupiter") and "evidence [" in answer
    missing = run_cli("ask", document, "Who was the first person to walk on Mars?").stdout
    assert missing.startswith("(not in the document)") and "closest sentence [" in missing
