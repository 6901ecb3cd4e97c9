"""Fine-tuning Hugging Face models with ``transformers.Trainer``, driven by the same :class:`TrainConfig`.

For a ``*ForSequenceClassification`` model and a tokenizer this is the short path: text in, a trained model
out, with the metrics of :mod:`mmkit.metrics`. The Trainer itself runs on accelerate, so the behaviour matches
:func:`mmkit.training.train` (AdamW, warmup + cosine, clipping, accumulation, mixed precision).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable

from mmkit.errors import InputError
from mmkit.training.loop import TrainConfig, classification_eval


def _as_tokenized(dataset, tokenizer, text_column: str, max_length: int | None):
    """A ``datasets.Dataset`` with ``input_ids``: lists of dicts are converted, raw text is tokenized."""
    from datasets import Dataset

    if dataset is None:
        return None
    if isinstance(dataset, list):
        dataset = Dataset.from_list(dataset)
    columns = getattr(dataset, "column_names", None)
    if columns is None or "input_ids" in columns:
        return dataset
    if text_column not in columns:
        raise InputError(
            f"The dataset has neither 'input_ids' nor a {text_column!r} column (it has {columns})."
        )
    return dataset.map(
        lambda rows: tokenizer(rows[text_column], truncation=True, max_length=max_length), batched=True
    )


def _history(log_history: list[dict], epoch_times: list[float]) -> list[dict]:
    """Trainer's flat log list -> one dict per epoch, with the keys :func:`mmkit.training.train` uses."""
    epochs: dict[int, dict] = {}
    for entry in log_history:
        if "epoch" not in entry or "train_runtime" in entry:  # the last entry summarises the whole run
            continue
        record = epochs.setdefault(round(entry["epoch"]), {"epoch": round(entry["epoch"])})
        for key, value in entry.items():
            if key == "loss":
                record["train_loss"] = value
            elif key == "learning_rate":
                record["lr"] = value
            elif key.startswith("eval_") and not key.endswith(("_runtime", "_per_second")):
                record[key] = value
    for record, seconds in zip(sorted(epochs.values(), key=lambda r: r["epoch"]), epoch_times):
        record["time_s"] = seconds
    return [epochs[k] for k in sorted(epochs)]


def _training_arguments(config: TrainConfig, evaluate: bool):
    """``config`` as ``transformers.TrainingArguments``; ``evaluate``: evaluate after every epoch."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=config.output_dir or tempfile.mkdtemp(prefix="mmkit-hf-"),
        num_train_epochs=config.epochs,
        learning_rate=config.lr,
        weight_decay=config.weight_decay,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum_steps,
        max_grad_norm=config.max_grad_norm or 0.0,
        warmup_steps=config.warmup_ratio,  # transformers 5: a value below 1 is a fraction of the steps
        lr_scheduler_type="cosine",
        optim="sgd" if config.optimizer == "sgd" else "adamw_torch",
        bf16=config.mixed_precision == "bf16",
        fp16=config.mixed_precision == "fp16",
        seed=config.seed,
        data_seed=config.seed,
        eval_strategy="epoch" if evaluate else "no",
        save_strategy="epoch" if config.output_dir else "no",
        logging_strategy="epoch",
        report_to="none",
    )


def _epoch_timer(epoch_times: list[float]):
    """A ``TrainerCallback`` that appends each epoch's wall time (s) to ``epoch_times``."""
    from transformers import TrainerCallback

    class EpochTimer(TrainerCallback):
        def on_epoch_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_epoch_end(self, args, state, control, **kwargs):
            epoch_times.append(time.perf_counter() - self.started)

    return EpochTimer()


def _default_metrics(prediction) -> dict:
    """Accuracy and macro P/R/F1 from the argmax of the logits of an ``EvalPrediction``."""
    logits = prediction.predictions
    logits = logits[0] if isinstance(logits, tuple) else logits  # some heads also return hidden states
    return classification_eval(logits, prediction.label_ids)


def train_hf(
    model,
    tokenizer,
    train_dataset,
    eval_dataset=None,
    config: TrainConfig | None = None,
    compute_metrics: Callable | None = None,
    data_collator: Callable | None = None,
    text_column: str = "text",
    max_length: int | None = None,
) -> list[dict]:
    """Fine-tune a Hugging Face model in place with ``transformers.Trainer``.

    Args:
        model: e.g. ``AutoModelForSequenceClassification.from_pretrained(path, num_labels=C)``.
        tokenizer: its tokenizer; pads batches (``DataCollatorWithPadding``) and tokenizes raw text.
        train_dataset, eval_dataset: ``datasets.Dataset`` or lists of dicts with ``labels`` (or ``label``) and
            either ``input_ids`` or a ``text_column`` to tokenize (truncated to ``max_length``).
        compute_metrics: ``EvalPrediction -> dict``; default accuracy and macro P/R/F1 from argmax of the
        logits.
    Returns:
        history, one dict per epoch: ``epoch``, ``train_loss``, ``lr``, ``eval_*``, ``time_s`` (training
        only).
    """
    from transformers import DataCollatorWithPadding, Trainer

    config = config or TrainConfig()
    train_dataset = _as_tokenized(train_dataset, tokenizer, text_column, max_length)
    eval_dataset = _as_tokenized(eval_dataset, tokenizer, text_column, max_length)
    evaluate = eval_dataset is not None and config.eval_every_epoch
    epoch_times: list[float] = []
    trainer = Trainer(
        model=model,
        args=_training_arguments(config, evaluate),
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        data_collator=data_collator or DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics or _default_metrics,
        callbacks=[_epoch_timer(epoch_times)],
    )
    trainer.train()
    if eval_dataset is not None and not evaluate:
        trainer.evaluate()
    if config.output_dir:
        trainer.save_model(f"{config.output_dir}/model")
    return _history(trainer.state.log_history, epoch_times)
