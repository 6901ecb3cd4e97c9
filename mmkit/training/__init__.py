"""Training: one accelerate loop for every model (:func:`train`), ``transformers.Trainer`` for Hugging Face
models (:func:`train_hf`), :func:`fit` (the course's call: prepared tensors in, a table of epochs out), and
LoRA through peft (:func:`apply_lora`), all configured by one :class:`TrainConfig`."""

from mmkit.training.fit import cross_entropy, fit
from mmkit.training.hf import train_hf
from mmkit.training.loop import TrainConfig, classification_eval, default_loss, train
from mmkit.training.lora import apply_lora, trainable_parameters

__all__ = [
    "TrainConfig",
    "apply_lora",
    "classification_eval",
    "cross_entropy",
    "default_loss",
    "fit",
    "train",
    "train_hf",
    "trainable_parameters",
]
