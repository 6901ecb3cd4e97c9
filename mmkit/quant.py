"""8-bit and 4-bit weights through bitsandbytes, for our own models and Hugging Face ones, and what a model
weighs.

- :func:`quantize` swaps the ``nn.Linear`` layers of any module, in place, for bitsandbytes ``Linear8bitLt``
  (LLM.int8(): int8 weights with one fp32 scale per output row) or ``Linear4bit`` (NF4 / FP4 codes, two per
  byte, with one absmax per block of 64 weights, itself 8-bit when ``double_quant``); ``keep_8bit`` puts a few
  named layers of a 4-bit model in 8-bit instead (the ones whose 4-bit error costs the most, see
  bench/quant_sensitivity.py).
- :func:`load_quantized` loads a Hugging Face model already quantized, through ``BitsAndBytesConfig`` and
  accelerate's ``device_map`` (a model larger than one GPU is spread over several).
- :func:`footprint` counts the bytes a model holds, packed weights and their quantization state included;
  :func:`quantized_weight_bytes` compares the quantized layers with their fp16 size; :func:`describe` sums it
  up.

Only layers whose type is exactly ``nn.Linear`` are replaced, and called as modules. Subclasses are kept:
torch's ``nn.MultiheadAttention`` passes ``out_proj.weight`` to its functional form (its ``out_proj`` is a
Linear subclass), and so are the Linear layers of torch's ``nn.TransformerEncoderLayer``, whose fused eval
path (``torch._transformer_encoder_layer_fwd``) reads their weights directly. mmkit's own layers
(``mmkit.nn``) call every projection as a module, so all of theirs are quantized. A Linear whose weight is
shared with another module (an LM head tied to the token embedding) is kept too: quantizing it would store a
second copy instead of saving memory.

bitsandbytes >= 0.48 runs both layer types on the CPU as well as on CUDA
(``bitsandbytes.supported_torch_devices`` lists where); :func:`quantize` quantizes each layer on the device
its weight is on.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import torch
from torch import nn

from mmkit.errors import InputError, MissingDependencyError
from mmkit.hub import load_auto

BITS = (8, 4)
QUANT_TYPES = ("nf4", "fp4")
# Outlier threshold of LLM.int8(): activation columns above it are multiplied in 16-bit (transformers'
# default).
INT8_THRESHOLD = 6.0
# bitsandbytes' fused CPU 4-bit kernel (AVX512-BF16, eval mode) repacks weights in groups of 32 output rows.
_CPU_PACK_ROWS = 32


class _DropMessage(logging.Filter):
    """Drop one bitsandbytes log message (matched on its format string), keep everything else."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


# Two bitsandbytes warnings that tell a user nothing to act on: the first is logged by every 8-bit layer at
# every forward of a float32/bfloat16 model (LLM.int8() always quantizes activations from float16, by design);
# the second, at import on AVX512-BF16 CPUs, asks for the `kernels` package, which would download a kernel
# from the Hugging Face Hub (the built-in CPU kernel is used instead, and works offline).
logging.getLogger("bitsandbytes.autograd._functions").addFilter(
    _DropMessage("MatMul8bitLt: inputs will be cast")
)
logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(
    _DropMessage("Failed to load CPU gemm_4bit_forward")
)


def _import_bnb():
    """bitsandbytes, or MissingDependencyError naming the install."""
    try:
        import bitsandbytes
    except ImportError as err:
        raise MissingDependencyError(
            "8-bit and 4-bit quantization need bitsandbytes; run `pip install bitsandbytes`"
        ) from err
    return bitsandbytes


def _bnb_layer_types() -> tuple[type, ...]:
    """(Linear8bitLt, Linear4bit), or () when bitsandbytes is not installed (then no layer can be one)."""
    try:
        import bitsandbytes
    except ImportError:
        return ()
    return bitsandbytes.nn.Linear8bitLt, bitsandbytes.nn.Linear4bit


def _check_options(bits: int, quant_type: str, compute_dtype: Any, double_quant: bool) -> None:
    if bits not in BITS:
        raise InputError(f"bits must be 8 or 4, got {bits!r}")
    if bits == 4 and quant_type not in QUANT_TYPES:
        raise InputError(f"quant_type must be 'nf4' or 'fp4' for 4-bit, got {quant_type!r}")
    if bits == 8 and (double_quant or compute_dtype is not None):
        raise InputError(
            "double_quant and compute_dtype are 4-bit options; 8-bit (LLM.int8()) computes in float16. "
            "Pass bits=4 to use them, or leave them out"
        )


def _check_device(bnb, device: torch.device) -> None:
    """InputError unless bitsandbytes can quantize and run on ``device``."""
    if device.type == "meta":
        raise InputError(
            "the model's weights are on the 'meta' device (not loaded); load them before quantizing"
        )
    # Versions before the multi-backend rewrite do not have the attribute and run on CUDA only.
    supported = getattr(bnb, "supported_torch_devices", {"cuda"})
    if device.type not in supported:
        raise InputError(
            f"bitsandbytes {bnb.__version__} cannot quantize on {device.type!r}; it supports "
            f"{sorted(supported)}. Move the model to one of those first (e.g. model.to('cpu')), or upgrade "
            "bitsandbytes (`pip install -U bitsandbytes`)"
        )


def _child_slots(model: nn.Module) -> list[tuple[str, nn.Module, str, nn.Module]]:
    """(qualified name, parent, attribute, child) for every child, a module reachable by two paths listed
    twice."""
    return [
        (f"{prefix}.{attr}" if prefix else attr, parent, attr, child)
        for prefix, parent in model.named_modules(remove_duplicate=False)
        for attr, child in parent.named_children()
    ]


def _tied_weights(model: nn.Module) -> set[int]:
    """ids of parameters owned by more than one module (e.g. an LM head tied to the token embedding)."""
    owners: dict[int, set[int]] = {}
    for module in model.modules():
        for param in module.parameters(recurse=False):
            owners.setdefault(id(param), set()).add(id(module))
    return {pid for pid, mods in owners.items() if len(mods) > 1}


def _use_generic_cpu_path_if_needed(layer: nn.Module) -> None:
    """Send layers the fused CPU 4-bit kernel cannot take through bitsandbytes' dequantize-then-matmul path.

    bitsandbytes 0.50's CPU kernel, used in eval mode on CPUs with AVX512-BF16, asserts when out_features is
    not a multiple of 32 and fails when in_features is not a multiple of the block size (64); such layers (a
    10-class head, a 1000-word LM head) would raise at the first forward otherwise.
    """
    blocksize = getattr(layer.weight, "blocksize", 64)
    if layer.out_features % _CPU_PACK_ROWS or layer.in_features % blocksize:
        layer.support_avx512bf16_for_cpu = False


def _quantized_linear(
    bnb, linear: nn.Linear, bits: int, quant_type: str, compute_dtype, double_quant: bool, threshold: float
) -> nn.Module:
    """A bitsandbytes layer holding ``linear``'s weights, quantized on the weight's device; the bias is
    shared."""
    weight = linear.weight.detach()
    has_bias = linear.bias is not None
    with torch.device("meta"):  # the shell only: no second float copy, no random init of a large matrix
        if bits == 8:
            layer = bnb.nn.Linear8bitLt(
                linear.in_features,
                linear.out_features,
                bias=has_bias,
                has_fp16_weights=False,
                threshold=threshold,
            )
        else:
            layer = bnb.nn.Linear4bit(
                linear.in_features,
                linear.out_features,
                bias=has_bias,
                compute_dtype=compute_dtype,
                compress_statistics=double_quant,
                quant_type=quant_type,
            )
    if bits == 8:
        # What Int8Params does on .to(device), but on any device: Int8Params quantizes only when moving off
        # the CPU.
        codes, scales, _ = bnb.functional.int8_vectorwise_quant(weight.to(torch.float16))
        layer.weight = bnb.nn.Int8Params(
            codes, requires_grad=False, has_fp16_weights=False, CB=codes, SCB=scales
        )
    else:
        layer.weight = bnb.nn.Params4bit(
            weight, requires_grad=False, compress_statistics=double_quant, quant_type=quant_type, module=layer
        ).to(weight.device)  # Params4bit quantizes on its first move to a real device
        _use_generic_cpu_path_if_needed(layer)
    if has_bias:
        layer.bias = linear.bias
    layer.train(linear.training)
    return layer


def quantize(
    model: nn.Module,
    bits: int = 8,
    quant_type: str = "nf4",
    compute_dtype: torch.dtype | None = None,
    double_quant: bool = False,
    skip: tuple[str, ...] | list[str] | str = (),
    threshold: float = INT8_THRESHOLD,
    keep_8bit: tuple[str, ...] | list[str] | str = (),
) -> nn.Module:
    """Replace ``model``'s ``nn.Linear`` layers by bitsandbytes 8-bit or 4-bit layers, in place; returns
    model.

    Args:
        bits: 8 (``Linear8bitLt``, LLM.int8()) or 4 (``Linear4bit``).
        quant_type: 4-bit code, "nf4" (normal-float, for normally distributed weights) or "fp4".
        compute_dtype: 4-bit only: the dtype of the matmul; None uses the input's dtype.
        double_quant: 4-bit only: quantize the per-block fp32 absmax to 8 bits as well (0.37 bit per weight
        saved).
        skip: layers whose qualified name contains any of these strings stay in full precision (output heads).
        threshold: 8-bit layers: activation magnitude above which a column is multiplied in 16-bit (0 turns
        off).
        keep_8bit: 4-bit only: layers whose qualified name contains any of these strings get 8-bit instead,
            for the few layers whose 4-bit error costs the most accuracy (``bench/quant_sensitivity.py`` ranks
            them).

    Input and output shapes are unchanged: (..., in_features) -> (..., out_features). Tied and subclassed
    Linear layers are kept (see the module docstring). Raises MissingDependencyError without bitsandbytes,
    InputError for bad options, a model that is already quantized, or weights on a device bitsandbytes does
    not support.
    """
    bnb = _import_bnb()
    _check_options(bits, quant_type, compute_dtype, double_quant)
    skip = (skip,) if isinstance(skip, str) else tuple(skip)
    keep_8bit = (keep_8bit,) if isinstance(keep_8bit, str) else tuple(keep_8bit)
    if keep_8bit and bits != 4:
        raise InputError(
            "keep_8bit names layers to keep in 8-bit inside a 4-bit model; pass bits=4 or leave it out"
        )
    if any(isinstance(m, _bnb_layer_types()) for m in model.modules()):
        raise InputError(
            f"{type(model).__name__} is already quantized ({describe(model)}); load it again in "
            "full precision to quantize it differently"
        )
    tied = _tied_weights(model)
    done: dict[int, nn.Module] = {}  # a module shared by two paths becomes one quantized module
    for name, parent, attr, child in _child_slots(model):
        if type(child) is not nn.Linear or id(child.weight) in tied or any(s in name for s in skip):
            continue
        # its fused eval path reads linear1/2.weight itself
        if isinstance(parent, nn.TransformerEncoderLayer):
            continue
        if id(child) not in done:
            _check_device(bnb, child.weight.device)
            layer_bits = 8 if any(s in name for s in keep_8bit) else bits
            done[id(child)] = _quantized_linear(
                bnb, child, layer_bits, quant_type, compute_dtype, double_quant, threshold
            )
        setattr(parent, attr, done[id(child)])
    return model


def load_quantized(
    model_id_or_path: str,
    bits: int,
    quant_type: str = "nf4",
    compute_dtype: torch.dtype | str | None = None,
    double_quant: bool = False,
    model_class: Any = None,
    device_map: str | dict | None = "auto",
    skip: list[str] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """A Hugging Face model loaded with 8-bit or 4-bit weights (``BitsAndBytesConfig``), by hub id or folder.

    model_class: a ``transformers`` class with ``from_pretrained``; None takes the architecture named in the
    model's config (e.g. ``LlamaForCausalLM``), else ``AutoModel``. device_map: accelerate's placement, "auto"
    fills the GPUs in order and spreads a model too large for one; on a machine without GPU everything goes to
    the CPU.
    skip: module names kept in full precision (``llm_int8_skip_modules``); None keeps transformers' choice
    (the output head). compute_dtype for 4-bit defaults to float32, as in transformers. Other keywords go to
    ``from_pretrained``. Errors as in :func:`mmkit.hub.load_auto` (a model that cannot be found names the
    cause).
    """
    _import_bnb()
    _check_options(bits, quant_type, compute_dtype, double_quant)
    import transformers

    options = (
        {"load_in_8bit": True}
        if bits == 8
        else {
            "load_in_4bit": True,
            "bnb_4bit_quant_type": quant_type,
            "bnb_4bit_compute_dtype": compute_dtype,
            "bnb_4bit_use_double_quant": double_quant,
        }
    )
    if skip is not None:
        options["llm_int8_skip_modules"] = list(skip)
    config = transformers.BitsAndBytesConfig(**options)
    if model_class is None:
        model_class = _architecture_class(model_id_or_path)
    try:
        model = load_auto(
            model_class, model_id_or_path, quantization_config=config, device_map=device_map, **kwargs
        )
    except RuntimeError as err:  # transformers' check that bitsandbytes supports a device that is present
        raise InputError(f"bitsandbytes cannot run here: {err}") from err
    for module in model.modules():
        if isinstance(module, _bnb_layer_types()[1]):
            _use_generic_cpu_path_if_needed(module)
    return model


def _architecture_class(model_id_or_path: str):
    """The transformers class named first in the config's ``architectures``, else ``AutoModel``."""
    transformers = importlib.import_module("transformers")
    config = load_auto(transformers.AutoConfig, model_id_or_path)
    for name in getattr(config, "architectures", None) or []:
        if hasattr(transformers, name):
            return getattr(transformers, name)
    return transformers.AutoModel


def _quant_state_tensors(module: nn.Module) -> list[torch.Tensor]:
    """The tensors a bitsandbytes layer keeps beside its weight: 8-bit row scales (SCB); 4-bit absmax, code
    and, with double quant, the nested absmax and code (``QuantState.state2``)."""
    weight = getattr(module, "weight", None)
    found = [getattr(weight, "SCB", None), getattr(getattr(module, "state", None), "SCB", None)]
    state = getattr(weight, "quant_state", None)
    while state is not None:
        found += [state.absmax, state.code, state.offset]
        state = getattr(state, "state2", None)
    return [t for t in found if isinstance(t, torch.Tensor)]


def footprint(model: nn.Module) -> dict:
    """Bytes held by ``model``: {"parameters_bytes", "buffers_bytes", "total_bytes", "quant_state_bytes",
    "by_dtype": {dtype name: bytes}}.

    Each tensor is counted once (tied weights, an 8-bit layer's weight and its ``state.CB`` share memory).
    Packed 4-bit weights count as the uint8 bytes they are (two weights per byte); their quantization state
    and the 8-bit row scales are part of ``parameters_bytes`` and are also reported alone as
    ``quant_state_bytes``, so ``total_bytes - quant_state_bytes`` equals transformers'
    ``get_memory_footprint()``, which does not see them. The state is read as it is now: on the CPU,
    bitsandbytes re-lays out a 4-bit weight at its first eval forward (absmax becomes bfloat16, double
    quantization is undone).
    """
    seen: set[tuple] = set()
    totals = {"parameters_bytes": 0, "buffers_bytes": 0, "quant_state_bytes": 0}
    by_dtype: dict[str, int] = {}

    def add(tensor: torch.Tensor, key: str) -> None:
        ident = (
            (tensor.device, tensor.data_ptr(), tensor.nelement(), tensor.dtype)
            if tensor.data_ptr()
            else id(tensor)
        )
        if ident in seen:
            return
        seen.add(ident)
        size = tensor.nelement() * tensor.element_size()
        totals[key] += size
        name = str(tensor.dtype).removeprefix("torch.")
        by_dtype[name] = by_dtype.get(name, 0) + size

    for module in model.modules():
        for param in module.parameters(recurse=False):
            add(param, "parameters_bytes")
        for tensor in _quant_state_tensors(module):
            add(tensor, "quant_state_bytes")
        for buffer in module.buffers(recurse=False):
            add(buffer, "buffers_bytes")
    parameters = totals["parameters_bytes"] + totals["quant_state_bytes"]
    return {
        "parameters_bytes": parameters,
        "buffers_bytes": totals["buffers_bytes"],
        "total_bytes": parameters + totals["buffers_bytes"],
        "quant_state_bytes": totals["quant_state_bytes"],
        "by_dtype": dict(sorted(by_dtype.items())),
    }


def quantized_weight_bytes(model: nn.Module) -> dict:
    """The quantized layers' weights against their fp16 size: {"layers", "bytes", "fp16_bytes", "ratio"}.

    bytes: packed weights + quantization state (biases excluded, they stay in float); fp16_bytes: 2 bytes per
    weight. Expected ratio: 8-bit 0.5 + 2 / in_features (an fp32 scale per row); NF4 0.25 + 2 / 64 (an fp32
    absmax per 64 weights), about 0.258 with double quant.
    """
    layers = [m for m in model.modules() if isinstance(m, _bnb_layer_types())]
    size = sum(footprint(m)["parameters_bytes"] - _bias_bytes(m) for m in layers)
    fp16 = sum(2 * m.in_features * m.out_features for m in layers)
    return {
        "layers": len(layers),
        "bytes": size,
        "fp16_bytes": fp16,
        "ratio": size / fp16 if fp16 else float("nan"),
    }


def _bias_bytes(module: nn.Module) -> int:
    bias = getattr(module, "bias", None)
    return 0 if bias is None else bias.nelement() * bias.element_size()


def describe(model: nn.Module) -> str:
    """One line for a pipeline's repr, e.g. "8-bit: 36 Linear layers quantized, 2 kept" or
    "4-bit nf4 (double quant): 36 Linear layers quantized, 0 kept"; "not quantized: 38 Linear layers"."""
    types = _bnb_layer_types()
    quantized = [m for m in model.modules() if isinstance(m, types)]
    kept = sum(isinstance(m, nn.Linear) and not isinstance(m, types) for m in model.modules())
    if not quantized:
        return f"not quantized: {kept} Linear layers"
    kinds = []
    for m in quantized:
        if isinstance(m, types[0]):
            kind = "8-bit"
        else:
            state = m.weight.quant_state
            nested = getattr(state, "nested", False) or getattr(state, "original_nested", False)
            kind = f"4-bit {m.weight.quant_type}" + (" (double quant)" if nested else "")
        if kind not in kinds:
            kinds.append(kind)
    return f"{' + '.join(kinds)}: {len(quantized)} Linear layers quantized, {kept} kept"
