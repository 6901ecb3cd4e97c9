"""A word-level tokenizer for lesson-sized vocabularies, built with Hugging Face ``tokenizers``.

The generated datasets have a closed word list (``ShapesColorsDataset`` uses a dozen words); a 30,000-entry
sub-word vocabulary would only make the embedding table larger. :func:`word_tokenizer` builds a
``transformers.PreTrainedTokenizerFast`` over the words of the training texts, so every encoder that takes a
tokenizer (``TextTransformerEncoder``) and every objective that needs special tokens (``mask_tokens``) accepts
it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from mmkit.errors import InputError

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"


def word_tokenizer(
    texts: Iterable[str], min_count: int = 1, lowercase: bool = False, bert_specials: bool = False
):
    """A fast tokenizer whose vocabulary is the words of ``texts``.

    Words are split as ``tokenizers.pre_tokenizers.Whitespace`` splits them (runs of letters/digits, runs of
    punctuation); a word enters the vocabulary when it occurs at least ``min_count`` times. Ids: ``[PAD]`` =
    0, ``[UNK]`` = 1, then (with ``bert_specials``) ``[CLS]`` = 2, ``[SEP]`` = 3, ``[MASK]`` = 4, then the
    words in sorted order, so the same texts always give the same ids. With ``bert_specials`` every encoded
    text is wrapped as ``[CLS] ... [SEP]``. ``lowercase`` lower-cases texts both when counting and when
    encoding.

    Returns a ``transformers.PreTrainedTokenizerFast``: ``tok(["a b", "c"], padding=True,
    return_tensors="pt")`` gives ``input_ids`` and ``attention_mask`` of shape (2, longest), padded with id 0.
    """
    from tokenizers import Tokenizer, normalizers
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    if isinstance(texts, str):
        raise InputError("word_tokenizer takes a list of texts, not one string: word_tokenizer([text]).")
    if min_count < 1:
        raise InputError(f"min_count must be at least 1, got {min_count}.")
    split = Whitespace()
    counts = Counter(
        word for text in texts for word, _ in split.pre_tokenize_str(text.lower() if lowercase else text)
    )
    specials = [PAD, UNK, CLS, SEP, MASK] if bert_specials else [PAD, UNK]
    words = sorted(w for w, c in counts.items() if c >= min_count and w not in specials)
    if not words:
        raise InputError(
            "word_tokenizer found no word occurring min_count times in the texts; pass more texts."
        )
    core = Tokenizer(WordLevel({w: i for i, w in enumerate(specials + words)}, unk_token=UNK))
    core.pre_tokenizer = split
    if lowercase:
        core.normalizer = normalizers.Lowercase()
    extra = {}
    if bert_specials:
        core.post_processor = TemplateProcessing(
            single=f"{CLS} $A {SEP}", special_tokens=[(CLS, 2), (SEP, 3)]
        )
        extra = {"cls_token": CLS, "sep_token": SEP, "mask_token": MASK}
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, unk_token=UNK, **extra)
