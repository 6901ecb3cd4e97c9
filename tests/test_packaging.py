"""The wheel users get from `pip install mmkit` is complete: it carries the weights of the models trained here."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from mmkit.models import list_models
from mmkit.models.registry import weights_dir

ROOT = Path(__file__).resolve().parents[1]
TRAINED_HERE = [spec.name for spec in list_models() if spec.source.startswith("mmkit:")]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built once, offline (no build isolation: the venv's setuptools builds it), from a copy of what the wheel is
    made of, so that the build's own folders (build/, *.egg-info) never land in the checkout."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "mmkit", source / "mmkit", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "-w", str(out), str(source)], check=True, capture_output=True)
    (found,) = out.glob("mmkit-*.whl")
    return found


def test_the_wheel_holds_every_shipped_weight_file_and_card(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert TRAINED_HERE == ["topic-classifier", "tiny-clip", "tiny-clip-e5", "tiny-captioner"]
    for name in TRAINED_HERE:
        for file in weights_dir(name).iterdir():
            assert f"mmkit/weights/{name}/{file.name}" in names, file
    cards = {f"mmkit/models/cards/{path.name}" for path in (ROOT / "mmkit/models/cards").glob("*.md")}
    assert cards <= names
    assert not any(name.startswith(("tests/", "data/", "course/")) for name in names)


@pytest.mark.slow
def test_models_trained_here_are_ready_in_a_fresh_venv_that_installed_the_wheel(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)], check=True)
    # mmkit's dependencies come from this venv's site-packages (PYTHONPATH does not run its .pth files, so the
    # editable mmkit of this checkout stays out of sight); the run starts outside the checkout.
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    done = subprocess.run([python, "-m", "mmkit.cli", "models", "--json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=True)
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    for name in TRAINED_HERE:
        assert rows[name]["ready"], name
        assert rows[name]["card"].startswith(str(venv)), rows[name]["card"]
        assert rows[name]["headline"], name
