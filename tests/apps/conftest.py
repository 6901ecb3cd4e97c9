"""Start the Gradio app on localhost in a subprocess, once per session, and wait until it answers."""

import pytest
from app_server import start_app, stop_app


@pytest.fixture(scope="session")
def gradio_url(tmp_path_factory):
    # The server logs to a file, not a pipe: nobody reads a pipe here, and once ~64 kB of logged tracebacks fill it
    # the server blocks.
    process, url = start_app(tmp_path_factory.mktemp("gradio") / "server.log")
    try:
        yield url
    finally:
        stop_app(process)
