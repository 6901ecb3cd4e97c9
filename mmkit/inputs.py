"""Every check on user input, in one place.

The apps are public, so anything a visitor sends (a prompt, an image, a document, a zip of images) passes
through one of these functions before it reaches a model. Each one either returns a clean value (normalised
text, a document's text, an RGB ``PIL.Image``, a list of extracted paths) or raises
:class:`~mmkit.errors.InputError` with a message a person can act on. The limits are module constants so the
README and the apps can quote them.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from mmkit.errors import InputError
from mmkit.rgb import to_rgb

MAX_TEXT_CHARS = 20_000  # a prompt for classification or captioning
MAX_DOCUMENT_BYTES = 20_000_000  # a long-text QA document (20 MB)
MAX_IMAGE_PIXELS = 40_000_000  # width * height (40 megapixels)
MAX_UPLOAD_BYTES = 25_000_000  # one image file (25 MB)
ALLOWED_IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff")
TEXT_FILE_SUFFIXES = (".txt", ".md")
MAX_ZIP_FILES = 2000
MAX_ZIP_BYTES = 200_000_000  # uncompressed total of the images in one archive (200 MB)

# What Pillow raises on a damaged file, depending on the plugin: truncated data is an OSError, a bad header is
# often a SyntaxError, some decoders fail with struct.error, EOFError or IndexError.
# ValueError: a damaged GIF's frame box outside the canvas ("tile cannot extend outside image").
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    EOFError,
    struct.error,
    IndexError,
    ValueError,
    Image.DecompressionBombError,
)
# What zipfile raises on a damaged archive: bad offsets surface as OSError (a negative seek), bad fields as
# ValueError/struct.error, bad names as UnicodeDecodeError (a ValueError), bad data as zlib.error or EOFError.
_ZIP_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, struct.error)
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_CHUNK = 1 << 20


def _mb(n_bytes: int) -> str:
    """Megabytes when exact to one decimal (limits), else exact bytes, so a size never reads equal to its
    limit."""
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes % 100_000 == 0 else f"{n_bytes:,} bytes"


# --------------------------------------------------------------------------------------------------- text


def validate_text(text: str | bytes, max_chars: int = MAX_TEXT_CHARS, what: str = "text") -> str:
    """Return ``text`` NFC-normalised and stripped, or raise InputError.

    ``bytes`` are accepted when they decode as UTF-8. ``what`` names the field in messages ("the prompt is
    empty").
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text)
        if len(raw) > 4 * 4 * max_chars:  # even 4-byte characters would be over the limit
            raise InputError(
                f"the {what} is too long: {len(raw):,} bytes; the limit is {max_chars:,} characters"
            )
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise InputError(
                f"the {what} is not valid UTF-8 (byte 0x{raw[e.start]:02x} at position {e.start}); "
                "send text encoded as UTF-8"
            ) from None
    if not isinstance(text, str):
        raise InputError(f"the {what} must be a string, not {type(text).__name__}")
    # NFC can change the length a little; a bound before normalising keeps a huge paste from costing much.
    if len(text) > 4 * max_chars:
        raise InputError(f"the {what} is too long: {len(text):,} characters; the limit is {max_chars:,}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:  # JSON "\ud800" decodes to such a string; tokenizers then fail
        raise InputError(
            f"the {what} is not valid Unicode: a lone surrogate at position {e.start}; send UTF-8 text"
        ) from None
    text = unicodedata.normalize("NFC", text).strip()
    if not text:
        raise InputError(f"the {what} is empty: type some text")
    if len(text) > max_chars:
        raise InputError(f"the {what} is too long: {len(text):,} characters; the limit is {max_chars:,}")
    return text


def load_text_file(path: str | os.PathLike) -> str:
    """Read a .txt/.md document as text (NFC, ``\\n`` newlines), checking size and encoding before trusting
    it.

    UTF-8 with or without a BOM is read as such, UTF-16 only with its BOM; anything else is refused.
    """
    path = _existing_file(path)
    if path.suffix.lower() not in TEXT_FILE_SUFFIXES:
        raise InputError(
            f"'{path.name}' is not a text document; upload one of: {', '.join(TEXT_FILE_SUFFIXES)}"
        )
    checked_file(path, MAX_DOCUMENT_BYTES)
    with open(path, "rb") as f:
        data = f.read(MAX_DOCUMENT_BYTES + 1)  # the file may have grown since stat()
    if len(data) > MAX_DOCUMENT_BYTES:
        raise InputError(f"the file is over the limit of {_mb(MAX_DOCUMENT_BYTES)}")
    text = _decode_document(data)
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    if not text.strip():
        raise InputError("the file contains only whitespace")
    return text


def _decode_document(data: bytes) -> str:
    if data.startswith(_UTF8_BOM):
        encoding = "utf-8-sig"
    elif data.startswith(_UTF16_BOMS):
        encoding = "utf-16"  # the codec reads the BOM to pick the byte order
    elif b"\x00" in data:
        raise InputError(
            "the file looks binary (it contains NUL bytes), not text; upload a plain .txt or .md file saved "
            "as UTF-8"
        )
    else:
        encoding = "utf-8"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        raise InputError(
            f"the file is not valid {encoding.upper().replace('-SIG', '')} text "
            f"(byte 0x{data[e.start]:02x} at position {e.start}); save it as UTF-8 and upload it again"
        ) from None


def _existing_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no file at '{path}'")
    return path


def checked_file(path: str | os.PathLike, max_bytes: int) -> tuple[Path, int]:
    """(path, size) of an existing, non-empty file of at most ``max_bytes``; InputError naming the limit if
    not."""
    path = _existing_file(path)
    size = path.stat().st_size
    _check_size(size, max_bytes)
    return path, size


def _check_size(n_bytes: int, limit: int, what: str = "file") -> None:
    if n_bytes == 0:
        raise InputError("the file is empty")
    if n_bytes > limit:
        raise InputError(f"the {what} is {_mb(n_bytes)}; the limit is {_mb(limit)}")


# --------------------------------------------------------------------------------------------------- images


def load_image(source) -> Image.Image:
    """Open an image from a path, bytes, a binary file object, a numpy array or a PIL image; return it as RGB.

    Arrays and every image mode are converted by :func:`to_rgb`. Files are checked for size, then their header
    is read and ``width * height`` is checked against ``MAX_IMAGE_PIXELS`` before a single pixel is decoded.
    Animated images give their first frame and EXIF rotation is applied.
    """
    if isinstance(source, np.ndarray):
        if source.ndim in (2, 3):
            _check_pixels(source.shape[1], source.shape[0])
        return to_rgb(source)
    if isinstance(source, Image.Image):
        _check_pixels(*source.size)
        if source.format is not None and source.format not in ALLOWED_IMAGE_FORMATS:
            raise _format_error(source.format)
        return _decode(source)
    if isinstance(source, (str, os.PathLike)):
        path = _existing_file(source)
        _check_size(path.stat().st_size, MAX_UPLOAD_BYTES, "image file")
        with open(path, "rb") as f:
            return _open_and_decode(f)
    if isinstance(source, (bytes, bytearray, memoryview)):
        _check_size(len(source), MAX_UPLOAD_BYTES, "image file")
        return _open_and_decode(io.BytesIO(bytes(source)))
    if hasattr(source, "read"):
        # Read at most one byte past the limit: a stream's size is not known in advance.
        data = source.read(MAX_UPLOAD_BYTES + 1)
        if not isinstance(data, bytes):
            raise InputError("the file object must be opened in binary mode ('rb')")
        _check_size(len(data), MAX_UPLOAD_BYTES, "image file")
        return _open_and_decode(io.BytesIO(data))
    raise InputError(
        f"cannot read an image from {type(source).__name__}; pass a file path, bytes, a file object, "
        "a numpy array or a PIL image"
    )


def _check_pixels(width: int, height: int) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise InputError(
            f"the image is {width}x{height} = {width * height / 1e6:.1f} megapixels; "
            f"the limit is {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels: resize it and try again"
        )
    if width == 0 or height == 0:
        raise InputError(f"the image has no pixels ({width}x{height})")


def _format_error(fmt: str) -> InputError:
    return InputError(f"{fmt} images are not accepted; use one of: {', '.join(ALLOWED_IMAGE_FORMATS)}")


def _open_and_decode(fp) -> Image.Image:
    try:
        # Image.open reads only the header. ``formats`` keeps Pillow from trying other plugins on untrusted
        # bytes (EPS, for one, would run Ghostscript). Pillow's own bomb guard (Image.MAX_IMAGE_PIXELS, ~89
        # MP) fires here for truly huge headers; ours below is stricter.
        img = Image.open(fp, formats=list(ALLOWED_IMAGE_FORMATS))
    except Image.UnidentifiedImageError:
        raise InputError(
            f"this file is not an image Pillow can read; upload one of: {', '.join(ALLOWED_IMAGE_FORMATS)}"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(
            f"the image is too large; the limit is {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels"
        ) from None
    except _DECODE_ERRORS:
        raise InputError("the image is truncated or corrupt") from None
    with img:
        _check_pixels(*img.size)
        return _decode(img)


def _decode(img: Image.Image) -> Image.Image:
    """Decode the first frame and return an RGB copy detached from any file."""
    try:
        img.load()
        return to_rgb(ImageOps.exif_transpose(img))  # always a new image, so the file can be closed
    except _DECODE_ERRORS:
        raise InputError("the image is truncated or corrupt") from None


# --------------------------------------------------------------------------------------------------- zip
# archives


def safe_extract_zip(
    zip_path: str | os.PathLike,
    dest_dir: str | os.PathLike,
    max_files: int = MAX_ZIP_FILES,
    max_total_bytes: int = MAX_ZIP_BYTES,
    allowed_suffixes: Iterable[str] = IMAGE_SUFFIXES,
) -> list[Path]:
    """Extract the image members of an uploaded zip into ``dest_dir``; return their paths in archive order.

    The whole archive is refused (nothing written) when a member name is absolute or climbs out with ``..``,
    when a member is a symlink, or when the images declared in it are more than ``max_files`` or
    ``max_total_bytes`` uncompressed. While extracting, the bytes actually written are counted too, so a
    member that lies about its size stops the extraction at the limit and what was written is removed. Other
    members (and macOS ``__MACOSX`` and ``._*`` side files) are skipped.
    """
    zip_path = _existing_file(zip_path)
    suffixes = tuple(s.lower() for s in allowed_suffixes)
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    dest = dest.resolve()
    try:
        zf = zipfile.ZipFile(zip_path)
    except (*_ZIP_READ_ERRORS, NotImplementedError) as e:  # NotImplementedError: "zip file version 14.0"
        raise InputError(f"'{zip_path.name}' is not a readable zip archive ({e})") from None
    with zf:
        return _extract(zf, _plan_extraction(zf, dest, suffixes, max_files, max_total_bytes), max_total_bytes)


def _plan_extraction(zf, dest: Path, suffixes, max_files: int, max_total_bytes: int):
    """Check every member before writing anything; return [(ZipInfo, target path)] for the images."""
    plan, declared = [], 0
    for info in zf.infolist():
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if (
            name.startswith(("/", "\\"))
            or (len(name) > 1 and name[1] == ":")
            or ".." in parts
            or "\x00" in name
        ):
            raise InputError(
                f"the archive is refused: member '{name}' points outside the folder it unpacks into"
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise InputError(f"the archive is refused: member '{name}' is a symbolic link")
        target = (dest / name).resolve()
        if not target.is_relative_to(dest):
            raise InputError(
                f"the archive is refused: member '{name}' points outside the folder it unpacks into"
            )
        if info.is_dir() or parts[0] == "__MACOSX" or parts[-1].startswith("._"):
            continue
        if not name.lower().endswith(suffixes):
            continue
        plan.append((info, target))
        declared += info.file_size
        if len(plan) > max_files:
            raise InputError(f"the archive holds more than {max_files} images; the limit is {max_files}")
        if declared > max_total_bytes:
            raise InputError(
                f"the images in the archive unpack to more than {_mb(max_total_bytes)}; "
                f"the limit is {_mb(max_total_bytes)}"
            )
    return plan


def _extract(zf, plan, max_total_bytes: int) -> list[Path]:
    written: list[Path] = []
    total = 0
    try:
        for info, target in plan:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                dst = open(target, "wb")
            except (FileExistsError, IsADirectoryError, NotADirectoryError):  # "a.png" and "a.png/b.png"
                raise InputError(f"member '{info.filename}' clashes with another member's path") from None
            written.append(target)
            with dst:
                for chunk in _member_chunks(zf, info):
                    total += len(chunk)
                    if total > max_total_bytes:
                        raise InputError(
                            f"the images in the archive unpack to more than {_mb(max_total_bytes)}; "
                            f"the limit is {_mb(max_total_bytes)}"
                        )
                    dst.write(chunk)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return written


def _member_chunks(zf, info):
    """The member's bytes, chunk by chunk. Failures to read the archive (not to write the copy) become
    InputError."""
    try:
        with zf.open(info) as src:
            while chunk := src.read(_CHUNK):
                yield chunk
    except _ZIP_READ_ERRORS as e:
        raise InputError(
            f"the archive is corrupt: member '{info.filename}' cannot be unpacked ({e!r})"
        ) from None
    except (RuntimeError, NotImplementedError) as e:  # encrypted; a compression method zipfile lacks
        raise InputError(f"member '{info.filename}' cannot be unpacked: {e}") from None
