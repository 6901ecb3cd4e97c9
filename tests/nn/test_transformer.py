"""CausalLM and the shared decoding loop: the cache changes speed, never the numbers or the tokens."""

import itertools

import pytest
import torch
from torch import nn

from mmkit.errors import InputError
from mmkit.nn import (
    CausalLM,
    CausalLMConfig,
    KVCache,
    LearnedPositionalEmbedding,
    TransformerDecoder,
    expand_to_batch,
    generate,
    top_k_filter,
    top_p_filter,
)

ATOL = 1e-5


def tiny_lm(vocab=40, seed=0, tie_embeddings=False, **kw) -> CausalLM:
    torch.manual_seed(seed)
    cfg = CausalLMConfig(
        vocab_size=vocab, d_model=32, n_heads=4, num_layers=2, max_len=64, tie_embeddings=tie_embeddings, **kw
    )
    model = CausalLM(cfg).eval()
    if not tie_embeddings:
        # GPT-2 init gives near-uniform logits, where greedy and beam choices sit on near-ties.
        with torch.no_grad():
            model.lm_head.weight.normal_(std=0.5)
    return model


def prompt(b=2, length=5, vocab=40, seed=1):
    return torch.randint(0, vocab, (b, length), generator=torch.Generator().manual_seed(seed))


def test_causal_lm_shapes_and_causality():
    model = tiny_lm()
    ids = prompt(length=8)
    logits = model(ids)
    assert logits.shape == (2, 8, 40)
    changed = ids.clone()
    changed[:, 6] = (changed[:, 6] + 1) % 40
    assert (model(changed)[:, :6] - logits[:, :6]).abs().max() == 0
    assert (model(changed)[:, 6:] - logits[:, 6:]).abs().max() > 1e-4


def test_cached_logits_equal_full_recomputation():
    model = tiny_lm()
    ids = prompt(length=10)
    full = model(ids)
    cache = KVCache()
    parts = [model(ids[:, :4], cache=cache)] + [model(ids[:, t : t + 1], cache=cache) for t in range(4, 10)]
    assert cache.seq_len == 10
    assert (torch.cat(parts, dim=1) - full).abs().max() <= ATOL


@pytest.mark.parametrize("num_beams", [1, 3])
@pytest.mark.parametrize("eos", [None, 2])
def test_cached_generation_equals_uncached(num_beams, eos):
    model = tiny_lm()
    ids = prompt(b=3)
    cached = model.generate(ids, 12, num_beams=num_beams, eos_token_id=eos)
    plain = model.generate(ids, 12, num_beams=num_beams, eos_token_id=eos, use_cache=False)
    assert torch.equal(cached, plain)
    assert torch.equal(cached[:, :5], ids)


def test_greedy_is_argmax_of_full_forward():
    model = tiny_lm()
    ids = prompt()
    out = model.generate(ids, 6)
    assert out.shape == (2, 11)
    for t in range(5, 11):
        assert torch.equal(out[:, t], model(out[:, :t])[:, -1].argmax(-1))


def test_beam_search_with_enough_beams_is_exhaustive():
    """With K >= V^(n-1) beams nothing is pruned, so beam search must return the most likely continuation."""
    vocab, n_new = 4, 3
    model = tiny_lm(vocab=vocab, seed=3)
    ids = prompt(b=1, length=3, vocab=vocab, seed=4)
    conts = torch.tensor(list(itertools.product(range(vocab), repeat=n_new)))  # (64, 3)
    seqs = torch.cat([ids.expand(len(conts), -1), conts], dim=1)
    logp = model(seqs).log_softmax(-1)[:, 2:-1]  # predictions for the 3 new positions
    totals = logp.gather(-1, conts[..., None]).squeeze(-1).sum(-1)
    best = seqs[totals.argmax()]
    assert torch.equal(model.generate(ids, n_new, num_beams=vocab ** (n_new - 1))[0], best)
    # Greedy need not find it; beam search is at least as good.
    greedy = model.generate(ids, n_new)[0]
    assert totals.max() >= totals[(seqs == greedy).all(-1)].item()


def test_eos_pads_finished_rows_and_stops_early():
    model = tiny_lm()
    ids = prompt()
    free = model.generate(ids, 8)
    eos = int(free[0, 7])  # row 0 emits this token at its third step
    out = model.generate(ids, 8, eos_token_id=eos)
    first = (out[0, 5:] == eos).nonzero()[0].item() + 5
    assert torch.equal(out[0, :first], free[0, :first])
    assert (out[0, first:] == eos).all()
    # Stopping early: every row finished makes the output shorter than max_new_tokens.
    one = model.generate(ids[:1], 8, eos_token_id=eos)
    assert one.shape[1] == first + 1


def test_sampling_is_reproducible_and_top_k_1_is_greedy():
    model = tiny_lm()
    ids = prompt()

    def sample(seed, **kw):
        return model.generate(ids, 10, do_sample=True, generator=torch.Generator().manual_seed(seed), **kw)

    assert torch.equal(sample(0), sample(0))
    assert not torch.equal(sample(0, temperature=2.0), sample(1, temperature=2.0))
    assert torch.equal(sample(5, top_k=1), model.generate(ids, 10))
    assert torch.equal(sample(5, top_p=1e-6), model.generate(ids, 10))
    assert torch.equal(
        sample(3, top_k=5, top_p=0.9),
        model.generate(
            ids,
            10,
            do_sample=True,
            top_k=5,
            top_p=0.9,
            use_cache=False,
            generator=torch.Generator().manual_seed(3),
        ),
    )


def test_top_k_and_top_p_filters():
    logits = torch.log(torch.tensor([[0.5, 0.2, 0.15, 0.1, 0.05]]))
    assert torch.isinf(top_k_filter(logits, 2)).tolist() == [[False, False, True, True, True]]
    # 0.5 < 0.6, 0.5 + 0.2 reaches it: the nucleus is the first two tokens.
    assert torch.isinf(top_p_filter(logits, 0.6)).tolist() == [[False, False, True, True, True]]
    assert torch.isinf(top_p_filter(logits, 0.5)).tolist() == [[False, True, True, True, True]]
    shuffled = logits[:, [3, 0, 4, 2, 1]]
    assert torch.isinf(top_p_filter(shuffled, 0.6)).tolist() == [[True, False, True, True, False]]


def test_left_padded_batch_generates_like_each_prompt_alone():
    model = tiny_lm()
    a, b = prompt(b=1, length=6, seed=5), prompt(b=1, length=3, seed=6)
    batch = torch.cat([a, torch.cat([torch.zeros(1, 3, dtype=torch.long), b], 1)])
    mask = torch.tensor([[1] * 6, [0, 0, 0, 1, 1, 1]])
    for beams in (1, 2):
        out = model.generate(batch, 7, attention_mask=mask, num_beams=beams)
        assert torch.equal(out[0], model.generate(a, 7, num_beams=beams)[0])
        assert torch.equal(out[1, 3:], model.generate(b, 7, num_beams=beams)[0])
    logits = model(batch, attention_mask=mask)
    assert (logits[1, 3:] - model(b)[0]).abs().max() <= ATOL


def test_save_and_from_pretrained_round_trip(tmp_path):
    model = tiny_lm(tie_embeddings=True)
    model.save_pretrained(tmp_path / "lm")
    assert {p.name for p in (tmp_path / "lm").iterdir()} == {"config.json", "model.safetensors"}
    loaded = CausalLM.from_pretrained(tmp_path / "lm")
    assert loaded.config == model.config
    assert loaded.lm_head.weight is loaded.tok_emb.weight
    ids = prompt()
    assert torch.equal(loaded(ids), model(ids))
    untied = tiny_lm(tie_embeddings=False)
    untied.save_pretrained(tmp_path / "untied")
    assert torch.equal(CausalLM.from_pretrained(tmp_path / "untied")(ids), untied(ids))
    with pytest.raises(InputError, match="save_pretrained"):
        CausalLM.from_pretrained(tmp_path / "missing")


def test_causal_lm_gradients_reach_every_parameter():
    model = tiny_lm(dropout=0.1).train()
    ids = prompt(length=8)
    logits = model(ids[:, :-1])
    nn.functional.cross_entropy(logits.reshape(-1, 40), ids[:, 1:].reshape(-1)).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_generate_rejects_too_long():
    with pytest.raises(InputError, match="max_len"):
        tiny_lm().generate(prompt(length=60), 10)
    with pytest.raises(InputError, match="beam"):
        tiny_lm().generate(prompt(), 3, num_beams=2, do_sample=True)


class TinyCaptioner(nn.Module):
    """The captioner's shape: image memory (B, M, 12) -> TransformerDecoder -> token logits."""

    def __init__(self, vocab=30, d=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.pos = LearnedPositionalEmbedding(64, d)
        self.decoder = TransformerDecoder(d, 4, 2, memory_dim=12)
        self.head = nn.Linear(d, vocab)

    def step_fn(self, memory):
        def step(ids, cache):
            offset = cache.seq_len if cache is not None else 0
            x = self.pos(self.emb(ids), offset=offset)
            return self.head(self.decoder(x, expand_to_batch(memory, ids.shape[0]), cache=cache))

        return step


@pytest.mark.parametrize("num_beams", [1, 3])
def test_generate_with_memory_cached_equals_uncached(num_beams):
    torch.manual_seed(5)
    model = TinyCaptioner().eval()
    memory = torch.randn(2, 6, 12)
    bos = torch.zeros(2, 1, dtype=torch.long)
    with torch.no_grad():
        cached = generate(model.step_fn(memory), bos, 10, num_beams=num_beams, eos_token_id=16)
        plain = generate(
            model.step_fn(memory), bos, 10, num_beams=num_beams, eos_token_id=16, use_cache=False
        )
    assert torch.equal(cached, plain)
    # Each example depends on its own image only.
    with torch.no_grad():
        alone = generate(model.step_fn(memory[1:]), bos[1:], 10, num_beams=num_beams, eos_token_id=16)
    assert torch.equal(cached[1, : alone.shape[1]], alone[0])
