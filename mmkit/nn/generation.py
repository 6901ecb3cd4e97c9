"""Decoding strategies for any autoregressive model: greedy, sampling (temperature, top-k, top-p) and beam
search.

The model is reached through one function, so a language model and a captioner (image memory + decoder) share
the
exact same loop::

    def step_fn(ids: LongTensor, cache: KVCache | None) -> Tensor:   # logits (B, L, V)
        ...

- With ``use_cache=True`` the loop creates a :class:`~mmkit.nn.KVCache` and calls ``step_fn`` first with the
  whole prompt, then with only the newest token (B, 1); the step function forwards ``cache`` to its decoder.
- With ``use_cache=False`` it calls ``step_fn(all_ids_so_far, None)`` every step.
- Only the logits of the last position are used.
- With ``num_beams=K`` the batch seen by ``step_fn`` has B*K rows, the K beams of example b being rows
  b*K .. b*K+K-1. Per-example context such as an image memory (B, M, D) should be expanded with
  :func:`expand_to_batch` ``(memory, ids.shape[0])``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from mmkit.errors import InputError
from mmkit.nn.attention import KVCache

StepFn = Callable[[Tensor, KVCache | None], Tensor]


def expand_to_batch(x: Tensor, batch: int) -> Tensor:
    """Repeat each row of x (B, ...) so it has ``batch`` rows (a multiple of B), copies of a row adjacent."""
    if batch % x.shape[0]:
        raise InputError(f"cannot expand a batch of {x.shape[0]} to {batch} rows")
    return x.repeat_interleave(batch // x.shape[0], dim=0) if batch != x.shape[0] else x


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """Set every logit below the k-th largest of its row to -inf. (B, V) -> (B, V)."""
    kth = torch.topk(logits, min(k, logits.shape[-1]), dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """Nucleus filter: keep the smallest set of most likely tokens whose probability reaches p. (B, V) -> (B,
    V)."""
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    # Drop a token when the more likely ones already reach p; the most likely token is always kept.
    drop_sorted = probs.cumsum(dim=-1) - probs >= p
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def next_token(
    logits: Tensor,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Pick one token per row from logits (B, V): argmax, or a sample from the filtered, tempered softmax. ->
    (B,)."""
    if not do_sample:
        return logits.argmax(dim=-1)
    if temperature <= 0:
        raise InputError(
            f"temperature must be > 0 when sampling, got {temperature}; use do_sample=False for greedy"
        )
    logits = logits.float() / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator).squeeze(-1)


def _step(step_fn: StepFn, ids: Tensor, new: Tensor, cache: KVCache | None) -> Tensor:
    """Logits (B, V) of the next position: feed only the new tokens when caching, everything otherwise."""
    return step_fn(new if cache is not None else ids, cache)[:, -1]


def generate(
    step_fn: StepFn,
    input_ids: Tensor,
    max_new_tokens: int,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    num_beams: int = 1,
    eos_token_id: int | None = None,
    use_cache: bool = True,
    generator: torch.Generator | None = None,
    length_penalty: float = 1.0,
) -> Tensor:
    """Extend ``input_ids`` (B, L) by up to ``max_new_tokens`` tokens. -> (B, L + n), n <= max_new_tokens.

    A row that has produced ``eos_token_id`` is padded with it; the loop stops once every row has. Beam search
    (``num_beams > 1``, deterministic) ranks finished hypotheses by sum of log-probs /
    n_generated**length_penalty.
    """
    if max_new_tokens < 1:
        return input_ids
    if num_beams > 1:
        if do_sample:
            raise InputError("beam search here is deterministic: use num_beams=1 with do_sample=True")
        return _beam_search(
            step_fn, input_ids, max_new_tokens, num_beams, eos_token_id, use_cache, length_penalty
        )
    cache = KVCache() if use_cache else None
    ids = input_ids
    logits = _step(step_fn, ids, ids, cache)
    finished = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    for t in range(max_new_tokens):
        tok = next_token(logits, do_sample, temperature, top_k, top_p, generator)
        if eos_token_id is not None:
            tok = tok.masked_fill(finished, eos_token_id)
            finished |= tok == eos_token_id
        ids = torch.cat([ids, tok[:, None]], dim=1)
        if t == max_new_tokens - 1 or bool(finished.all()):
            break
        logits = _step(step_fn, ids, tok[:, None], cache)
    return ids


def _beam_search(
    step_fn: StepFn,
    input_ids: Tensor,
    max_new_tokens: int,
    k: int,
    eos_token_id: int | None,
    use_cache: bool,
    length_penalty: float,
) -> Tensor:
    """Keep the k best partial sequences per example; collect those ending in EOS as finished hypotheses."""
    b, device = input_ids.shape[0], input_ids.device
    ids = expand_to_batch(input_ids, b * k)  # (B*K, L)
    cache = KVCache() if use_cache else None
    # All beams start identical: let only the first one expand, or the k beams would be k copies.
    scores = torch.full((b, k), float("-inf"), device=device)
    scores[:, 0] = 0.0
    finished: list[list[tuple[float, Tensor]]] = [[] for _ in range(b)]
    done = [False] * b
    logits = _step(step_fn, ids, ids, cache)
    for t in range(max_new_tokens):
        n_gen = t + 1
        logp = F.log_softmax(logits.float(), dim=-1)  # (B*K, V)
        vocab = logp.shape[-1]
        cand = (scores[:, :, None] + logp.view(b, k, vocab)).view(b, k * vocab)
        # 2k candidates guarantee k survivors that are not EOS.
        top_scores, top_idx = cand.topk(min(2 * k, k * vocab), dim=1)
        top_scores, top_beam, top_tok = (
            top_scores.tolist(),
            (top_idx // vocab).tolist(),
            (top_idx % vocab).tolist(),
        )
        rows, toks, new_scores = [], [], []
        for i in range(b):
            candidates = zip(top_scores[i], top_beam[i], top_tok[i])
            kept = _keep_beams(
                candidates,
                ids[i * k : (i + 1) * k],
                done[i],
                finished[i],
                eos_token_id,
                n_gen**length_penalty,
            )
            for s, beam, tok in kept:
                rows.append(i * k + beam)
                toks.append(tok)
                new_scores.append(s)
            if not done[i] and len(finished[i]) >= k:
                finished[i] = sorted(finished[i], key=lambda h: h[0], reverse=True)[:k]
                # Running scores only fall as tokens are added, so the best running beam bounds what is left.
                done[i] = max(s for s, _, _ in kept) / n_gen**length_penalty <= finished[i][-1][0]
        index = torch.tensor(rows, device=device)
        ids = torch.cat([ids.index_select(0, index), torch.tensor(toks, device=device)[:, None]], dim=1)
        scores = torch.tensor(new_scores, device=device).view(b, k)
        if cache is not None:
            cache.reorder(index)
        if t == max_new_tokens - 1 or all(done):
            break
        logits = _step(step_fn, ids, ids[:, -1:], cache)
    return _best_hypotheses(finished, done, scores, ids.view(b, k, -1), n_gen**length_penalty, eos_token_id)


def _keep_beams(candidates, beams: Tensor, done: bool, finished: list, eos_token_id: int | None, norm: float):
    """The k continuations one example keeps, as (score, beam, token), from its ranked (score, beam, token)
    candidates; ``beams`` (K, L) are its current sequences. A candidate ending in EOS among the top k is
    appended to ``finished`` as (score / norm, sequence (L + 1,)) instead. A done example keeps k
    placeholders."""
    k, kept = beams.shape[0], []
    for rank, (s, beam, tok) in enumerate(candidates):
        if len(kept) == k:
            break
        if done:
            kept.append((0.0, 0, tok))
        elif eos_token_id is not None and tok == eos_token_id:
            if rank < k and s > float("-inf"):
                finished.append((s / norm, torch.cat([beams[beam], beams.new_tensor([tok])])))
        else:
            kept.append((s, beam, tok))
    return kept


def _best_hypotheses(
    finished: list, done: list[bool], scores: Tensor, beams: Tensor, norm: float, eos_token_id: int | None
) -> Tensor:
    """The best sequence of each example, from its finished hypotheses and, unless it is done, its running
    beams (scores (B, K), beams (B, K, L), ``norm`` the length normaliser); padded with EOS (or 0).
    -> (B, L')."""
    best = []
    for i, hyps in enumerate(finished):
        if not done[i]:
            hyps = hyps + [(float(scores[i, j]) / norm, beams[i, j]) for j in range(beams.shape[1])]
        best.append(max(hyps, key=lambda h: h[0])[1])
    pad = eos_token_id if eos_token_id is not None else 0
    width = max(len(seq) for seq in best)
    return torch.stack([F.pad(seq, (0, width - len(seq)), value=pad) for seq in best])
