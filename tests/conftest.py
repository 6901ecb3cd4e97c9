"""Suite-wide guarantees: the tests never reach the network.

The hub is told to stay offline (so an unknown id fails at once instead of retrying), and pytest-socket (enabled in
pyproject's addopts) refuses every connection that is not to this machine's loopback.
"""

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture
def temp_root(tmp_path, monkeypatch) -> Path:
    """A private folder where tempfile.mkdtemp puts the apps' upload folders, apart from other processes', so a
    test can count what is left behind."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root
