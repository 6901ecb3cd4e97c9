"""Fixtures of the hardening tests: the live Gradio server and a folder of hostile files built once per session.

``gradio_url`` starts apps/gradio_app.py like the fixture in tests/apps/conftest.py (whose port and wait helpers
it reuses, loaded by path since test folders here are not packages), with one difference that matters here: the
server's output goes to a log file. The apps fixture pipes it and never reads the pipe, so after ~64 kB of logged
tracebacks -- a dozen refused requests -- the server blocks on a write and stops answering.
``tiny_clip_folder`` is the one in tests/pipelines/conftest.py.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hardening_files import write_hostile

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("_mmkit_apps_conftest", ROOT / "tests" / "apps" / "conftest.py")
_apps = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_apps)
_spec = importlib.util.spec_from_file_location("_mmkit_pipelines_conftest", ROOT / "tests" / "pipelines" / "conftest.py")
_pipelines = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_pipelines)
tiny_clip_folder = _pipelines.tiny_clip_folder  # a saved 16-d CLIPModel + processor: retrieval without tiny-clip


def start_gradio_app(log_path: Path, tmp_dir: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Start the app on a free loopback port, its output in ``log_path``; return (process, url) once it answers.

    ``tmp_dir``: the server's TMPDIR, so a test can see exactly which upload folders this server leaves behind.
    """
    port = _apps.free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1",
           "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    if tmp_dir is not None:
        env["TMPDIR"] = str(tmp_dir)
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, str(ROOT / "apps" / "gradio_app.py")], env=env, cwd=ROOT,
                                   stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _apps.wait_for(url, process)
    except BaseException:
        process.kill()
        process.wait()
        raise RuntimeError(f"the app did not start:\n{log_path.read_text(errors='replace')[-3000:]}") from None
    return process, url


@pytest.fixture(scope="session")
def gradio_server(tmp_path_factory):
    """(process, url, log path, TMPDIR) of one app server shared by every hardening test in the session."""
    log_path = tmp_path_factory.mktemp("gradio") / "server.log"
    tmp_dir = tmp_path_factory.mktemp("gradio-tmp")
    process, url = start_gradio_app(log_path, tmp_dir)
    try:
        yield process, url, log_path, tmp_dir
    finally:
        process.terminate()
        process.wait(timeout=30)


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
