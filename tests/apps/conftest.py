"""Start the Gradio app on localhost in a subprocess, once per session, and wait until it answers.

``tiny_sequence_classifier`` and ``tiny_clip_folder`` are the saved tiny hub models of tests/pipelines/conftest.py.
"""

import importlib.util
from pathlib import Path

import pytest
from app_server import start_app, stop_app

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("_mmkit_pipelines_conftest", ROOT / "tests" / "pipelines" / "conftest.py")
_pipelines = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_pipelines)
tiny_sequence_classifier = _pipelines.tiny_sequence_classifier  # a saved BertForSequenceClassification: sports/tech/food
tiny_clip_folder = _pipelines.tiny_clip_folder  # a saved 16-d CLIPModel + processor


@pytest.fixture(scope="session")
def gradio_url(tmp_path_factory):
    # The server logs to a file, not a pipe: nobody reads a pipe here, and once ~64 kB of logged tracebacks fill it
    # the server blocks.
    process, url = start_app(tmp_path_factory.mktemp("gradio") / "server.log")
    try:
        yield url
    finally:
        stop_app(process)
