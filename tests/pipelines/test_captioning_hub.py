"""The hub path of ``pipeline("image-captioning", model=...)``: BLIP, GIT and VisionEncoderDecoder, built tiny.

Each model is made from a config with random weights (a large ``initializer_range`` so that the caption depends on
the pixels), saved with its processor into a temporary folder, and loaded back by path, as a user's hub download
would be. The captions must equal what the model's own ``generate`` + ``batch_decode`` give for the same images:
that proves the pipeline feeds the right pixels and decodes the right way.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import mmkit
from mmkit.errors import InputError

WORDS = "a the red green blue apple cat dog sky on in of with small big photo".split()
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0..4
PAD, CLS, SEP = 0, 2, 3
BLOCK = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
         "initializer_range": 1.0}
VISION = {"image_size": 32, "patch_size": 8, **BLOCK}
MODELS = ("vision-encoder-decoder", "blip", "git")


def bert_tokenizer(extra=()):
    """A BertTokenizerFast over SPECIALS + extra + WORDS, built offline (every word is one token)."""
    from transformers import BertTokenizerFast

    words = [*SPECIALS, *extra, *WORDS]
    return BertTokenizerFast(vocab={word: i for i, word in enumerate(words)})


def save_vision_encoder_decoder(folder):
    # Laid out like nlpconnect/vit-gpt2-image-captioning: an image processor and a tokenizer, no processor_config.
    from transformers import (
        BertConfig,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessorPil,
    )

    tokenizer = bert_tokenizer()
    decoder = BertConfig(vocab_size=len(tokenizer), max_position_embeddings=64, is_decoder=True,
                         add_cross_attention=True, **BLOCK)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(ViTConfig(**VISION), decoder)
    config.decoder_start_token_id, config.eos_token_id, config.pad_token_id = CLS, SEP, PAD
    VisionEncoderDecoderModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(folder)


def save_blip(folder, dtype=torch.float32):
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessorPil, BlipProcessor

    # BLIP starts every caption with its own [DEC] token, a special token of the tokenizer.
    tokenizer = bert_tokenizer(extra=["[DEC]"])
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    text = {"vocab_size": len(tokenizer), "encoder_hidden_size": 32, "max_position_embeddings": 64,
            "bos_token_id": tokenizer.convert_tokens_to_ids("[DEC]"), "eos_token_id": SEP, "sep_token_id": SEP,
            "pad_token_id": PAD, "projection_dim": 16, **BLOCK}
    config = BlipConfig(text_config=text, vision_config={"projection_dim": 16, **VISION}, projection_dim=16,
                        image_text_hidden_size=16)
    BlipForConditionalGeneration(config).to(dtype).save_pretrained(folder)
    BlipProcessor(image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}),
                  tokenizer=tokenizer).save_pretrained(folder)


def save_git(folder):
    from transformers import CLIPImageProcessorPil, GitConfig, GitForCausalLM, GitProcessor

    tokenizer = bert_tokenizer()
    config = GitConfig(vision_config=VISION, vocab_size=len(tokenizer), max_position_embeddings=64,
                       bos_token_id=CLS, eos_token_id=SEP, pad_token_id=PAD, **BLOCK)
    GitForCausalLM(config).save_pretrained(folder)
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    GitProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)


SAVERS = {"vision-encoder-decoder": save_vision_encoder_decoder, "blip": save_blip, "git": save_git}


@pytest.fixture(scope="session")
def hub_folders(tmp_path_factory):
    """{name: folder} of the three tiny saved captioners (about 150 KB each)."""
    folders = {}
    for name, save in SAVERS.items():
        folders[name] = tmp_path_factory.mktemp(f"tiny-{name}")
        torch.manual_seed(0)
        save(folders[name])
    return folders


@pytest.fixture(scope="module")
def pipes(hub_folders):
    return {name: mmkit.pipeline("image-captioning", model=str(folder), device="cpu")
            for name, folder in hub_folders.items()}


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    """Six RGB images of 48x40 (solid colours and noise, so sizes differ from the model's 32x32) and their PNGs."""
    rng = np.random.default_rng(0)
    pictures = [Image.new("RGB", (48, 40), colour) for colour in ("black", "white", "red", "blue")]
    pictures += [Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)) for _ in range(2)]
    folder = tmp_path_factory.mktemp("caption-images")
    paths = []
    for i, picture in enumerate(pictures):
        paths.append(folder / f"image{i}.png")
        picture.save(paths[-1])
    return pictures, paths


def reference_captions(folder, pictures, **generate_kwargs):
    """What transformers itself writes: the model's own class, processor, generate and batch_decode."""
    import transformers

    config = transformers.AutoConfig.from_pretrained(folder)
    model_class = getattr(transformers, config.architectures[0])
    model = model_class.from_pretrained(folder).eval()
    if config.model_type == "vision-encoder-decoder":
        image_processor = transformers.AutoImageProcessor.from_pretrained(folder)
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    else:
        image_processor = tokenizer = transformers.AutoProcessor.from_pretrained(folder)
    pixels = image_processor(images=pictures, return_tensors="pt")["pixel_values"].to(model.dtype)
    with torch.no_grad():
        ids = model.generate(pixel_values=pixels, **generate_kwargs)
    return [text.strip() for text in tokenizer.batch_decode(ids, skip_special_tokens=True)]


@pytest.mark.parametrize("name", MODELS)
def test_loads_the_folder_and_names_it(pipes, hub_folders, name):
    cap = pipes[name]
    assert cap.model_name == str(hub_folders[name])
    assert str(hub_folders[name]) in repr(cap)
    assert not cap.supports_attention


@pytest.mark.parametrize("name", MODELS)
def test_captions_equal_the_models_own_generate(pipes, hub_folders, images, name):
    pictures, _ = images
    ours = pipes[name](pictures, max_new_tokens=6)
    assert ours == [{"caption": c} for c in reference_captions(hub_folders[name], pictures, max_new_tokens=6)]
    # The captions depend on the pixels, so the equality above is a real check of what reaches the model.
    assert len({r["caption"] for r in ours}) >= 3


@pytest.mark.parametrize("name", MODELS)
def test_beam_search_equals_the_models_own(pipes, hub_folders, images, name):
    pictures, _ = images
    beams = pipes[name](pictures[2:4], max_new_tokens=6, num_beams=3)
    reference = reference_captions(hub_folders[name], pictures[2:4], max_new_tokens=6, num_beams=3)
    assert [r["caption"] for r in beams] == reference


@pytest.mark.parametrize("name", MODELS)
def test_one_image_paths_and_pil_alike(pipes, images, name):
    cap = pipes[name]
    pictures, paths = images
    single = cap(pictures[4], max_new_tokens=6)
    assert isinstance(single, dict) and set(single) == {"caption"} and isinstance(single["caption"], str)
    assert cap(str(paths[4]), max_new_tokens=6) == single
    assert cap(paths[4], max_new_tokens=6) == single
    mixed = cap([str(paths[4]), pictures[5]], max_new_tokens=6)
    assert mixed == [single, cap(pictures[5], max_new_tokens=6)]


@pytest.mark.parametrize("name", MODELS)
def test_greedy_is_deterministic_and_max_new_tokens_bounds_it(pipes, images, name):
    cap = pipes[name]
    picture = images[0][4]
    greedy = cap(picture, max_new_tokens=6)
    assert cap(picture, max_new_tokens=6) == greedy
    assert cap(picture, max_new_tokens=6, num_beams=1, do_sample=False) == greedy
    # Every word of the tiny vocabulary is one token.
    assert len(cap(picture, max_new_tokens=2)["caption"].split()) <= 2


def test_sampling_follows_the_torch_seed(pipes, images):
    cap = pipes["git"]
    pictures = images[0][:3]
    torch.manual_seed(1)
    first = cap(pictures, max_new_tokens=6, do_sample=True)
    torch.manual_seed(1)
    assert cap(pictures, max_new_tokens=6, do_sample=True) == first
    assert all(isinstance(r["caption"], str) for r in first)


def test_weights_saved_in_bfloat16_take_matching_pixels(tmp_path, images):
    # from_pretrained keeps the saved dtype: a bfloat16 checkpoint stays bfloat16 and must still caption as
    # transformers does (the pipeline casts the float32 pixels to the model's dtype).
    torch.manual_seed(0)
    save_blip(tmp_path, dtype=torch.bfloat16)
    cap = mmkit.pipeline("image-captioning", model=str(tmp_path), device="cpu")
    assert cap.model.model.dtype == torch.bfloat16
    pictures = images[0][2:4]
    assert [r["caption"] for r in cap(pictures, max_new_tokens=6)] == reference_captions(
        tmp_path, pictures, max_new_tokens=6)


def test_attention_maps_are_refused_with_the_way_to_get_them(pipes, images):
    with pytest.raises(InputError, match="model='tiny-captioner'"):
        pipes["blip"](images[0][0], return_attention=True)


def test_bad_images_are_input_errors(pipes, tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not an image" * 10)
    with pytest.raises(InputError):
        pipes["git"](str(fake))
    with pytest.raises(InputError):
        pipes["git"](str(tmp_path / "missing.png"))
    with pytest.raises(InputError):
        pipes["git"]([])


def test_cli_captions_with_a_local_model(pipes, hub_folders, images):
    _, paths = images
    proc = subprocess.run(
        [sys.executable, "-m", "mmkit.cli", "caption", str(paths[2]), str(paths[4]), "--model",
         str(hub_folders["git"]), "--device", "cpu", "--json"],
        capture_output=True, text=True, timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )
    assert proc.returncode == 0, proc.stderr
    # The CLI's default max_new_tokens is the pipeline's (20).
    expected = [{"image": str(p), **pipes["git"](p)} for p in (paths[2], paths[4])]
    assert json.loads(proc.stdout) == expected
