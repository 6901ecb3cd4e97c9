"""What every pipeline shares: device choice, the model's name, quantization, who owns the model, a ``repr``.

Ownership: the registry (:func:`mmkit.models.load`) hands every caller the same object, loaded once per
process; that object is read-only. A pipeline runs it as it is, or, when it would change it (quantize it, move
it to another device), gets a private copy from :func:`own_model` and changes that. Hub models are loaded per
pipeline, so they are its own already and are changed in place.
"""

import copy

import torch
from torch import nn

from mmkit.errors import InputError

QUANTIZATION_CHOICES = (None, "8bit", "4bit")


def resolve_device(device: str | int | torch.device | None) -> torch.device:
    """Turn "cpu", "cuda", "cuda:1", "auto", an int GPU index or None (= "auto") into a ``torch.device``.

    "auto" takes the first GPU when one is present, else the CPU. Asking for a GPU that is not there is an
    InputError that says which devices exist, instead of a CUDA traceback later.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, int):
        device = f"cuda:{device}" if device >= 0 else "cpu"
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise InputError(f"unknown device {device!r}: use 'cpu', 'cuda', 'cuda:N' or 'auto'") from error
    if resolved.type == "cuda":
        count = torch.cuda.device_count()
        index = resolved.index or 0
        if index >= count:
            found = f"{count} GPU(s)" if count else "no GPU"
            raise InputError(
                f"device {device!r} was asked for but this machine has {found}; use device='cpu'"
            )
    return resolved


def check_quantization(quantization: str | None) -> str | None:
    if quantization not in QUANTIZATION_CHOICES:
        raise InputError(f"quantization must be one of None, '8bit', '4bit', not {quantization!r}")
    return quantization


def _module(model, part: str | None) -> nn.Module:
    for name in part.split(".") if part else ():
        model = getattr(model, name)
    return model


def private_copy(model, memo: dict | None = None):
    """``copy.deepcopy(model)`` that shares ``model.tokenizer`` (read-only, and as costly to copy as MiniLM's
    weights).

    memo: objects to map to others instead of copying them, as for ``copy.deepcopy``."""
    memo = dict(memo or {})
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None:
        memo.setdefault(id(tokenizer), tokenizer)
    return copy.deepcopy(model, memo)


def own_model(
    model,
    device: torch.device,
    quantization: str | None = None,
    *,
    shared: bool,
    part: str | None = None,
    **quantize_options,
):
    """``model`` ready to run on ``device`` with ``quantization``; the one place a pipeline gets its model
    from.

    shared: True for a registry model (read-only, see the module docstring). It is returned unchanged when it
        already runs as asked (float, on ``device``); otherwise a :func:`private_copy` of it is moved and
        quantized, so the shared one stays float where it was. A copy takes 0.2-0.7x the time of a fresh load
        from disk for the readers and the tiny models, about the same for MiniLM (``python
        bench/own_model.py`` prints both). False: the caller's own model, changed in place.
    part: dotted attribute path to the ``nn.Module`` to move and quantize, when ``model`` wraps one ("model"
        for an ``HFTextEncoder`` or a reader); None for ``model`` itself.
    quantize_options: passed to :func:`mmkit.quant.quantize` (``skip``, ``keep_8bit``).
    """
    module = _module(model, part)
    weight = next(module.parameters(), None)
    elsewhere = weight is not None and (
        weight.device.type != device.type
        or (device.index is not None and weight.device.index != device.index)
    )
    if shared and (quantization or elsewhere):
        model = private_copy(model)
        module = _module(model, part)
    module.to(device).eval()
    if quantization:
        from mmkit.quant import quantize

        quantize(module, bits=8 if quantization == "8bit" else 4, **quantize_options)
    return model


class Pipeline:
    """Base class: subclasses set ``task`` and fill ``model_name``; ``__call__`` does the work."""

    task: str = ""

    def __init__(self, model_name: str, device: torch.device, quantization: str | None = None):
        self.model_name = model_name
        self.device = device
        self.quantization = quantization

    def __repr__(self) -> str:
        quantized = f", quantization={self.quantization!r}" if self.quantization else ""
        name = type(self).__name__
        return f"{name}(task={self.task!r}, model={self.model_name!r}, device='{self.device}'{quantized})"

    def describe(self) -> str:
        """What the pipeline's model holds, read from its layers, e.g. "8-bit: 36 Linear layers quantized, 2
        kept"."""
        from mmkit.quant import describe

        return describe(self.module)

    @property
    def module(self) -> nn.Module:
        """The ``nn.Module`` this pipeline runs (and quantizes); subclasses say where it is."""
        raise NotImplementedError
