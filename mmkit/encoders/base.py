"""The one output type shared by text, image and audio encoders.

Every encoder turns a batch into ``tokens`` (B, N, D), a ``mask`` (B, N) and ``pooled`` (B, D), and states its
width ``dim`` (= D), so fusion modules and heads never need to know which modality they are looking at.
"""

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class EncoderOutput:
    """What an encoder returns.

    tokens: (B, N, D) one vector per token, patch or audio frame.
    mask:   (B, N) bool, True where the token is real and False where it is padding
            (the Hugging Face ``attention_mask`` convention; torch's ``key_padding_mask`` is ``~mask``).
    pooled: (B, D) one vector per example.
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor

    def to(self, device) -> "EncoderOutput":
        return EncoderOutput(self.tokens.to(device), self.mask.to(device), self.pooled.to(device))


class Encoder(nn.Module):
    """Base class: ``preprocess`` turns raw inputs into tensors, ``forward`` turns tensors into an
    EncoderOutput.

    Subclasses set ``modality`` ("text", "image" or "audio") and ``dim``.
    ``encode(raw)`` does both steps on the module's device and is what users call.
    """

    modality: str = ""
    dim: int = 0

    def preprocess(self, inputs) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def forward(self, **batch: torch.Tensor) -> EncoderOutput:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, inputs) -> EncoderOutput:
        batch = {name: value.to(self.device) for name, value in self.preprocess(inputs).items()}
        return self(**batch)
