"""Tiny Hugging Face models built from configs and saved locally: the hub-id path, without the network."""

import pytest
import torch

WORDS = "the a team won match game phone chip screen new fast cake bread cook bank money stock price".split()


def write_bert_tokenizer(folder):
    from transformers import BertTokenizerFast

    # transformers 5 ignores vocab_file= here (a tokenizer of special tokens only); vocab= takes the words.
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    tokenizer = BertTokenizerFast(vocab={word: i for i, word in enumerate(words)})
    tokenizer.save_pretrained(folder)
    return tokenizer


def tiny_bert_config(**extra):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=5 + len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64, **extra,
    )


@pytest.fixture(scope="session")
def tiny_sequence_classifier(tmp_path_factory):
    """A saved BertForSequenceClassification with three named labels."""
    from transformers import BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-seq-clf")
    torch.manual_seed(0)
    config = tiny_bert_config(num_labels=3, id2label={0: "sports", 1: "tech", 2: "food"},
                              label2id={"sports": 0, "tech": 1, "food": 2})
    BertForSequenceClassification(config).save_pretrained(folder)
    write_bert_tokenizer(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory):
    """A saved BertModel (no head): serves zero-shot only."""
    from transformers import BertModel

    folder = tmp_path_factory.mktemp("tiny-encoder")
    torch.manual_seed(0)
    BertModel(tiny_bert_config()).save_pretrained(folder)
    write_bert_tokenizer(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_clip_folder(tmp_path_factory):
    """A saved CLIPModel + CLIPProcessor small enough to build in a second."""
    import json

    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTextConfig,
        CLIPTokenizerFast,
        CLIPVisionConfig,
    )

    folder = tmp_path_factory.mktemp("tiny-clip-hf")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in "abcdefghijklmnopqrstuvwxyz":
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizerFast(vocab_file=str(folder / "vocab.json"), merges_file=str(folder / "merges.txt"))
    small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = CLIPConfig(
        text_config=CLIPTextConfig(vocab_size=len(vocab), max_position_embeddings=32, bos_token_id=0,
                                   eos_token_id=1, pad_token_id=1, **small),
        vision_config=CLIPVisionConfig(image_size=32, patch_size=8, **small),
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder
