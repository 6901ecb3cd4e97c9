"""Training: one accelerate loop for every model (:func:`train`), ``transformers.Trainer`` for Hugging Face models
(:func:`train_hf`), and LoRA through peft (:func:`apply_lora`), all configured by one :class:`TrainConfig`."""

from mmkit.training.hf import train_hf
from mmkit.training.loop import TrainConfig, classification_eval, default_loss, train
from mmkit.training.lora import apply_lora, trainable_parameters

__all__ = [
    "TrainConfig",
    "apply_lora",
    "classification_eval",
    "default_loss",
    "train",
    "train_hf",
    "trainable_parameters",
]
