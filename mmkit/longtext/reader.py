"""Readers: turn (question, evidence text, candidate spans) into the answer span.

Three kinds plug in, all returning spans of the document, never free text:

- :class:`CausalLMReader` (default; SmolLM2-135M-Instruct for English, Gemma-3-270M for Chinese, or any hub causal
  LM by id/path): among candidate spans whose prior is close to the best, picks by the model's calibrated
  log-likelihood of ``Answer: <span><end>`` after the evidence and question. A 135M model asked to *write* an answer repeats the question or copies the wrong line
  (17% concise-correct in our measurement); asked to *choose* among spans of the evidence, it only has to rank.
- :class:`ExtractiveReader`: any ``AutoModelForQuestionAnswering`` checkpoint; start/end logits over the evidence
  in ``doc_stride`` windows, best span up to ``max_answer_tokens``.
- :class:`LexicalReader`: no model; the span prior of :mod:`mmkit.longtext.spans` alone. Fast tests use it.
"""

from pathlib import Path

import numpy as np
import torch

from mmkit.longtext.spans import Candidate

# The prior is in "prior units" (about 0..4), the LM's evidence in nats; see CausalLMReader.choose. Chosen on the
# English real-document questions (bench/RESULTS.md "Long-text QA" says how, and why its figures are optimistic).
PRIOR_WEIGHT = 1.0
LM_WEIGHT = 0.1
CALIBRATE = True
PRIOR_MARGIN = 1.0


_ALTERNATIVE = 'model=None (the embedded readers) or reader="lexical"'


def _load_model(auto_class, path: str | Path, bits: int | None = None):
    """``auto_class`` from a folder or hub id: float32, or through bitsandbytes when ``bits`` is 8 or 4."""
    from mmkit.hub import load_auto

    if bits is None:
        return load_auto(auto_class, str(path), alternative=_ALTERNATIVE, dtype=torch.float32)
    from mmkit.quant import load_quantized

    return load_quantized(str(path), bits, model_class=auto_class, alternative=_ALTERNATIVE)


def _load_tokenizer(auto_class, path: str | Path):
    from mmkit.hub import load_auto

    return load_auto(auto_class, str(path), alternative=_ALTERNATIVE)


def _nested(inner: Candidate, outer: Candidate) -> bool:
    """Whether ``inner`` lies strictly inside ``outer`` (same text positions, shorter)."""
    return outer.start <= inner.start and inner.end <= outer.end and (inner.start, inner.end) != (outer.start, outer.end)


class LexicalReader:
    """Picks the candidate with the best prior; ``scores`` are the priors themselves."""

    name = "lexical"

    def choose(self, question: str, context: str, spans: list[Candidate]) -> tuple[int, np.ndarray]:
        scores = np.array([span.prior for span in spans], dtype=np.float32)
        return int(np.argmax(scores)), scores


class CausalLMReader:
    """Ranks candidate spans by ``prior_weight * prior + log P(span + end | prompt)`` under a causal LM.

    The prompt is the chat template when the tokenizer has one (instruct models), else a plain
    "Context/Question/Answer:" prompt (base models). The prompt runs once; its KV cache is repeated for a batch of
    all candidates, so scoring 16 candidates costs one prompt pass plus 16 short continuations.
    """

    name = "causal-lm"

    def __init__(self, model, tokenizer, prior_weight: float = PRIOR_WEIGHT, lm_weight: float = LM_WEIGHT,
                 calibrate: bool = CALIBRATE, max_context_tokens: int = 384):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.prior_weight = prior_weight
        self.lm_weight = lm_weight
        self.calibrate = calibrate
        self.max_context_tokens = max_context_tokens
        self.chat = bool(getattr(tokenizer, "chat_template", None))

    @classmethod
    def from_pretrained(cls, path: str | Path, bits: int | None = None, **kwargs) -> "CausalLMReader":
        """bits: None (float32), or 8 / 4 for bitsandbytes layers (:func:`mmkit.quant.load_quantized`)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        return cls(_load_model(AutoModelForCausalLM, path, bits), _load_tokenizer(AutoTokenizer, path), **kwargs)

    def _prompt(self, question: str, context: str) -> tuple[str, str]:
        """(prompt text, end-of-answer text) for this model."""
        ids = self.tokenizer(context, add_special_tokens=False).input_ids
        if len(ids) > self.max_context_tokens:
            context = self.tokenizer.decode(ids[: self.max_context_tokens])
        if self.chat:
            messages = [
                {"role": "system", "content": "Answer with a short phrase copied from the context."},
                {"role": "user", "content": f"Context: {context}\n\nQuestion: {question}"},
            ]
            prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            end = self.tokenizer.eos_token or "\n"
            return prompt + "Answer: ", end
        return f"Context: {context}\n\nQuestion: {question}\nAnswer:", "\n"

    @torch.inference_mode()
    def log_likelihoods(self, question: str, context: str, answers: list[str]) -> np.ndarray:
        """(len(answers),) summed log-probability of each answer followed by the end marker, in nats."""
        prompt, end = self._prompt(question, context)
        device = self.model.device  # a quantized model may have been placed on a GPU by accelerate
        prompt_ids = self.tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids.to(device)
        space = "" if self.chat else " "
        answer_ids = [self.tokenizer(space + answer + end, add_special_tokens=False).input_ids for answer in answers]
        out = self.model(input_ids=prompt_ids, use_cache=True)
        first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)  # (V,) for each answer's first token
        cache = out.past_key_values
        cache.batch_repeat_interleave(len(answers))
        width = max(len(ids) for ids in answer_ids)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        batch = torch.full((len(answers), width), pad, dtype=torch.long)
        mask = torch.zeros((len(answers), width), dtype=torch.long)
        for row, ids in enumerate(answer_ids):
            batch[row, : len(ids)] = torch.tensor(ids)
            mask[row, : len(ids)] = 1
        attention = torch.cat([torch.ones((len(answers), prompt_ids.shape[1]), dtype=torch.long), mask], dim=1)
        logits = self.model(input_ids=batch.to(device), attention_mask=attention.to(device),
                            past_key_values=cache).logits  # (B, W, V)
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        scores = np.zeros(len(answers), dtype=np.float32)
        for row, ids in enumerate(answer_ids):
            total = first[ids[0]].item()
            for k in range(1, len(ids)):
                total += logprobs[row, k - 1, ids[k]].item()
            scores[row] = total
        return scores

    def choose(self, question: str, context: str, spans: list[Candidate]) -> tuple[int, np.ndarray]:
        """Index of the best span and every span's score.

        Only spans whose prior is within ``PRIOR_MARGIN`` of the best are read by the model (the others score
        -inf): the model breaks near-ties, it does not overrule a clear prior, because its likelihood is noisiest
        exactly where the prior is surest (long spans that restate the question). A shortlisted span scores
        prior_weight * prior + lm_weight * evidence, where evidence = log P(span | context, question) -
        log P(span | context, no question) when ``calibrate`` (removing the model's taste for short, frequent
        strings such as "2" or "1995"), else the first term alone. A span strictly inside another shortlisted span
        with a better prior is not read at all (see the comment in the code).
        """
        priors = np.array([span.prior for span in spans], dtype=np.float32)
        shortlist = [i for i in range(len(spans)) if priors[i] >= priors.max() - PRIOR_MARGIN]
        # A span nested inside a shortlisted span with a better prior is not offered: the prior has already weighed
        # the extra words as new, answer-typed ones, and the LM's taste for short strings would pick the truncation
        # ("七点" inside "七点半", "静宜" inside "何静宜", "295" inside "295米").
        shortlist = [i for i in shortlist if not any(_nested(spans[i], spans[k]) and priors[k] > priors[i]
                                                     for k in shortlist)]
        scores = np.full(len(spans), -np.inf, dtype=np.float32)
        if len(shortlist) == 1:
            scores[shortlist[0]] = priors[shortlist[0]]
            return shortlist[0], scores
        texts = [spans[i].text for i in shortlist]
        evidence = self.log_likelihoods(question, context, texts)
        if self.calibrate:
            evidence = evidence - self.log_likelihoods("", context, texts)
        scores[shortlist] = self.lm_weight * evidence + self.prior_weight * priors[shortlist]
        return int(np.argmax(scores)), scores


class ExtractiveReader:
    """Any extractive QA model (start/end logits). Reads ``context`` in windows of ``max_length`` tokens that
    overlap by ``doc_stride`` and returns the best span as a character span of ``context``."""

    name = "extractive"

    def __init__(self, model, tokenizer, max_length: int = 384, doc_stride: int = 128, max_answer_tokens: int = 16):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.doc_stride = doc_stride
        self.max_answer_tokens = max_answer_tokens

    @classmethod
    def from_pretrained(cls, path: str | Path, bits: int | None = None, **kwargs) -> "ExtractiveReader":
        """bits: None (float32), or 8 / 4 for bitsandbytes layers (:func:`mmkit.quant.load_quantized`)."""
        from transformers import AutoModelForQuestionAnswering, AutoTokenizer

        return cls(_load_model(AutoModelForQuestionAnswering, path, bits), _load_tokenizer(AutoTokenizer, path),
                   **kwargs)

    @torch.inference_mode()
    def best_span(self, question: str, context: str) -> tuple[int, int, float]:
        """(start, end, score) of the best answer inside ``context`` (character offsets), score = start + end logit."""
        encoded = self.tokenizer(question, context, truncation="only_second", max_length=self.max_length,
                                 stride=self.doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True,
                                 padding=True, return_tensors="pt")
        offsets = encoded.pop("offset_mapping")
        encoded.pop("overflow_to_sample_mapping", None)
        out = self.model(**{k: v.to(self.model.device) for k, v in encoded.items()
                            if k in ("input_ids", "attention_mask", "token_type_ids")})
        best = (0, 0, -float("inf"))
        for window in range(offsets.shape[0]):
            in_context = torch.tensor([s == 1 for s in encoded.sequence_ids(window)])
            # (T, T) score of every (start, end) pair; keep start <= end < start + max_answer_tokens inside the context
            pair = out.start_logits[window][:, None] + out.end_logits[window][None, :]
            allowed = torch.triu(torch.ones_like(pair, dtype=torch.bool)) & ~torch.triu(
                torch.ones_like(pair, dtype=torch.bool), diagonal=self.max_answer_tokens)
            allowed &= in_context[:, None] & in_context[None, :]
            if not allowed.any():
                continue
            pair = pair.masked_fill(~allowed, -float("inf"))
            flat = int(torch.argmax(pair))
            i, j = divmod(flat, pair.shape[1])
            if float(pair[i, j]) > best[2]:
                best = (int(offsets[window, i, 0]), int(offsets[window, j, 1]), float(pair[i, j]))
        return best
