"""Fixtures of the hardening tests: the live Gradio server and a folder of hostile files built once per session.

``gradio_url`` starts apps/gradio_app.py through ``app_server.start_app`` (bench/load.py's), with its own TMPDIR
so a test can count the upload folders this server leaves behind.
``tiny_clip_folder`` is the one in tests/pipelines/conftest.py.
"""

import importlib.util
from pathlib import Path

import pytest
from app_server import start_app, stop_app
from hardening_files import write_hostile

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("_mmkit_pipelines_conftest", ROOT / "tests" / "pipelines" / "conftest.py")
_pipelines = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_pipelines)
tiny_clip_folder = _pipelines.tiny_clip_folder  # a saved 16-d CLIPModel + processor: retrieval without tiny-clip


@pytest.fixture(scope="session")
def gradio_server(tmp_path_factory):
    """(process, url, log path, TMPDIR) of one app server shared by every hardening test in the session."""
    log_path = tmp_path_factory.mktemp("gradio") / "server.log"
    tmp_dir = tmp_path_factory.mktemp("gradio-tmp")
    process, url = start_app(log_path, tmp_dir=tmp_dir)
    try:
        yield process, url, log_path, tmp_dir
    finally:
        stop_app(process)


@pytest.fixture(scope="session")
def gradio_url(gradio_server):
    return gradio_server[1]


@pytest.fixture(scope="session")
def server_tmp(gradio_server) -> Path:
    """The server's temporary folder: where it unpacks uploaded zips (``mmkit-upload-*``)."""
    return gradio_server[3]


@pytest.fixture(scope="session")
def hostile(tmp_path_factory) -> Path:
    """A folder of hostile and unusual uploads (see hardening_files.write_hostile)."""
    return write_hostile(tmp_path_factory.mktemp("hostile"))
