"""Readers for fast long-text QA tests: crafted reader outputs, and a tiny random causal LM saved like a hub model.

:class:`AnswerKeyReader` stands in for the 1.5B reader where a test is about everything around it (retrieval,
mapping the written answer to offsets, evidence, figures, refusals): it writes the answer key's answer when that
text is in one of the passages it was given, and ``NOT FOUND`` otherwise, as a reader that reads perfectly would.
Retrieval, span mapping and offsets stay real. What the real reader writes is checked by the slow tests and by
bench/longqa.py.
"""

from __future__ import annotations

import torch

from mmkit.longtext.reader import NOT_FOUND


class AnswerKeyReader:
    """``write(question, passages, max_new_tokens)`` -> (the key's answer if a passage holds it, else NOT FOUND, 1.0).

    ``written``: a dict question -> exactly what to write regardless of the passages (crafted outputs: a paraphrase,
    a wrong case, text that is nowhere). ``calls`` records (question, passages) of every call.
    """

    name = "answer-key"

    def __init__(self, key: dict[str, str] | None = None, written: dict[str, str] | None = None):
        self.key, self.written, self.calls = key or {}, written or {}, []

    def write(self, question: str, passages: list[str], max_new_tokens: int = 32) -> tuple[str, float]:
        self.calls.append((question, list(passages)))
        if question in self.written:
            return self.written[question], 1.0
        answer = self.key.get(question)
        if answer is not None and any(answer.lower() in passage.lower() for passage in passages):
            return answer, 1.0
        return NOT_FOUND, 1.0


def word_tokenizer(words: list[str], chat_template: str | None = None):
    """A word-level fast tokenizer over ``words`` (plus [PAD] [UNK] [SEP]); optional Jinja chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[SEP]", *sorted(set(words))])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]",
                                        eos_token="[SEP]")
    if chat_template:
        tokenizer.chat_template = chat_template
    return tokenizer


def save_tiny_causal_lm(path, text: str, architecture: str = "llama", chat_template: str | None = None, seed: int = 0):
    """A random 2-layer Llama or Qwen2 (width 64) and a word tokenizer over ``text`` and the prompt's words, saved
    to ``path`` with save_pretrained (loads by path like a hub model). Returns ``path``."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    from mmkit.longtext.reader import INSTRUCTION

    words = (text + " " + INSTRUCTION + " Passages Question Answer : [ ] 1 2 3 4 5 user assistant")
    tokenizer = word_tokenizer(words.replace(".", " . ").replace("?", " ? ").split(), chat_template)
    torch.manual_seed(seed)
    config_class, model_class = {"llama": (LlamaConfig, LlamaForCausalLM), "qwen2": (Qwen2Config, Qwen2ForCausalLM)}[
        architecture]
    config = config_class(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, eos_token_id=tokenizer.eos_token_id,
                          pad_token_id=tokenizer.pad_token_id, architectures=[model_class.__name__])
    model_class(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


# What the apps' tests ask, and what a perfect reader would write when the passages hold it.
APP_KEY = {
    "Which planet has the Great Red Spot?": "Jupiter",
    "Who built the lighthouse on Wyke Island?": "Elsa Brandt",
    "Who built the lighthouse on Cape Vell?": "Ada Moreno",
    "What is the gate code of the north depot?": "4417",
}


def answer_key_pipeline():
    """``pipeline("long-text-qa")`` with :class:`AnswerKeyReader` over ``APP_KEY`` and BM25 alone: what the apps'
    tests get for a blank model field, in place of the 1.5B embedded reader (tests/apps/answer_key_app.py)."""
    import mmkit

    return mmkit.pipeline("long-text-qa", model=AnswerKeyReader(APP_KEY), encoder=False)


def blank_reader_is_answer_key(get_pipeline):
    """An app's ``get_pipeline(task, model, quantization)`` in which the long-text QA task with a blank model field
    and no quantization gets :func:`answer_key_pipeline` (made once); everything else goes to ``get_pipeline``."""
    made = []

    def patched(task: str, model: str = "", quantization: str = "none"):
        if task == "long-text-qa" and not model.strip() and quantization == "none":
            if not made:
                made.append(answer_key_pipeline())
            return made[0]
        return get_pipeline(task, model, quantization)

    return patched
