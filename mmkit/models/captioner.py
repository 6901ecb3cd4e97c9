"""TinyCaptioner: image cells as memory, a Transformer decoder with cross-attention writes the caption.

::

    image (B, 3, S, S) -> ImageTower (as in TinyClip) -> memory (B, h*w, dim)
    [<en>|<zh>, w1, w2, ...] -> token embedding + positions -> TransformerDecoder(cross-attends memory)
                             -> LayerNorm -> LM head (tied to the embedding) -> next-token logits (B, L, V)

The first token chooses the language: ``<en>`` writes English words, ``<zh>`` Chinese characters. Training is
teacher-forced causal LM cross-entropy (:func:`mmkit.objectives.causal_lm_loss`, see
:meth:`TinyCaptioner.loss`); :meth:`TinyCaptioner.generate` decodes with :func:`mmkit.nn.generation.generate`
(greedy, sampling or beam search, with the KV cache), and can return where the decoder looked while writing
each token: cross-attention maps (steps, h, w) over the image grid.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_model, save_model
from torch import Tensor, nn

from mmkit.encoders import images_to_tensor
from mmkit.errors import InputError
from mmkit.models.clip import ImageTower
from mmkit.nn import KVCache, LearnedPositionalEmbedding, TransformerDecoder, expand_to_batch
from mmkit.nn import generate as _generate

LANGS = ("en", "zh")
_EN_TOKEN = re.compile(r"[^\s,]+|,")


class CaptionTokenizer:
    """Word-level English, character-level Chinese, one vocabulary; saved as ``tokenizer.json``.

    ``encode("red apple", "en")`` -> [<en>, red, apple, <eos>]. Words outside the vocabulary become <unk>.
    The captions are emoji names, a closed and small language, so a vocabulary built from them (about 3,300
    entries) is smaller and more exact than any subword tokenizer.
    """

    specials = ("<pad>", "<unk>", "<eos>", "<en>", "<zh>")
    file_name = "tokenizer.json"

    def __init__(self, vocab: list[str]) -> None:
        if tuple(vocab[: len(self.specials)]) != self.specials:
            raise InputError(f"a caption vocabulary starts with {self.specials}")
        self.vocab = list(vocab)
        self.index = {token: i for i, token in enumerate(self.vocab)}
        self.pad_id, self.unk_id, self.eos_id = 0, 1, 2

    def __len__(self) -> int:
        return len(self.vocab)

    @staticmethod
    def tokens(text: str, lang: str) -> list[str]:
        """'a dog face, a cat' -> ['a', 'dog', 'face', ',', 'a', 'cat']; '红苹果' -> ['红', '苹', '果']."""
        if lang not in LANGS:
            raise InputError(f"lang must be one of {LANGS}, got {lang!r}")
        return _EN_TOKEN.findall(text) if lang == "en" else [c for c in text if not c.isspace()]

    @classmethod
    def build(cls, texts_en: list[str], texts_zh: list[str]) -> CaptionTokenizer:
        """A vocabulary of every token in the given captions, in first-seen order (deterministic)."""
        seen = dict.fromkeys(cls.specials)
        for lang, texts in (("en", texts_en), ("zh", texts_zh)):
            for text in texts:
                seen.update(dict.fromkeys(cls.tokens(text, lang)))
        return cls(list(seen))

    def lang_id(self, lang: str) -> int:
        if lang not in LANGS:
            raise InputError(f"lang must be one of {LANGS}, got {lang!r}")
        return self.index[f"<{lang}>"]

    def encode(self, text: str, lang: str) -> list[int]:
        body = [self.index.get(t, self.unk_id) for t in self.tokens(text, lang)]
        return [self.lang_id(lang), *body, self.eos_id]

    def decode(self, ids: list[int], lang: str) -> str:
        """Token ids (language token and padding allowed) -> text, stopping at <eos>."""
        words = []
        for i in ids:
            if i == self.eos_id:
                break
            if i >= len(self.specials) or i == self.unk_id:
                words.append(self.vocab[i])
        return " ".join(words).replace(" ,", ",") if lang == "en" else "".join(words)

    def batch(self, texts: list[str], langs: list[str]) -> tuple[Tensor, Tensor]:
        """-> input_ids (B, L) right-padded with <pad>, attention_mask (B, L) 1 for real tokens."""
        rows = [self.encode(t, lang) for t, lang in zip(texts, langs)]
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [self.pad_id] * (width - len(r)) for r in rows])
        return ids, (ids != self.pad_id).long()

    def save(self, directory: str | Path) -> None:
        (Path(directory) / self.file_name).write_text(
            json.dumps({"vocab": self.vocab}, ensure_ascii=False) + "\n"
        )

    @classmethod
    def load(cls, directory: str | Path) -> CaptionTokenizer:
        return cls(json.loads((Path(directory) / cls.file_name).read_text())["vocab"])


@dataclass
class TinyCaptionerConfig:
    vocab_size: int = 3156  # len(build_tokenizer()) of mmkit.training.captioner; training sets it
    image_size: int = 32  # the image tower's fields (image_size .. num_layers) are TinyClipConfig's
    channels: tuple[int, ...] = (32, 64, 128)
    dim: int = 256  # width of the image cells (the memory)
    n_heads: int = 4
    num_layers: int = 0  # Transformer layers over the image cells
    d_model: int = 128  # the decoder's width: the LM head (d_model x vocab) is most of a training step
    decoder_heads: int = 4
    decoder_layers: int = 2
    max_len: int = 40
    skin_tones: bool = False  # which mmkit.datasets.emoji glyph list the model was trained on

    @property
    def grid(self) -> int:
        return self.image_size // 2 ** len(self.channels)


class TinyCaptioner(nn.Module):
    """Image -> caption in English or Chinese. ``tokenizer`` is a :class:`CaptionTokenizer`."""

    config_name, weights_name = "config.json", "model.safetensors"

    def __init__(self, config: TinyCaptionerConfig, tokenizer: CaptionTokenizer) -> None:
        super().__init__()
        if config.vocab_size != len(tokenizer):
            raise InputError(
                f"config.vocab_size={config.vocab_size} but the tokenizer has {len(tokenizer)} tokens"
            )
        self.config, self.tokenizer = config, tokenizer
        # The attention maps are read from the decoder after a need_weights pass: apps share one model between
        # request threads, so that pass and the read happen under one lock.
        self._weights_lock = threading.Lock()
        self.tower = ImageTower(config)
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        nn.init.normal_(self.tok_emb.weight, std=0.02)
        self.pos_emb = LearnedPositionalEmbedding(config.max_len, config.d_model)
        self.decoder = TransformerDecoder(
            config.d_model, config.decoder_heads, config.decoder_layers, memory_dim=config.dim
        )
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight  # tied: one vector per token for reading and writing

    def __getstate__(self) -> dict:
        """A copy (``copy.deepcopy``, pickle) gets a lock of its own: a lock cannot be copied."""
        state = super().__getstate__().copy()
        del state["_weights_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._weights_lock = threading.Lock()

    @property
    def device(self) -> torch.device:
        return self.tok_emb.weight.device

    def preprocess(self, images) -> Tensor:
        """PIL image(s) -> (B, 3, S, S) in [-1, 1]."""
        return images_to_tensor(images, self.config.image_size)

    def encode(self, pixel_values: Tensor) -> Tensor:
        """(B, 3, S, S) -> memory (B, h*w, dim)."""
        return self.tower(pixel_values)

    def states(
        self,
        input_ids: Tensor,
        memory: Tensor,
        attention_mask: Tensor | None = None,
        cache: KVCache | None = None,
        need_weights: bool = False,
    ) -> Tensor:
        """input_ids (B, L) (only the new tokens when a cache is given), memory (B, M, dim) -> (B, L,
        d_model)."""
        offset = cache.seq_len if cache is not None else 0
        x = self.pos_emb(self.tok_emb(input_ids), offset=offset)
        padding = None if attention_mask is None else attention_mask == 0
        return self.decoder(x, memory, tgt_key_padding_mask=padding, cache=cache, need_weights=need_weights)

    def decode(self, input_ids: Tensor, memory: Tensor, cache: KVCache | None = None, **kwargs) -> Tensor:
        """Like :meth:`states`, through the LM head: -> next-token logits (B, L, V)."""
        return self.lm_head(self.states(input_ids, memory, cache=cache, **kwargs))

    def hidden(self, pixel_values: Tensor, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Teacher forcing up to the LM head: images (B, 3, S, S), captions (B', L) -> states (B', L,
        d_model).

        B' = k * B scores k captions per image (e.g. English and Chinese) for the price of one image encoding.
        """
        memory = expand_to_batch(self.encode(pixel_values), input_ids.shape[0])
        return self.states(input_ids, memory, attention_mask)

    def forward(
        self, pixel_values: Tensor, input_ids: Tensor, attention_mask: Tensor | None = None
    ) -> Tensor:
        """Teacher forcing: images (B, 3, S, S), captions (B', L) -> next-token logits (B', L, V)."""
        return self.lm_head(self.hidden(pixel_values, input_ids, attention_mask))

    def loss(self, pixel_values: Tensor, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """:func:`mmkit.objectives.causal_lm_loss` of :meth:`forward`, computed without the logits of padding.

        The LM head is the largest matrix product of a step; captions of 3 to 20 tokens padded to the longest
        in the batch would spend most of it on positions the loss ignores, so only scored positions reach it.
        """
        h = self.hidden(pixel_values, input_ids, attention_mask)[:, :-1]  # position t predicts token t + 1
        scored = attention_mask[:, 1:].bool()
        logits = self.lm_head(h[scored])  # (N_scored, V)
        return F.cross_entropy(logits.float(), input_ids[:, 1:][scored])

    @torch.no_grad()
    def generate(
        self,
        images,
        lang: str = "en",
        max_new_tokens: int = 20,
        num_beams: int = 1,
        do_sample: bool = False,
        return_attention: bool = False,
        use_cache: bool = True,
        **sampling,
    ):
        """PIL image(s) -> list of captions (greedy by default; ``num_beams`` > 1 for beam search;
        ``do_sample`` with ``temperature`` / ``top_k`` / ``top_p`` / ``generator`` for sampling).

        return_attention=True returns ``(captions, maps)``: ``maps[i]`` (steps, h, w) is the cross-attention
        of the last decoder layer, averaged over heads, while writing each token of
        ``tokenizer.tokens(captions[i], lang)`` (each map sums to 1 over the h x w image grid).
        """
        was_training = self.training
        self.eval()
        pixel_values = self.preprocess(images).to(self.device)
        memory = self.encode(pixel_values)
        budget = self.config.max_len - 1
        if not 1 <= max_new_tokens <= budget:
            raise InputError(f"max_new_tokens must be between 1 and {budget}, got {max_new_tokens}")
        prompt = torch.full((len(memory), 1), self.tokenizer.lang_id(lang), device=self.device)

        def step(ids: Tensor, cache: KVCache | None) -> Tensor:
            return self.decode(ids, expand_to_batch(memory, ids.shape[0]), cache=cache)

        ids = _generate(
            step,
            prompt,
            max_new_tokens,
            do_sample=do_sample,
            num_beams=num_beams,
            eos_token_id=self.tokenizer.eos_id,
            use_cache=use_cache,
            **sampling,
        )
        captions = [self.tokenizer.decode(row[1:].tolist(), lang) for row in ids]
        self.train(was_training)
        if not return_attention:
            return captions
        return captions, self._attention_maps(memory, ids, captions, lang)

    def _attention_maps(self, memory: Tensor, ids: Tensor, captions: list[str], lang: str) -> list[Tensor]:
        """Re-read the finished captions once with need_weights: one teacher-forced pass, no cache
        involved."""
        with self._weights_lock:
            self.decode(ids, memory, need_weights=True)
            weights = self.decoder.layers[-1].last_cross_attn_weights.mean(1)  # (B, L, M)
        g = self.config.grid
        # Position t of the input predicts token t + 1, so token j of the caption was written at position j.
        return [
            weights[i, : len(self.tokenizer.tokens(c, lang))].reshape(-1, g, g).cpu()
            for i, c in enumerate(captions)
        ]

    def save_pretrained(self, directory: str | Path) -> None:
        """Write config.json, model.safetensors and tokenizer.json."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / self.config_name).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        save_model(self, str(directory / self.weights_name))
        self.tokenizer.save(directory)

    @classmethod
    def from_pretrained(
        cls, directory: str | Path, map_location: str | torch.device = "cpu"
    ) -> TinyCaptioner:
        """Load a folder written by :meth:`save_pretrained` (local only; nothing is downloaded)."""
        directory = Path(directory)
        needed = (cls.config_name, cls.weights_name, CaptionTokenizer.file_name)
        if not all((directory / name).is_file() for name in needed):
            raise InputError(
                f"{directory} must hold {', '.join(needed)}; train one with "
                "`python -m mmkit.training.recipes tiny-captioner` or save one with "
                "TinyCaptioner.save_pretrained"
            )
        raw = json.loads((directory / cls.config_name).read_text())
        known = {f.name for f in fields(TinyCaptionerConfig)}
        config = TinyCaptionerConfig(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in known}
        )
        model = cls(config, CaptionTokenizer.load(directory))
        load_model(model, str(directory / cls.weights_name), device=str(map_location))
        return model.eval()
