"""Stacks of layers: an encoder, a decoder with cross-attention, and a decoder-only causal language model.

``CausalLM`` is GPT in miniature: token embedding + learned positions -> pre-norm causal blocks -> final
LayerNorm -> LM head (optionally tied to the token embedding). It saves and loads as ``config.json`` +
``model.safetensors``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model
from torch import Tensor, nn

from mmkit.errors import InputError
from mmkit.nn.attention import KVCache
from mmkit.nn.embeddings import LearnedPositionalEmbedding
from mmkit.nn.generation import generate as _generate
from mmkit.nn.layers import TransformerDecoderLayer, TransformerEncoderLayer


class TransformerEncoder(nn.Module):
    """num_layers encoder layers (+ a final LayerNorm when pre-norm). (B, N, D) -> (B, N, D)."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        num_layers: int,
        dim_feedforward: int | None = None,
        dropout: float = 0.0,
        activation: str = "gelu",
        norm_first: bool = True,
    ) -> None:
        super().__init__()
        ff = dim_feedforward or 4 * d_model
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(d_model, n_heads, ff, dropout, activation, norm_first)
            for _ in range(num_layers)
        )
        # Pre-norm leaves the residual stream un-normalised after the last block.
        self.norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()

    def forward(
        self,
        x: Tensor,
        key_padding_mask: Tensor | None = None,
        attn_mask: Tensor | None = None,
        is_causal: bool = False,
        cache: KVCache | None = None,
        need_weights: bool = False,
    ) -> Tensor:
        """key_padding_mask (B, N) True = padding; is_causal + cache make it a decoder-only stack."""
        for layer in self.layers:
            x = layer(
                x, key_padding_mask, attn_mask, is_causal=is_causal, need_weights=need_weights, cache=cache
            )
        return self.norm(x)


class TransformerDecoder(nn.Module):
    """num_layers decoder layers (causal self-attention + cross-attention over memory). (B, L, D) -> (B, L,
    D)."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        num_layers: int,
        dim_feedforward: int | None = None,
        dropout: float = 0.0,
        activation: str = "gelu",
        norm_first: bool = True,
        memory_dim: int | None = None,
    ) -> None:
        super().__init__()
        ff = dim_feedforward or 4 * d_model
        self.layers = nn.ModuleList(
            TransformerDecoderLayer(
                d_model, n_heads, ff, dropout, activation, norm_first, memory_dim=memory_dim
            )
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        cache: KVCache | None = None,
        need_weights: bool = False,
    ) -> Tensor:
        """x (B, L, D) embedded targets, memory (B, M, memory_dim).

        With a cache, x holds only the new positions (embed them at offset ``cache.seq_len``) and
        tgt_key_padding_mask, if any, covers cached + new positions. need_weights keeps every layer's
        cross-attention weights (B, H, L, M) on ``layer.last_cross_attn_weights``.
        """
        for layer in self.layers:
            x = layer(
                x,
                memory,
                tgt_key_padding_mask,
                memory_key_padding_mask,
                tgt_is_causal=True,
                cache=cache,
                need_weights=need_weights,
            )
        return self.norm(x)

    @property
    def cross_attn_weights(self) -> list[Tensor | None]:
        """The cross-attention weights (B, H, L, M) of each layer from the last need_weights=True call."""
        return [layer.last_cross_attn_weights for layer in self.layers]


@dataclass
class CausalLMConfig:
    vocab_size: int = 1000
    d_model: int = 256
    n_heads: int = 4
    num_layers: int = 4
    max_len: int = 512
    dropout: float = 0.0
    tie_embeddings: bool = True
    dim_feedforward: int | None = None  # 4 * d_model when None


class CausalLM(nn.Module):
    """Decoder-only language model: ids (B, L) -> next-token logits (B, L, V)."""

    config_name, weights_name = "config.json", "model.safetensors"

    def __init__(self, config: CausalLMConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = LearnedPositionalEmbedding(config.max_len, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = TransformerEncoder(
            config.d_model,
            config.n_heads,
            config.num_layers,
            config.dim_feedforward,
            config.dropout,
            "gelu",
            True,
        )
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.apply(self._init_weights)
        if config.tie_embeddings:
            self.lm_head.weight = self.tok_emb.weight

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # GPT-2's init: small normal weights keep the initial logits near uniform.
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, cache: KVCache | None = None
    ) -> Tensor:
        """input_ids (B, L) -> logits (B, L, V).

        attention_mask (B, L_total), 1 = token, 0 = padding (the Hugging Face convention); with a cache it
        covers cached + new positions. Positions count real tokens only, so a left-padded row starts at
        position 0. With a cache, input_ids holds only the new tokens.
        """
        past = cache.seq_len if cache is not None else 0
        x = self.tok_emb(input_ids)
        padding = None
        if attention_mask is None:
            x = self.pos_emb(x, offset=past)
        else:
            if attention_mask.shape != (input_ids.shape[0], past + input_ids.shape[1]):
                raise InputError(
                    "attention_mask must be (B, cached + new) = "
                    f"{(input_ids.shape[0], past + input_ids.shape[1])}, got {tuple(attention_mask.shape)}"
                )
            positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, past:]
            x = self.pos_emb(x, positions=positions)
            padding = attention_mask == 0
        x = self.blocks(self.drop(x), key_padding_mask=padding, is_causal=True, cache=cache)
        return self.lm_head(x)

    @torch.no_grad()
    def generate(
        self,
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
        attention_mask: Tensor | None = None,
        length_penalty: float = 1.0,
    ) -> Tensor:
        """Continue input_ids (B, L) -> (B, L + n), n <= max_new_tokens; see
        :func:`mmkit.nn.generation.generate`.

        attention_mask (B, L) marks left padding (0) for prompts of different lengths.
        """
        if input_ids.shape[1] + max_new_tokens > self.config.max_len:
            raise InputError(
                f"prompt ({input_ids.shape[1]}) + max_new_tokens ({max_new_tokens}) exceeds "
                f"max_len={self.config.max_len}; generate fewer tokens"
            )
        prompt_mask = None
        if attention_mask is not None:
            prompt_mask = (
                attention_mask.repeat_interleave(num_beams, dim=0) if num_beams > 1 else attention_mask
            )

        def step(ids: Tensor, cache: KVCache | None) -> Tensor:
            mask = None
            if prompt_mask is not None:
                total = ids.shape[1] + (cache.seq_len if cache is not None else 0)
                grown = prompt_mask.new_ones(prompt_mask.shape[0], total - prompt_mask.shape[1])
                mask = torch.cat([prompt_mask, grown], dim=1)
            return self(ids, attention_mask=mask, cache=cache)

        return _generate(
            step,
            input_ids,
            max_new_tokens,
            do_sample=do_sample,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            num_beams=num_beams,
            eos_token_id=eos_token_id,
            use_cache=use_cache,
            generator=generator,
            length_penalty=length_penalty,
        )

    def save_pretrained(self, directory: str | Path) -> None:
        """Write ``config.json`` and ``model.safetensors`` (tied weights stored once) into directory."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / self.config_name).write_text(json.dumps(asdict(self.config), indent=2))
        save_model(self, str(directory / self.weights_name))

    @classmethod
    def from_pretrained(cls, directory: str | Path, map_location: str | torch.device = "cpu") -> CausalLM:
        """Rebuild a model written by :meth:`save_pretrained` (a local directory; nothing is downloaded)."""
        directory = Path(directory)
        config_path, weights_path = directory / cls.config_name, directory / cls.weights_name
        if not config_path.is_file() or not weights_path.is_file():
            raise InputError(
                f"{directory} must hold {cls.config_name} and {cls.weights_name}; create it with "
                f"CausalLM.save_pretrained(directory)"
            )
        raw = json.loads(config_path.read_text())
        known = {f.name for f in fields(CausalLMConfig)}
        model = cls(CausalLMConfig(**{key: value for key, value in raw.items() if key in known}))
        load_model(model, str(weights_path))
        return model.to(map_location).eval()
