"""What both apps start from: the model of each task and the example files.

The model a tab runs is, first to last: the text typed in its model field; else the hub id, local folder or embedded
name in the task's environment variable (``ENV_VARS``, set by a Space's owner under Settings → Variables); else
``model=None``, the pipeline's own embedded default (the photo model efficientnet-lite0-photo for captioning and
retrieval). Blank or whitespace counts as not set.
"""

from __future__ import annotations

import os
from pathlib import Path

import mmkit
from mmkit.errors import InputError

ENV_VARS = {
    "text-classification": "MMKIT_CLASSIFY_MODEL",
    "image-captioning": "MMKIT_CAPTION_MODEL",
    "cross-modal-retrieval": "MMKIT_RETRIEVAL_MODEL",
    "long-text-qa": "MMKIT_QA_READER",
}
EXAMPLES = Path(__file__).resolve().parent.parent / "data" / "examples"
# Real photographs first (credits in data/examples/photos/CREDITS.md), then emoji art: the embedded default is the
# photo model; the emoji pictures are what model "tiny-captioner" / "tiny-clip" know.
CAPTION_EXAMPLES = ("photos/flower.jpg", "photos/china.jpg", "photos/grace_hopper.jpg",
                    "images/red_apple.png", "images/dog_face.png", "images/composite_1.png")
RETRIEVAL_QUERIES = ("a flower", "a palace by a lake", "a vehicle", "a person in uniform")


def example_gallery() -> list[Path]:
    """The images indexed when a visitor builds the index without a zip: the emoji art and the photos, mixed."""
    return sorted((EXAMPLES / "images").glob("*.png")) + sorted((EXAMPLES / "photos").glob("*.jpg"))


def load_pipeline(task: str, model: str | None, quantization: str = "none"):
    """``mmkit.pipeline(task, model=model)``; quantization is the apps' choice "none", "8bit" or "4bit". Each app
    caches this function per (task, model, quantization)."""
    return mmkit.pipeline(task, model=model, quantization=None if quantization == "none" else quantization)


def get_pipeline(task: str, typed: str, quantization: str, load=load_pipeline):
    """The pipeline of ``task`` for what a visitor typed in the model field (see the module docstring).

    load: the app's cached :func:`load_pipeline`. A model named by the environment variable that cannot be loaded
    is an InputError that names the variable, so the Space's owner knows where the id came from.
    """
    typed = (typed or "").strip()
    if typed:
        return load(task, typed, quantization)
    variable = ENV_VARS[task]
    named = os.environ.get(variable, "").strip()
    if not named:
        return load(task, None, quantization)
    try:
        return load(task, named, quantization)
    except InputError as error:
        raise InputError(f"{error}\n(The model {named!r} was named by the environment variable {variable}; set it to a "
                         "model that loads, or clear it for the embedded default.)") from error
