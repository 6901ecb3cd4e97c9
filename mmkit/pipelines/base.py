"""What every pipeline shares: device choice, the model's name, quantization, a readable ``repr``."""

import torch

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
            raise InputError(f"device {device!r} was asked for but this machine has {found}; use device='cpu'")
    return resolved


def check_quantization(quantization: str | None) -> str | None:
    if quantization not in QUANTIZATION_CHOICES:
        raise InputError(f"quantization must be one of None, '8bit', '4bit', not {quantization!r}")
    return quantization


class Pipeline:
    """Base class: subclasses set ``task`` and fill ``model_name``; ``__call__`` does the work."""

    task: str = ""

    def __init__(self, model_name: str, device: torch.device, quantization: str | None = None):
        self.model_name = model_name
        self.device = device
        self.quantization = quantization

    def __repr__(self) -> str:
        quantized = f", quantization={self.quantization!r}" if self.quantization else ""
        return f"{type(self).__name__}(task={self.task!r}, model={self.model_name!r}, device='{self.device}'{quantized})"
