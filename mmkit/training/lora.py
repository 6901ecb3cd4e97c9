"""LoRA through ``peft``: freeze the model, learn W + (alpha/r)·B·A in chosen Linear layers.

A is (r, d_in), B is (d_out, r) and starts at zero, so the adapted model starts out equal to the original and
only r·(d_in + d_out) numbers per layer are trained. peft handles both Hugging Face models (the targets for
each architecture are known, e.g. ``query``/``value`` for BERT) and any ``nn.Module`` with ``nn.Linear``
children (mmkit's own attention names them ``q_proj``/``k_proj``/``v_proj``/``out_proj``).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from mmkit.errors import InputError

OWN_TARGETS = ("q_proj", "v_proj")
_HF_TASKS = {  # class-name suffix -> peft task type; the task type keeps the new head trainable
    "ForSequenceClassification": "SEQ_CLS",
    "ForTokenClassification": "TOKEN_CLS",
    "ForQuestionAnswering": "QUESTION_ANS",
    "ForCausalLM": "CAUSAL_LM",
}


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """(number of parameters with ``requires_grad``, total number of parameters)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def _is_hf(model: nn.Module) -> bool:
    from transformers import PreTrainedModel

    return isinstance(model, PreTrainedModel)


def apply_lora(
    model: nn.Module,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.0,
    target_modules: Sequence[str] | str | None = None,
    modules_to_save: Sequence[str] | None = None,
) -> nn.Module:
    """Wrap ``model`` in a ``peft.PeftModel`` where only the LoRA matrices (and ``modules_to_save``) train.

    Args:
        target_modules: names (suffixes) of the ``nn.Linear`` layers to adapt. Default: peft's choice for the
            Hugging Face architecture, or ``("q_proj", "v_proj")`` for other modules, as in the LoRA paper.
        modules_to_save: layers trained in full beside the adapters, e.g. ``["head"]`` for a fresh classifier
            on an own model. For HF ``*ForSequenceClassification`` models the classifier is kept trainable
            already.
    Returns:
        the ``PeftModel``; the original model is modified in place (frozen, adapters inserted).
    """
    from peft import LoraConfig, get_peft_model

    task_type = None
    if _is_hf(model):
        name = type(model).__name__
        task_type = next((task for suffix, task in _HF_TASKS.items() if name.endswith(suffix)), None)
    else:
        target_modules = list(OWN_TARGETS) if target_modules is None else target_modules
        # A string is a regex for peft; a list of names can be checked here, with a message naming the fix.
        if not isinstance(target_modules, str):
            linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
            if not any(n.split(".")[-1] in target_modules for n in linears):
                raise InputError(
                    f"No nn.Linear named {list(target_modules)} in this model; pass target_modules= from "
                    f"{linears}."
                )
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_modules,
        modules_to_save=list(modules_to_save) if modules_to_save else None,
        task_type=task_type,
    )
    return get_peft_model(model, config)
