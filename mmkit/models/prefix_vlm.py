"""PrefixVLM: image tokens as a prefix of a decoder-only language model (the LLaVA / GPT-4V-style design).

::

    image (B, 3, S, S) -> image encoder -> cells (B, N, D_img)
                       -> projector (Linear, or Linear-GELU-Linear) -> image tokens (B, N, d_model)
    [<en>|<zh>, w1, ..., <eos>] -> the LM's token embedding -> (B, L, d_model)
    cat(image tokens, text embeddings) (B, N + L, d_model)
                       -> the LM's positions, causal blocks and LM head -> next-token logits (B, N + L, V)

:class:`~mmkit.models.captioner.TinyCaptioner` cross-attends to the image from every decoder layer; here the
language model is an unmodified :class:`~mmkit.nn.CausalLM` and the image reaches it only as N extra "words"
at the start of the sequence, so the same LM, its generation loop and its KV cache serve text and image +
text. Training is next-token cross-entropy on the caption only: the targets of image positions, of the prompt
(the language token) and of padding are -100. ``train`` chooses what learns: the projector alone, the
projector and LoRA adapters in the LM, or the projector and the whole LM; ``freeze_encoder`` keeps the image
encoder fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mmkit.encoders import EncoderOutput, images_to_tensor
from mmkit.errors import InputError
from mmkit.models.captioner import CaptionTokenizer
from mmkit.nn import CausalLM, KVCache, expand_to_batch
from mmkit.nn import generate as _generate
from mmkit.objectives import IGNORE_INDEX, causal_lm_loss
from mmkit.training.lora import apply_lora

TRAIN_MODES = ("projector", "projector+lm", "projector+lora")
PROJECTORS = ("linear", "mlp")


def make_projector(in_dim: int, out_dim: int, kind: str = "mlp") -> nn.Module:
    """(B, N, in_dim) -> (B, N, out_dim): one Linear, or LLaVA-1.5's two Linear layers with a GELU between."""
    if kind == "linear":
        return nn.Linear(in_dim, out_dim)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))
    raise InputError(f"projector must be one of {PROJECTORS}, got {kind!r}")


@dataclass
class PrefixVLMOutput:
    """logits (B, N + L, V) over image and text positions; loss: scalar, or None without labels."""

    logits: Tensor
    loss: Tensor | None = None


class PrefixVLM(nn.Module):
    """Image encoder -> projector -> image tokens prepended to a :class:`~mmkit.nn.CausalLM`.

    Args:
        encoder: pixel_values (B, 3, S, S) -> cells (B, N, encoder_dim), as a Tensor or an
            :class:`~mmkit.encoders.EncoderOutput` (its ``tokens``): e.g.
            :class:`~mmkit.encoders.PatchEncoder` or the trained tiny-clip
            :class:`~mmkit.models.clip.ImageTower`.
        lm: the language model; its vocabulary is ``tokenizer``'s and ``max_len`` covers N + caption length.
        tokenizer: a :class:`~mmkit.models.captioner.CaptionTokenizer`; the prompt is its ``<en>``/``<zh>``
        token.
        encoder_dim, image_size: width of the encoder's cells and the side S of the images it takes.
        projector: "linear" or "mlp" (see :func:`make_projector`).
        freeze_encoder: no gradient reaches the encoder, which also stays in eval mode.
        train: "projector" (the LM is frozen), "projector+lora" (LoRA on the LM's q/v projections through
            peft, the LM itself frozen) or "projector+lm" (the whole LM learns).
    """

    def __init__(
        self,
        encoder: nn.Module,
        lm: CausalLM,
        tokenizer: CaptionTokenizer,
        encoder_dim: int,
        image_size: int,
        projector: str = "mlp",
        freeze_encoder: bool = True,
        train: str = "projector",
        lora_rank: int = 8,
    ) -> None:
        super().__init__()
        if train not in TRAIN_MODES:
            raise InputError(f"train must be one of {TRAIN_MODES}, got {train!r}")
        if lm.config.vocab_size != len(tokenizer):
            raise InputError(f"the LM has {lm.config.vocab_size} tokens but the tokenizer {len(tokenizer)}")
        self.encoder, self.lm, self.tokenizer = encoder, lm, tokenizer
        self.image_size, self.freeze_encoder, self.train_mode = image_size, freeze_encoder, train
        self.projector = make_projector(encoder_dim, lm.config.d_model, projector)
        self.encoder.requires_grad_(not freeze_encoder)
        if train == "projector":
            self.lm.requires_grad_(False)
        elif train == "projector+lora":
            # peft inserts the adapters into self.lm in place and freezes everything else in it.
            apply_lora(self.lm, r=lora_rank, alpha=2 * lora_rank, target_modules=("q_proj", "v_proj"))
        self.train()

    def train(self, mode: bool = True) -> PrefixVLM:
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()
        return self

    @property
    def device(self) -> torch.device:
        return next(self.projector.parameters()).device

    def preprocess(self, images) -> Tensor:
        """PIL image(s) -> pixel_values (B, 3, S, S) in [-1, 1]."""
        return images_to_tensor(images, self.image_size)

    def image_tokens(self, pixel_values: Tensor) -> Tensor:
        """pixel_values (B, 3, S, S) -> image tokens (B, N, d_model), in the LM's embedding space."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_encoder):
            cells = self.encoder(pixel_values)
        if isinstance(cells, EncoderOutput):
            cells = cells.tokens
        return self.projector(cells)

    def encode_captions(self, texts: list[str], lang: str = "en") -> tuple[Tensor, Tensor]:
        """Captions -> input_ids (B, L) = [<lang>, words..., <eos>] right-padded with <pad>, and labels (B,
        L): the same ids with the prompt (<lang>) and the padding set to -100, so only the caption is
        learned."""
        input_ids, mask = self.tokenizer.batch(texts, [lang] * len(texts))
        labels = input_ids.masked_fill(mask == 0, IGNORE_INDEX)
        labels[:, 0] = IGNORE_INDEX
        return input_ids, labels

    def lm_forward(self, embeds: Tensor, cache: KVCache | None = None) -> Tensor:
        """The LM after its token embedding: embeds (B, T, d_model) -> logits (B, T, V). With a cache, embeds
        holds only the new positions, placed after the ``cache.seq_len`` already seen."""
        offset = cache.seq_len if cache is not None else 0
        if offset + embeds.shape[1] > self.lm.config.max_len:
            raise InputError(
                f"{offset + embeds.shape[1]} positions (image + text) exceed the LM's "
                f"max_len={self.lm.config.max_len}"
            )
        x = self.lm.drop(self.lm.pos_emb(embeds, offset=offset))
        # Right padding only: a pad comes after every real token, so causal attention alone keeps it unseen.
        return self.lm.lm_head(self.lm.blocks(x, is_causal=True, cache=cache))

    def forward(
        self, pixel_values: Tensor, input_ids: Tensor, labels: Tensor | None = None
    ) -> PrefixVLMOutput:
        """pixel_values (B, 3, S, S), input_ids (B, L), labels (B, L) with -100 where not scored (see
        :meth:`encode_captions`) -> logits (B, N + L, V) and, given labels, the mean next-token loss."""
        prefix = self.image_tokens(pixel_values)
        logits = self.lm_forward(torch.cat([prefix, self.lm.tok_emb(input_ids)], dim=1))
        if labels is None:
            return PrefixVLMOutput(logits)
        return PrefixVLMOutput(logits, self.loss_from_logits(logits, labels))

    @staticmethod
    def loss_from_logits(logits: Tensor, labels: Tensor) -> Tensor:
        """logits (B, N + L, V), labels (B, L) -> scalar: the image positions' targets are -100 as well."""
        n_image = logits.shape[1] - labels.shape[1]
        ignored = labels.new_full((labels.shape[0], n_image), IGNORE_INDEX)
        return causal_lm_loss(logits, torch.cat([ignored, labels], dim=1))

    @torch.no_grad()
    def generate(
        self, images, lang: str = "en", max_new_tokens: int = 16, use_cache: bool = True
    ) -> list[str]:
        """PIL image(s) -> greedy captions. The prompt is the image tokens + <lang>; with ``use_cache`` they
        are run through the LM once and each later step feeds only the newest token (B, 1)."""
        was_training = self.training
        self.eval()
        pixel_values = self.preprocess(images).to(self.device)
        prefix = self.image_tokens(pixel_values)  # (B, N, d_model)
        budget = self.lm.config.max_len - prefix.shape[1] - 1
        if not 1 <= max_new_tokens <= budget:
            raise InputError(f"max_new_tokens must be between 1 and {budget}, got {max_new_tokens}")
        prompt = torch.full((len(prefix), 1), self.tokenizer.lang_id(lang), device=self.device)

        def step(ids: Tensor, cache: KVCache | None) -> Tensor:
            embeds = self.lm.tok_emb(ids)
            if cache is None or cache.seq_len == 0:  # the whole sequence: put the image in front
                embeds = torch.cat([expand_to_batch(prefix, ids.shape[0]), embeds], dim=1)
            return self.lm_forward(embeds, cache)

        ids = _generate(step, prompt, max_new_tokens, eos_token_id=self.tokenizer.eos_id, use_cache=use_cache)
        self.train(was_training)
        return [self.tokenizer.decode(row[1:].tolist(), lang) for row in ids]
