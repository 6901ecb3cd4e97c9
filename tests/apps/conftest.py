"""Start an app on localhost in a subprocess and wait until it answers."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


@pytest.fixture(scope="session")
def gradio_url(tmp_path_factory):
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1",
           "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    # A file, not a pipe: nobody reads a pipe here, and once ~64 kB of logged tracebacks fill it the server blocks.
    log_path = tmp_path_factory.mktemp("gradio") / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, str(ROOT / "apps" / "gradio_app.py")], env=env, cwd=ROOT,
                                   stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        try:
            wait_for(url, process)
        except (RuntimeError, TimeoutError) as error:
            raise RuntimeError(f"{error}:\n{log_path.read_text(errors='replace')[-3000:]}") from None
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
