"""The Transformer written out in PyTorch, checked against ``torch.nn`` in ``tests/nn``.

- :mod:`~mmkit.nn.attention`: scaled dot-product attention, multi-head attention, the key/value cache;
- :mod:`~mmkit.nn.layers`: feed-forward network, encoder and decoder layers;
- :mod:`~mmkit.nn.embeddings`: sinusoidal / learned positions, modality embedding;
- :mod:`~mmkit.nn.transformer`: encoder and decoder stacks, a causal language model;
- :mod:`~mmkit.nn.generation`: greedy, sampling and beam-search decoding for any ``step_fn(ids, cache)``.
"""

from mmkit.nn.attention import KVCache, MultiHeadAttention, causal_mask, scaled_dot_product_attention
from mmkit.nn.embeddings import LearnedPositionalEmbedding, ModalityEmbedding, SinusoidalPositionalEncoding
from mmkit.nn.generation import expand_to_batch, generate, next_token, top_k_filter, top_p_filter
from mmkit.nn.layers import FeedForward, TransformerDecoderLayer, TransformerEncoderLayer
from mmkit.nn.transformer import CausalLM, CausalLMConfig, TransformerDecoder, TransformerEncoder

__all__ = [
    "CausalLM",
    "CausalLMConfig",
    "FeedForward",
    "KVCache",
    "LearnedPositionalEmbedding",
    "ModalityEmbedding",
    "MultiHeadAttention",
    "SinusoidalPositionalEncoding",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "causal_mask",
    "expand_to_batch",
    "generate",
    "next_token",
    "scaled_dot_product_attention",
    "top_k_filter",
    "top_p_filter",
]
