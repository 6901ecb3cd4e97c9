"""Image captioning: the embedded photo model (default), the emoji TinyCaptioner, or a Hugging Face
image-to-text model.

``cap(image_or_path_or_list, lang="en", max_new_tokens=20, num_beams=1, do_sample=False,
return_attention=False)`` -> ``{"caption"}`` per image (one dict for one image, a list for a list).

- model=None or "efficientnet-lite0-photo": EfficientNet-Lite0's ImageNet classes in a caption as sure as its
  probabilities ("a cheetah", "probably a daisy or another flower", :mod:`mmkit.models.photo_caption`); the
  dict also holds ``top``, the five best classes [{"label", "index", "score"}] in ``lang``. Generation options
  are unused.
- model="tiny-captioner": the small captioner trained here on rendered emoji (English and Chinese). With
  ``return_attention=True`` the dict also holds ``words`` and ``attention`` — one (h, w) map over the image
  grid per word — and the decoded ``image``, for the apps' "explain" view.
- a hub id or folder: writes in the language it was trained in; ``lang`` is not used.
"""

from __future__ import annotations

from mmkit.errors import InputError
from mmkit.hub import load_auto
from mmkit.inputs import load_image
from mmkit.models.photo import PhotoClassifier
from mmkit.models.photo_caption import describe_batch
from mmkit.pipelines.base import Pipeline, own_model

PHOTO = "efficientnet-lite0-photo"


class HFCaptioner:
    """A hub image-to-text model (BLIP, GIT, VisionEncoderDecoder...) through
    ``AutoModelForImageTextToText``."""

    def __init__(self, name_or_path: str, device):
        import transformers
        from transformers import AutoConfig, AutoImageProcessor, AutoProcessor

        alternative = "model=None (the embedded photo model) or model='tiny-captioner' (the emoji captioner)"
        config = load_auto(AutoConfig, name_or_path, alternative=alternative)
        model_class = (
            transformers.VisionEncoderDecoderModel
            if config.model_type == "vision-encoder-decoder"
            else transformers.AutoModelForImageTextToText
        )
        self.model = load_auto(model_class, name_or_path, alternative=alternative).to(device).eval()
        processor = load_auto(AutoProcessor, name_or_path, alternative=alternative)
        # A VisionEncoderDecoder folder usually has no processor_config.json
        # (nlpconnect/vit-gpt2-image-captioning has an image processor and a tokenizer side by side):
        # AutoProcessor then returns the tokenizer alone.
        if isinstance(processor, transformers.PreTrainedTokenizerBase):
            self.images = load_auto(AutoImageProcessor, name_or_path, alternative=alternative)
        else:
            self.images = processor
        self.tokenizer = processor
        self.device = device

    def generate(self, images, max_new_tokens: int, num_beams: int, do_sample: bool) -> list[str]:
        """images: a list of RGB PIL images -> one caption per image (special tokens and the prompt
        removed)."""
        import torch

        # from_pretrained keeps the dtype the weights were saved in (bf16, fp16...); BLIP, GIT and ViT cast
        # the float32 pixels to it themselves, not every image-to-text model does, so cast them here as
        # transformers' own pipelines do.
        inputs = self.images(images=images, return_tensors="pt").to(self.device, dtype=self.model.dtype)
        with torch.inference_mode():
            ids = self.model.generate(
                **inputs, max_new_tokens=max_new_tokens, num_beams=num_beams, do_sample=do_sample
            )
        return [text.strip() for text in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]


class ImageCaptioningPipeline(Pipeline):
    """``pipeline("image-captioning", model=None | "efficientnet-lite0-photo" | "tiny-captioner" | hub id |
    folder)``."""

    task = "image-captioning"

    def __init__(self, model=None, device=None, quantization=None):
        super().__init__("", device, quantization)
        from mmkit.models import load as load_embedded

        if model in (None, PHOTO):
            if quantization:
                raise InputError(
                    f"{PHOTO} (a 19 MB CNN) is not quantized; quantization is for hub models and "
                    "model='tiny-captioner'"
                )
            self.model = own_model(load_embedded(PHOTO), device, shared=True)
            self.model_name = f"mmkit {PHOTO} (embedded)"
        elif model == "tiny-captioner":
            self.model = own_model(
                load_embedded("tiny-captioner"), device, quantization, shared=True, skip=("lm_head", "head")
            )
            self.model_name = "mmkit tiny-captioner (embedded)"
        else:
            self.model = own_model(
                HFCaptioner(model, device),
                device,
                quantization,
                shared=False,
                part="model",
                skip=("lm_head", "head"),
            )
            self.model_name = str(model)

    @property
    def module(self):
        """The ``nn.Module`` that makes the captions (the embedded TinyCaptioner, or the hub model)."""
        return getattr(self.model, "model", self.model)

    @property
    def is_photo(self) -> bool:
        return isinstance(self.model, PhotoClassifier)

    @property
    def supports_attention(self) -> bool:
        """Whether ``return_attention=True`` works (the emoji tiny-captioner exposes its cross-attention)."""
        return not isinstance(self.model, (HFCaptioner, PhotoClassifier))

    def __call__(
        self,
        images,
        lang: str = "en",
        max_new_tokens: int = 20,
        num_beams: int = 1,
        do_sample: bool = False,
        return_attention: bool = False,
    ):
        single = not isinstance(images, (list, tuple))
        pictures = [load_image(image) for image in ([images] if single else images)]
        if not pictures:
            raise InputError("no image given")
        if not 1 <= num_beams <= 8:
            raise InputError(f"num_beams must be between 1 and 8, not {num_beams}")
        if lang not in ("en", "zh"):
            raise InputError(f"lang must be 'en' or 'zh', not {lang!r}")
        if return_attention and not self.supports_attention:
            raise InputError(
                f"{self.model_name} does not expose attention maps; use model='tiny-captioner' for them"
            )
        if self.is_photo:
            results = self._photo(pictures, lang)
        elif isinstance(self.model, HFCaptioner):
            captions = self.model.generate(pictures, max_new_tokens, num_beams, do_sample)
            results = [{"caption": c} for c in captions]
        else:
            results = self._embedded(pictures, lang, max_new_tokens, num_beams, do_sample, return_attention)
        return results[0] if single else results

    def _photo(self, pictures, lang: str) -> list[dict]:
        probs = self.model.probabilities(pictures)  # (B, 1000)
        return [
            {"caption": caption, "top": top}
            for caption, top in zip(describe_batch(probs, lang), self.model.top(probs, k=5, lang=lang))
        ]

    def _embedded(self, pictures, lang, max_new_tokens, num_beams, do_sample, return_attention) -> list[dict]:
        out = self.model.generate(
            pictures,
            lang=lang,
            max_new_tokens=max_new_tokens,
            num_beams=num_beams,
            do_sample=do_sample,
            return_attention=return_attention,
        )
        if not return_attention:
            return [{"caption": c} for c in out]
        captions, maps = out
        return [
            {
                "caption": caption,
                "words": self.model.tokenizer.tokens(caption, lang),
                "attention": list(attn),
                "image": picture,
            }
            for caption, attn, picture in zip(captions, maps, pictures)
        ]
