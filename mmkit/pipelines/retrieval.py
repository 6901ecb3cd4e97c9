"""Cross-modal retrieval: index images, search them by text or by image, or search captions by image.

``ret = pipeline("cross-modal-retrieval")``; ``ret.add(images)``; ``ret.search("a red fruit", k=5)`` ->
``[{"id", "score", "path"?}, ...]``. Images are a folder, a list of paths / PIL images / bytes, or a
``datasets`` image column. ``ret.add_captions(texts)`` indexes texts so that ``ret.search(image,
target="captions")`` finds the caption of an image. ``save(dir)`` / ``load(dir)`` keep the vectors
(safetensors, checksummed, written atomically).

Models: None or "efficientnet-lite0-photo" (default) embeds photos by ConSE — the probability-weighted mean of
their best ImageNet class names' vectors in a text encoder's space (:class:`mmkit.models.photo.ConSE`); the
text encoder is ``text_encoder=`` (default the embedded multilingual-e5-small, English or Chinese queries,
with the class names in both languages; "minilm" or any encoder object by choice). "tiny-clip" is the small
CLIP trained here on rendered emoji, in MiniLM's space (English queries); "tiny-clip-e5" the same image tower
trained into multilingual-e5-small's space, so English or Chinese queries find emoji ("红苹果" finds the red
apple). A hub id or folder is any CLIP-style dual encoder.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from tqdm.auto import tqdm

from mmkit.errors import InputError
from mmkit.hub import load_auto
from mmkit.index import VectorIndex
from mmkit.inputs import load_image, validate_text
from mmkit.models.photo import ConSE
from mmkit.pipelines.base import Pipeline, own_model

PHOTO = "efficientnet-lite0-photo"
EMOJI_MODELS = ("tiny-clip", "tiny-clip-e5")  # trained here on rendered emoji (mmkit/weights/<name>)

MODEL_FILE = "model.json"  # beside a saved index: which model made its vectors
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"}


class HFClipModel:
    """A Hugging Face CLIP-style dual encoder with the same two methods as our TinyClip."""

    def __init__(self, name_or_path: str, device: torch.device):
        from transformers import AutoModel, AutoProcessor

        alternative = "model=None (the embedded photo model) or model='tiny-clip' (the emoji model)"
        self.model = load_auto(AutoModel, name_or_path, alternative=alternative).to(device).eval()
        self.processor = load_auto(AutoProcessor, name_or_path, alternative=alternative)
        self.device = device
        self.dim = self.model.config.projection_dim

    @staticmethod
    def _vectors(output) -> torch.Tensor:
        # transformers 5 returns a model output whose pooler_output holds the projected features.
        vectors = output if isinstance(output, torch.Tensor) else output.pooler_output
        return torch.nn.functional.normalize(vectors.float(), dim=-1).cpu()

    @torch.inference_mode()
    def encode_images(self, images) -> torch.Tensor:
        pixels = self.processor(images=images, return_tensors="pt")["pixel_values"].to(self.device)
        return self._vectors(self.model.get_image_features(pixel_values=pixels))

    @torch.inference_mode()
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        batch = self.processor(text=texts, padding=True, truncation=True, return_tensors="pt").to(self.device)
        return self._vectors(self.model.get_text_features(**batch))


def _saved_model(directory: Path) -> str | None:
    """The model name in ``directory/model.json``; None for an index saved before mmkit wrote that file."""
    path = directory / MODEL_FILE
    if not path.is_file():
        return None
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["model"])
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(f"{path} is damaged ({error}); build the index again") from error


def _image_sources(images) -> list:
    """A folder, one image or a sequence of images -> a list of sources for ``load_image``."""
    if isinstance(images, (str, Path)) and Path(images).is_dir():
        found = sorted(p for p in Path(images).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise InputError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the folder {images}")
        return found
    if isinstance(images, (str, Path, bytes)) or hasattr(images, "convert"):
        return [images]
    return list(images)


class CrossModalRetrievalPipeline(Pipeline):
    """``pipeline("cross-modal-retrieval", model=None | "efficientnet-lite0-photo" | "tiny-clip" |
    "tiny-clip-e5" | CLIP-style hub id or folder, text_encoder=None, class_names=None)``.

    text_encoder (photo model only): a registry name ("multilingual-e5-small", "minilm") or anything with
    ``embed(texts) -> (N, D)``; None is :func:`mmkit.models.default_sentence_encoder`. class_names (photo
    model only): "en", "zh" or "en+zh", the ImageNet names ConSE embeds; None follows the encoder's
    languages.
    A saved index remembers the model (and text encoder) that built it; loading it into a pipeline with
    another one is refused, since vectors of two encoders of the same width are not comparable.
    """

    task = "cross-modal-retrieval"

    def __init__(
        self,
        model=None,
        device=None,
        quantization=None,
        batch_size: int = 64,
        text_encoder=None,
        class_names: str | None = None,
    ):
        super().__init__("", device, quantization)
        self.batch_size = batch_size
        from mmkit.models import load as load_embedded

        if (text_encoder is not None or class_names is not None) and model not in (None, PHOTO):
            raise InputError(
                f"text_encoder= and class_names= are for the photo model ({PHOTO}); {model} has its own "
                "text tower"
            )
        if model in (None, PHOTO):
            if quantization:
                raise InputError(
                    f"{PHOTO} (a 19 MB CNN) is not quantized; quantization is for hub models and "
                    "model='tiny-clip'"
                )
            if isinstance(text_encoder, str):
                text_encoder = load_embedded(text_encoder)  # a registry name; unknown names are refused
            classifier = own_model(load_embedded(PHOTO), device, shared=True)
            self.model = ConSE(classifier, text_encoder, names=class_names)
            encoder = getattr(self.model.text_encoder, "name_or_path", type(self.model.text_encoder).__name__)
            self.model_name = f"mmkit {PHOTO} + ConSE ({Path(str(encoder)).name}, {self.model.names} names)"
        elif model in EMOJI_MODELS:
            self.model = own_model(load_embedded(model), device, quantization, shared=True)
            self.model_name = f"mmkit {model} (embedded)"
        else:
            self.model = own_model(
                HFClipModel(model, device), device, quantization, shared=False, part="model"
            )
            self.model_name = str(model)
        self.images = VectorIndex(self.dim)
        self.captions = VectorIndex(self.dim)
        self._upload = None

    @property
    def module(self):
        """The ``nn.Module`` that makes the image vectors (TinyClip's image tower, or the hub dual
        encoder)."""
        return getattr(self.model, "model", self.model)

    @property
    def dim(self) -> int:
        return int(getattr(self.model, "dim", None) or self.model.config.embed_dim)

    def fresh(self, upload=None) -> CrossModalRetrievalPipeline:
        """A pipeline that shares this one's model but starts with empty indexes (one per app session).

        upload: what the new index's image files live in when they are a visitor's upload (the temporary
        folder, or an object that removes it); the pipeline holds it as long as it lives and gives it back as
        :attr:`upload`, so the app that made it can remove it when it drops the index.
        """
        clone = copy.copy(self)
        clone.images, clone.captions = VectorIndex(self.dim), VectorIndex(self.dim)
        clone._upload = upload
        return clone

    @property
    def upload(self):
        """The ``upload`` given to :meth:`fresh` (None: the indexed files are not a temporary upload)."""
        return self._upload

    def __len__(self) -> int:
        return len(self.images)

    def add(self, images, ids: list[str] | None = None, progress=None) -> None:
        """Index images in batches. ids default to file names (paths) or running numbers.

        progress: None for a tqdm bar, or a callable wrapping an iterable (e.g. Gradio's ``progress.tqdm``).
        """
        sources = _image_sources(images)
        if ids is None:
            start = len(self.images)
            ids = [
                Path(s).stem if isinstance(s, (str, Path)) else str(start + i) for i, s in enumerate(sources)
            ]
        if len(ids) != len(sources):
            raise InputError(f"got {len(sources)} images but {len(ids)} ids")
        wrap = progress or (lambda it, **kw: tqdm(it, **kw))
        for begin in wrap(range(0, len(sources), self.batch_size), desc="indexing images"):
            chunk = sources[begin : begin + self.batch_size]
            vectors = self.model.encode_images([load_image(s) for s in chunk])
            metadata = [{"path": str(s)} if isinstance(s, (str, Path)) else {} for s in chunk]
            self.images.add(vectors, ids=ids[begin : begin + len(chunk)], metadata=metadata)

    def add_captions(self, captions: list[str], ids: list[str] | None = None) -> None:
        """Index texts for image -> text search; each caption's metadata carries its text."""
        captions = [validate_text(c) for c in captions]
        vectors = self.model.encode_texts(captions)
        ids = ids or [str(len(self.captions) + i) for i in range(len(captions))]
        self.captions.add(vectors, ids=ids, metadata=[{"text": c} for c in captions])

    def _query_vector(self, query, as_text: bool = False) -> torch.Tensor:
        if isinstance(query, str) and (as_text or Path(query).suffix.lower() not in IMAGE_SUFFIXES):
            return self.model.encode_texts([validate_text(query)])[0]
        return self.model.encode_images([load_image(query)])[0]

    def search(self, query, k: int = 5, target: str = "images", as_text: bool = False) -> list[dict]:
        """Top-k of ``target`` ("images" or "captions") for a text or an image query: [{"id", "score", ...}].

        as_text=True: a str query is the text itself, never an image file name (what apps pass for typed
        text, so typing "/srv/x.png" cannot load a file of the server).
        """
        if target not in ("images", "captions"):
            raise InputError(f"target must be 'images' or 'captions', not {target!r}")
        index = self.images if target == "images" else self.captions
        if len(index) == 0:
            raise InputError(f"the {target} index is empty: add {target} first")
        if not isinstance(k, int) or k < 1:
            raise InputError(f"k must be a positive whole number, not {k!r}")
        return index.search(self._query_vector(query, as_text), k=min(k, len(index)))

    __call__ = search

    def save(self, directory: str | Path) -> None:
        """Write the image index (and the caption index when it has items) under ``directory``, with the
        name of the model that made the vectors (``model.json``)."""
        self.images.save(Path(directory) / "images")
        if len(self.captions):
            self.captions.save(Path(directory) / "captions")
        (Path(directory) / MODEL_FILE).write_text(json.dumps({"model": self.model_name}), encoding="utf-8")

    def load(self, directory: str | Path) -> CrossModalRetrievalPipeline:
        """Replace the indexes by those saved in ``directory`` (checksums verified); returns self."""
        directory = Path(directory)
        if not (directory / "images").exists():
            raise InputError(f"{directory} holds no saved index (expected {directory / 'images'})")
        built_with = _saved_model(directory)
        if built_with not in (None, self.model_name):
            raise InputError(
                f"the index in {directory} was built with {built_with}, but this pipeline uses "
                f"{self.model_name}: their vectors are not comparable. Build the index again, or load it "
                "with the same model (and text encoder)"
            )
        images = VectorIndex.load(directory / "images")
        captions = (
            VectorIndex.load(directory / "captions") if (directory / "captions").exists() else self.captions
        )
        for index in (images, captions):
            if index.dim != self.dim:
                raise InputError(
                    f"the index in {directory} holds {index.dim}-d vectors but {self.model_name} makes "
                    f"{self.dim}-d ones: it was built with another model"
                )
        # both or neither: a failed load leaves the pipeline as it was
        self.images, self.captions = images, captions
        return self
