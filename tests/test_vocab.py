import pytest
import torch

from mmkit.encoders import TextTransformerEncoder
from mmkit.errors import InputError
from mmkit.objectives import mask_tokens
from mmkit.vocab import word_tokenizer


def test_ids_are_the_sorted_words_after_the_specials_and_unknown_words_map_to_unk():
    tok = word_tokenizer(["paint it red", "paint it blue", "blue please"])
    assert tok.convert_ids_to_tokens(list(range(len(tok)))) == ["[PAD]", "[UNK]", "blue", "it", "paint", "please",
                                                               "red"]
    batch = tok(["paint it red", "paint green"], padding=True, return_tensors="pt")
    assert batch["input_ids"].tolist() == [[4, 3, 6], [4, 1, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]


def test_min_count_lowercase_and_bert_specials():
    tok = word_tokenizer(["The cat sat.", "the cat ran", "A dog"], min_count=2, lowercase=True, bert_specials=True)
    assert tok.convert_ids_to_tokens(list(range(len(tok)))) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cat",
                                                               "the"]
    ids = tok("THE Cat sat")["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["[CLS]", "the", "cat", "[UNK]", "[SEP]"]
    assert (tok.cls_token_id, tok.sep_token_id, tok.mask_token_id, tok.pad_token_id) == (2, 3, 4, 0)
    # the objectives' masking reads the special ids from it: [CLS], [SEP] and [UNK] are never masked
    masked, labels = mask_tokens(torch.tensor([ids]), tok, mlm_probability=1.0,
                                 generator=torch.Generator().manual_seed(0))
    assert labels.tolist() == [[-100, 6, 5, -100, -100]] and masked[0, 1:3].ne(torch.tensor([6, 5])).all()


def test_an_encoder_sizes_its_embedding_table_from_it():
    tok = word_tokenizer(["a red circle", "a blue square"])
    encoder = TextTransformerEncoder(tok, dim=16, n_heads=2, num_layers=1, max_len=8)
    assert encoder.token_embedding.num_embeddings == len(tok) == 7
    out = encoder.encode(["a red square", "blue"])
    assert out.tokens.shape == (2, 3, 16) and out.mask.tolist() == [[True, True, True], [True, False, False]]


def test_bad_input_is_explained():
    with pytest.raises(InputError, match="list of texts"):
        word_tokenizer("one string")
    with pytest.raises(InputError, match="no word"):
        word_tokenizer(["a b"], min_count=2)
