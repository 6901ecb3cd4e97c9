"""The training loop the course teaches, on :class:`accelerate.Accelerator`.

The same code runs on a laptop CPU, one GPU, or several processes under ``accelerate launch``, because device
placement, gradient accumulation, mixed precision, gradient clipping and distributed averaging all go through
accelerate; the loop itself stays about forty lines.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from mmkit.errors import InputError
from mmkit.metrics import classification_report

STATE_FILE = "mmkit_state.json"


@dataclass
class TrainConfig:
    """Hyper-parameters shared by :func:`train` and :func:`train_hf`.

    ``batch_size`` is per process: under ``accelerate launch --num_processes N`` one optimizer step sees ``N *
    batch_size * grad_accum_steps`` examples. ``warmup_ratio`` is the fraction of optimizer steps spent
    warming up before the cosine decay. ``mixed_precision`` is "no", "bf16" or "fp16" (autocast; bf16 also
    works on CPU). ``max_grad_norm=None`` turns clipping off; ``eval_every_epoch=False`` evaluates after the
    last epoch only. With ``output_dir`` set, a checkpoint is written after every epoch
    (``checkpoint-epoch{k}/``: weights as ``model.safetensors`` unless ``save_safetensors=False``) and the
    final model to ``model/``. ``optimizer`` is "adamw" or "sgd" (plain, no momentum: each update is exactly
    -lr * gradient). ``progress=False`` shows no progress bar and prints no per-epoch line (a notebook that
    stores its outputs wants only the returned history).
    """

    epochs: int = 3
    lr: float = 5e-4
    weight_decay: float = 0.01
    batch_size: int = 32
    grad_accum_steps: int = 1
    max_grad_norm: float | None = 1.0
    warmup_ratio: float = 0.0
    mixed_precision: str = "no"
    seed: int = 0
    output_dir: str | None = None
    eval_every_epoch: bool = True
    save_safetensors: bool = True
    optimizer: str = "adamw"
    shuffle: bool = True
    progress: bool = True

    def __post_init__(self):
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            raise InputError(f"mixed_precision must be 'no', 'bf16' or 'fp16', not {self.mixed_precision!r}.")
        if self.optimizer not in ("adamw", "sgd"):
            raise InputError(f"optimizer must be 'adamw' or 'sgd', not {self.optimizer!r}.")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise InputError(f"warmup_ratio is a fraction of the steps in [0, 1), got {self.warmup_ratio}.")
        if self.epochs < 1 or self.batch_size < 1 or self.grad_accum_steps < 1:
            raise InputError("epochs, batch_size and grad_accum_steps must all be at least 1.")


# --- how a batch meets a model
# -------------------------------------------------------------------------------- A batch is either a dict
# (keyword arguments, Hugging Face style, labels under "labels") or a tuple (inputs..., labels), as a
# TensorDataset yields.


def _forward(model: nn.Module, batch):
    if isinstance(batch, Mapping):
        return model(**batch)
    if isinstance(batch, list | tuple):
        return model(*batch[:-1])
    return model(batch)


def _labels(batch):
    if isinstance(batch, Mapping):
        return batch.get("labels")
    return batch[-1] if isinstance(batch, list | tuple) else None


def _field(output, name: str):
    if isinstance(output, Mapping):
        return output.get(name)
    return getattr(output, name, None)


def default_loss(model: nn.Module, batch) -> torch.Tensor:
    """``model(**batch).loss``, or the output itself when the model returns a scalar loss tensor."""
    if not isinstance(batch, Mapping):
        raise InputError(
            "Batches are (inputs..., labels) tuples, so mmkit cannot guess the loss: pass "
            "loss_fn=lambda model, batch: torch.nn.functional.cross_entropy(model(batch[0]), batch[1])."
        )
    output = model(**batch)
    loss = output if isinstance(output, torch.Tensor) else _field(output, "loss")
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        raise InputError("The model returned no scalar loss; include 'labels' in the batch or pass loss_fn.")
    return loss


def classification_eval(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """An ``eval_fn``: accuracy and macro precision/recall/F1 of ``argmax`` over (N, C) logits against (N,)
    labels."""
    return classification_report(labels, np.asarray(logits).argmax(axis=-1))


# --- the loop ---------------------------------------------------------------------------------------------


def _accelerator(config: TrainConfig):
    from accelerate import Accelerator, DataLoaderConfiguration
    from accelerate.state import AcceleratorState

    kwargs = dict(
        mixed_precision=config.mixed_precision,
        gradient_accumulation_steps=config.grad_accum_steps,
        # A seeded sampler shuffles identically on every process and in every run, with one permutation per
        # epoch: what makes 1-process vs N-process runs and resumed runs comparable.
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=config.seed),
    )
    try:
        return Accelerator(**kwargs)
    except ValueError as err:
        if "already been initialized" not in str(err):
            raise
        # AcceleratorState is a per-process singleton that refuses a second precision (a notebook comparing
        # fp32 and bf16). Forgetting it is safe: the process group lives in PartialState, which is kept.
        AcceleratorState._reset_state()
        return Accelerator(**kwargs)


def _loader(data, config: TrainConfig, shuffle: bool, collate_fn) -> DataLoader:
    if isinstance(data, DataLoader):
        return data
    return DataLoader(data, batch_size=config.batch_size, shuffle=shuffle, collate_fn=collate_fn)


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise InputError("The model has no trainable parameters (all have requires_grad=False).")
    # Weight decay shrinks weight matrices; decaying biases and LayerNorm gains (the 1-D tensors) only hurts.
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr)
    return torch.optim.AdamW(groups, lr=config.lr)


def _evaluate(model, loader, accelerator, loss_fn, eval_fn) -> dict[str, float]:
    """Mean loss over the evaluation set, plus ``eval_fn(logits, labels)`` on the gathered predictions."""
    model.eval()
    loss_sum = torch.zeros((), device=accelerator.device)
    count = torch.zeros((), device=accelerator.device)
    all_logits, all_labels = [], []
    with torch.no_grad():
        for batch in loader:
            if loss_fn is None:  # one forward gives both loss and logits
                output = _forward(model, batch)
                loss = output if isinstance(output, torch.Tensor) else _field(output, "loss")
            else:
                loss, output = loss_fn(model, batch), (_forward(model, batch) if eval_fn else None)
            labels = _labels(batch)
            if eval_fn is not None and labels is None:
                raise InputError("eval_fn needs labels: put them under 'labels' or last in each batch tuple.")
            n = len(labels) if labels is not None else 1
            if isinstance(loss, torch.Tensor) and loss.ndim == 0:
                loss_sum += loss.detach().float() * n
                count += n
            if eval_fn is not None:
                logits = output if isinstance(output, torch.Tensor) else _field(output, "logits")
                # gather_for_metrics drops the samples accelerate repeated to give every process a full batch
                logits, labels = accelerator.gather_for_metrics((logits.detach().float(), labels))
                all_logits.append(logits.cpu().numpy())
                all_labels.append(labels.cpu().numpy())
    model.train()
    totals = accelerator.reduce(torch.stack([loss_sum, count]), reduction="sum")
    metrics = {"eval_loss": (totals[0] / totals[1]).item()} if totals[1] > 0 else {}
    if eval_fn is not None:
        found = eval_fn(np.concatenate(all_logits), np.concatenate(all_labels))
        metrics.update({f"eval_{k}": float(v) for k, v in found.items()})
    return metrics


def _save_checkpoint(accelerator, path: Path, epoch: int, history: list[dict], config: TrainConfig) -> None:
    """Model (``model.safetensors``), optimizer, scheduler and RNG states via accelerate; epoch, history,
    config."""
    accelerator.save_state(str(path), safe_serialization=config.save_safetensors)
    if accelerator.is_main_process:
        state = {"epoch": epoch, "history": history, "config": asdict(config)}
        (path / STATE_FILE).write_text(json.dumps(state, indent=1))
    accelerator.wait_for_everyone()


def _save_model(accelerator, model, path: Path, safe: bool) -> None:
    unwrapped = accelerator.unwrap_model(model)
    if hasattr(unwrapped, "save_pretrained"):  # HF and peft models, and ours: loadable with from_pretrained
        if accelerator.is_main_process:
            unwrapped.save_pretrained(str(path))
    else:
        accelerator.save_model(model, str(path), safe_serialization=safe)
    accelerator.wait_for_everyone()


def _schedule_steps(config: TrainConfig, batches: int, processes: int) -> tuple[int, int]:
    """(warmup, total) steps of the learning-rate schedule: ``batches`` per epoch shared by ``processes``.

    Each process sees 1/N of the batches. accelerate steps a prepared scheduler N times per optimizer step, so
    the schedule (warmup included) is laid out in units of N steps: the learning rate then follows the same
    curve whatever N is.
    """
    per_process = math.ceil(math.ceil(batches / processes) / config.grad_accum_steps) * config.epochs
    return math.ceil(config.warmup_ratio * per_process) * processes, per_process * processes


def _resume(accelerator, checkpoint: str | Path) -> tuple[int, list[dict]]:
    """Restore model, optimizer, scheduler and RNG states from ``checkpoint``; -> (epochs done, history)."""
    accelerator.load_state(str(checkpoint))
    state = json.loads((Path(checkpoint) / STATE_FILE).read_text())
    return state["epoch"], state["history"]


def _train_epoch(
    model, loader, optimizer, scheduler, accelerator, loss_of, config: TrainConfig, epoch: int
) -> float:
    """One pass over ``loader`` (accumulation, clipping, one scheduler step per batch); returns the mean
    training loss over every process's batches."""
    loader.set_epoch(epoch)
    loss_sum = torch.zeros((), device=accelerator.device)
    batches = 0
    bar = tqdm(
        loader,
        desc=f"epoch {epoch + 1}/{config.epochs}",
        leave=False,
        disable=not (config.progress and accelerator.is_local_main_process),
    )
    for batch in bar:
        with accelerator.accumulate(model):
            loss = loss_of(model, batch)
            accelerator.backward(loss)
            if accelerator.sync_gradients and config.max_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        loss_sum += loss.detach().float()
        batches += 1
        if not bar.disable:  # .item() waits for the device; only the process that shows the bar pays
            bar.set_postfix(loss=f"{loss.item():.4f}")
    totals = accelerator.reduce(torch.stack([loss_sum, loss_sum.new_tensor(batches)]), reduction="sum")
    return (totals[0] / totals[1]).item()


def train(
    model: nn.Module,
    train_data,
    eval_data=None,
    config: TrainConfig | None = None,
    loss_fn: Callable[[nn.Module, object], torch.Tensor] | None = None,
    collate_fn: Callable | None = None,
    eval_fn: Callable[[np.ndarray, np.ndarray], dict] | None = None,
    resume_from: str | Path | None = None,
) -> list[dict]:
    """Train ``model`` in place with AdamW (or SGD) and a warmup + cosine learning-rate schedule.

    Args:
        train_data, eval_data: a map-style Dataset (batched here with ``config.batch_size`` and
            ``collate_fn``) or a DataLoader. Batches are dicts (passed as ``model(**batch)``) or tuples
            ``(inputs..., labels)``.
        loss_fn: ``loss_fn(model, batch) -> scalar``; default ``model(**batch).loss``.
        eval_fn: ``eval_fn(logits (N, ...), labels (N,)) -> {name: value}`` on the whole gathered evaluation
            set, e.g. :func:`classification_eval`. The logits are the model output (or its ``.logits``) on the
            inputs.
        resume_from: a ``checkpoint-epoch{k}`` folder written by an earlier call with the same config;
            training continues at epoch k+1 with model, optimizer, scheduler and RNG states restored.
    Returns:
        history, one dict per epoch: ``epoch``, ``train_loss``, ``lr``, ``eval_*`` metrics, ``time_s``.
    """
    from accelerate.utils import set_seed
    from transformers import get_cosine_schedule_with_warmup

    config = config or TrainConfig()
    accelerator = _accelerator(config)
    set_seed(config.seed)
    train_loader = _loader(train_data, config, config.shuffle, collate_fn)
    eval_loader = _loader(eval_data, config, False, collate_fn) if eval_data is not None else None

    warmup, steps = _schedule_steps(config, len(train_loader), accelerator.num_processes)
    optimizer = _optimizer(model, config)
    scheduler = get_cosine_schedule_with_warmup(optimizer, warmup, steps)
    model, optimizer, train_loader, scheduler = accelerator.prepare(model, optimizer, train_loader, scheduler)
    if eval_loader is not None:
        eval_loader = accelerator.prepare(eval_loader)

    start_epoch, history = _resume(accelerator, resume_from) if resume_from is not None else (0, [])
    output_dir = Path(config.output_dir) if config.output_dir else None
    loss_of = loss_fn or default_loss
    model.train()
    for epoch in range(start_epoch, config.epochs):
        started = time.perf_counter()
        loss = _train_epoch(model, train_loader, optimizer, scheduler, accelerator, loss_of, config, epoch)
        record = {"epoch": epoch + 1, "train_loss": loss, "lr": scheduler.get_last_lr()[0]}
        if eval_loader is not None and (config.eval_every_epoch or epoch == config.epochs - 1):
            record.update(_evaluate(model, eval_loader, accelerator, loss_fn, eval_fn))
        record["time_s"] = time.perf_counter() - started
        history.append(record)
        if config.progress:
            accelerator.print(
                " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items())
            )
        if output_dir is not None:
            _save_checkpoint(
                accelerator, output_dir / f"checkpoint-epoch{epoch + 1}", epoch + 1, history, config
            )

    if output_dir is not None:
        _save_model(accelerator, model, output_dir / "model", config.save_safetensors)
    accelerator.free_memory()
    return history
