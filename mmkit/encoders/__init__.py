"""Text, image and audio encoders behind one interface: ``encode(raw) -> EncoderOutput(tokens, mask,
pooled)``.

``build_encoder("text")`` gives our own small Transformer, ``build_encoder("text", "minilm")`` the embedded
all-MiniLM-L6-v2, ``build_encoder("image", "openai/clip-vit-base-patch32")`` any Hugging Face model by id or
folder.
"""

from mmkit.encoders.audio import AudioEncoder, log_mel_spectrogram, mel_filters, num_frames
from mmkit.encoders.base import Encoder, EncoderOutput
from mmkit.encoders.image import (
    HFImageEncoder,
    PatchEncoder,
    SmallCNNEncoder,
    images_to_tensor,
)
from mmkit.encoders.text import HFTextEncoder, TextTransformerEncoder, masked_mean
from mmkit.errors import InputError

# modality -> {short name: class}; the first entry is what name_or_path=None builds.
_BUILTIN = {
    "text": {"transformer": TextTransformerEncoder, "minilm": HFTextEncoder},
    "image": {"small-cnn": SmallCNNEncoder, "patch": PatchEncoder},
    "audio": {"transformer": AudioEncoder},
}
_HF = {"text": HFTextEncoder, "image": HFImageEncoder}


def build_encoder(modality: str, name_or_path: str | None = None, **kwargs) -> Encoder:
    """An encoder by modality and name: a built-in short name (see ``_BUILTIN``) or a Hugging Face id /
    folder.

    Keywords go to the encoder's constructor, e.g. ``build_encoder("image", "patch", dim=128,
    patch_size=16)``.
    """
    if modality not in _BUILTIN:
        raise InputError(f"modality must be one of {sorted(_BUILTIN)}, got {modality!r}")
    builtin = _BUILTIN[modality]
    if name_or_path is None:
        return next(iter(builtin.values()))(**kwargs)
    if name_or_path in builtin:
        return builtin[name_or_path](**kwargs)
    if modality not in _HF:
        raise InputError(
            f"{modality} encoders: choose one of {sorted(builtin)}; Hugging Face audio models are not wired "
            "in"
        )
    return _HF[modality](name_or_path, **kwargs)


__all__ = [
    "AudioEncoder",
    "Encoder",
    "EncoderOutput",
    "HFImageEncoder",
    "HFTextEncoder",
    "PatchEncoder",
    "SmallCNNEncoder",
    "TextTransformerEncoder",
    "build_encoder",
    "images_to_tensor",
    "log_mel_spectrogram",
    "masked_mean",
    "mel_filters",
    "num_frames",
]
