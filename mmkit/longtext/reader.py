"""Readers: turn (question, retrieved passages) into the text of an answer, or nothing.

- :class:`GenerativeReader` (default; Qwen2.5-Coder-1.5B-Instruct, or any hub causal LM by id/path): the
  passages and the question go into the model's chat template (a plain prompt for a model without one) with an
  instruction to copy the shortest exact answer from the passages or write ``NOT FOUND``; greedy decoding, KV
  cache, at most ``max_new_tokens`` new tokens, stopping at the first line end. What it writes is only a
  proposal: :func:`mmkit.longtext.spans.locate` maps it back to a span of the document, and text that is not
  there is no answer.
- :class:`ExtractiveReader`: any ``AutoModelForQuestionAnswering`` checkpoint; start/end logits over each
  passage in ``doc_stride`` windows; its best span is the answer (it has no way to say "not there").
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

NOT_FOUND = "NOT FOUND"
INSTRUCTION = (
    "Answer the question using only the passages below. Reply with the shortest exact answer copied from "
    "the passages (a name, number, date, command or short phrase), nothing else. If the passages do not "
    f"contain the answer, reply {NOT_FOUND}."
)
_ALTERNATIVE = "model=None (the embedded reader)"


def _load_model(auto_class, path: str | Path, bits: int | None = None):
    """``auto_class`` from a folder or hub id: float32, or through bitsandbytes when ``bits`` is 8 or 4."""
    from mmkit.hub import load_auto

    if bits is None:
        return load_auto(auto_class, str(path), alternative=_ALTERNATIVE, dtype=torch.float32)
    from mmkit.quant import load_quantized

    return load_quantized(str(path), bits, model_class=auto_class, alternative=_ALTERNATIVE)


def _load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    from mmkit.hub import load_auto

    return load_auto(AutoTokenizer, str(path), alternative=_ALTERNATIVE)


def prompt_text(question: str, passages: list[str]) -> str:
    """The user message: instruction, numbered passages, question."""
    numbered = "\n\n".join(f"[{k}] {text}" for k, text in enumerate(passages, 1))
    return f"{INSTRUCTION}\n\nPassages:\n{numbered}\n\nQuestion: {question}"


class _StopAtLineEnd(StoppingCriteria):
    """Stops once the generated text (after ``prompt_length`` tokens) holds a newline after some other
    text."""

    def __init__(self, tokenizer, prompt_length: int):
        self.tokenizer, self.prompt_length = tokenizer, prompt_length

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        text = self.tokenizer.decode(input_ids[0, self.prompt_length :], skip_special_tokens=True)
        done = "\n" in text.lstrip()
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


class GenerativeReader:
    """Writes a short answer with a causal LM; ``write`` returns (first line of its text, mean token
    probability)."""

    name = "generative"

    def __init__(self, model, tokenizer):
        self.model = model.eval()
        self.tokenizer = tokenizer

    @classmethod
    def from_pretrained(cls, path: str | Path, bits: int | None = None) -> GenerativeReader:
        """A hub id or folder of a causal LM; bits: None (float32), or 8 / 4 for bitsandbytes layers."""
        from transformers import AutoModelForCausalLM

        return cls(_load_model(AutoModelForCausalLM, path, bits), _load_tokenizer(path))

    def encode(self, question: str, passages: list[str]) -> dict[str, torch.Tensor]:
        """{"input_ids", "attention_mask"}: (1, T) through the chat template when the tokenizer has one."""
        message = prompt_text(question, passages)
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": message}],
                add_generation_prompt=True,
                return_tensors="pt",
                return_dict=True,
            )
        return self.tokenizer(message + "\nAnswer:", return_tensors="pt")

    @torch.inference_mode()
    def write(self, question: str, passages: list[str], max_new_tokens: int = 32) -> tuple[str, float]:
        """Greedy answer (first line, stripped) and the geometric-mean probability of its tokens (0..1)."""
        batch = {name: value.to(self.model.device) for name, value in self.encode(question, passages).items()}
        length = batch["input_ids"].shape[1]
        pad = (
            self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else self.tokenizer.eos_token_id
        )
        out = self.model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            use_cache=True,
            pad_token_id=pad,
            output_scores=True,
            return_dict_in_generate=True,
            stopping_criteria=StoppingCriteriaList([_StopAtLineEnd(self.tokenizer, length)]),
        )
        new = out.sequences[0, length:]
        logprobs = [torch.log_softmax(step[0].float(), dim=-1)[token] for step, token in zip(out.scores, new)]
        confidence = float(torch.stack(logprobs).mean().exp()) if logprobs else 0.0
        text = self.tokenizer.decode(new, skip_special_tokens=True).strip()
        return (text.splitlines()[0].strip() if text else ""), confidence


class ExtractiveReader:
    """Any extractive QA model (start/end logits). Reads a passage in windows of ``max_length`` tokens that
    overlap by ``doc_stride`` and returns the best span as a character span of it."""

    name = "extractive"

    def __init__(
        self, model, tokenizer, max_length: int = 384, doc_stride: int = 128, max_answer_tokens: int = 16
    ):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.doc_stride = doc_stride
        self.max_answer_tokens = max_answer_tokens

    @classmethod
    def from_pretrained(cls, path: str | Path, bits: int | None = None, **kwargs) -> ExtractiveReader:
        """bits: None (float32), or 8 / 4 for bitsandbytes layers (:func:`mmkit.quant.load_quantized`)."""
        from transformers import AutoModelForQuestionAnswering

        return cls(_load_model(AutoModelForQuestionAnswering, path, bits), _load_tokenizer(path), **kwargs)

    @torch.inference_mode()
    def best_span(self, question: str, context: str) -> tuple[int, int, float]:
        """(start, end, score) of the best answer inside ``context`` (character offsets), score = start + end
        logit."""
        encoded = self.tokenizer(
            question,
            context,
            truncation="only_second",
            max_length=self.max_length,
            stride=self.doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=True,
            return_tensors="pt",
        )
        offsets = encoded.pop("offset_mapping")
        encoded.pop("overflow_to_sample_mapping", None)
        out = self.model(
            **{
                k: v.to(self.model.device)
                for k, v in encoded.items()
                if k in ("input_ids", "attention_mask", "token_type_ids")
            }
        )
        best = (0, 0, -float("inf"))
        for window in range(offsets.shape[0]):
            in_context = torch.tensor([s == 1 for s in encoded.sequence_ids(window)])
            # (T, T) score of every (start, end) pair; keep start <= end < start + max_answer_tokens inside
            # the context
            pair = out.start_logits[window][:, None] + out.end_logits[window][None, :]
            allowed = torch.triu(torch.ones_like(pair, dtype=torch.bool)) & ~torch.triu(
                torch.ones_like(pair, dtype=torch.bool), diagonal=self.max_answer_tokens
            )
            allowed &= in_context[:, None] & in_context[None, :]
            if not allowed.any():
                continue
            pair = pair.masked_fill(~allowed, -float("inf"))
            flat = int(torch.argmax(pair))
            i, j = divmod(flat, pair.shape[1])
            if float(pair[i, j]) > best[2]:
                best = (int(offsets[window, i, 0]), int(offsets[window, j, 1]), float(pair[i, j]))
        return best
