"""Hostile and unusual uploads for the hardening tests, built cheaply (a 400-megapixel PNG is ~50 kB)."""

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from mmkit import inputs


def png_1bit(width: int, height: int) -> bytes:
    """A valid all-black 1-bit PNG of any size, built without allocating its pixels (400 MP -> ~50 kB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then the packed bits
    deflate = zlib.compressobj(9)
    block = row * 1000
    parts = [deflate.compress(block if h == 1000 else row * h) for h in
             [min(1000, height - start) for start in range(0, height, 1000)]]
    parts.append(deflate.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # bit depth 1, greyscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts))
            + chunk(b"IEND", b""))


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def picture() -> Image.Image:
    """A 64x64 RGB picture with some structure (a red square on a gradient)."""
    gradient = np.linspace(0, 255, 64, dtype=np.uint8)
    a = np.stack([np.tile(gradient, (64, 1))] * 3, axis=-1)
    a[16:48, 16:48] = (220, 30, 30)
    return Image.fromarray(a)


# Each bad file, the words its message must hold (a regex), and whether it reaches mmkit's check at all.
BAD_IMAGES = {
    "empty.png": "the file is empty",
    "not_an_image.png": "not an image",
    "truncated.png": "truncated or corrupt",
    "corrupt.png": "truncated or corrupt",
    "bomb_20000x20000.png": "too large; the limit is 40 megapixels",
    "over_limit_8000x6000.png": "8000x6000 = 48.0 megapixels; the limit is 40 megapixels",
}
BAD_ARCHIVES = {  # what both apps must say about each zip offered for the retrieval index
    "traversal.zip": "member '../../escaped.png' points outside the folder",
    "bomb.zip": "unpack to more than 200.0 MB; the limit is 200.0 MB",
    "no_images.zip": "holds no images",
    "not_a.zip": "not a readable zip archive",
    "empty.zip": "not a readable zip archive|the file is empty",
}
GOOD_ODD_IMAGES = ("gray.png", "rgba.png", "cmyk.jpg", "gray16.png", "palette.gif")
BAD_DOCUMENTS = {
    "empty.txt": "the file is empty",
    "binary.txt": "looks binary",
    "latin1.txt": "not valid UTF-8",
    "huge.txt": r"the file is 21[\d.,]* (MB|bytes); the limit is 20[\d.,]* (MB|bytes)",
    "notes.pdf": "not a text document|could not be read as a PDF",  # refused, or read as a PDF and found damaged
}


def write_hostile(folder: Path) -> Path:
    """Write every file named in BAD_IMAGES, GOOD_ODD_IMAGES, BAD_DOCUMENTS, plus good.png, ok.md and the zips."""
    png = encode(picture(), "PNG")
    files = {
        "good.png": png,
        "empty.png": b"",
        "not_an_image.png": b"%PDF-1.4 this is a document, not a picture\n" * 20,
        "truncated.png": png[: len(png) // 2],
        # A sound header whose pixel data is noise: Pillow opens it and fails while decoding.
        "corrupt.png": png[:33] + struct.pack(">I", 200) + b"IDAT" + bytes(range(200)) + b"\0\0\0\0" + png[-12:],
        "bomb_20000x20000.png": png_1bit(20_000, 20_000),
        "over_limit_8000x6000.png": png_1bit(8000, 6000),
        "gray.png": encode(picture().convert("L"), "PNG"),
        "rgba.png": encode(Image.new("RGBA", (64, 64), (200, 0, 0, 0)), "PNG"),  # fully transparent red
        "cmyk.jpg": encode(picture().convert("CMYK"), "JPEG"),
        "gray16.png": encode(Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16), "PNG"),
        "palette.gif": encode(picture().convert("P"), "GIF"),
        "empty.txt": b"",
        "binary.txt": bytes(range(256)) * 40,
        "latin1.txt": "Le caf\u00e9 est au bout de la rue. O\u00f9 est le caf\u00e9 ?".encode("latin-1"),
        "notes.pdf": b"%PDF-1.4 a pdf document\n",
        "ok.md": b"# Notes\n\nThe lighthouse on Cape Vell was built by Ada Moreno in 1871.\n",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    with open(folder / "huge.txt", "wb") as f:  # just over MAX_DOCUMENT_BYTES, in plain UTF-8
        line = b"All work and no play makes a long document.\n"
        f.write(line * (21_000_000 // len(line)) + b"x" * (21_000_000 % len(line)))
    assert (folder / "huge.txt").stat().st_size > inputs.MAX_DOCUMENT_BYTES
    _write_zips(folder, png)
    return folder


def _write_zips(folder: Path, png: bytes) -> None:
    with zipfile.ZipFile(folder / "images.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("photos/red.png", png)
        zf.writestr("photos/gray.png", (folder / "gray.png").read_bytes())
    with zipfile.ZipFile(folder / "traversal.zip", "w") as zf:
        zf.writestr("fine.png", png)
        zf.writestr("../../escaped.png", png)
    with zipfile.ZipFile(folder / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf, zf.open("bomb.png", "w") as f:
        zeros = bytes(1_000_000)
        for _ in range(inputs.MAX_ZIP_BYTES // 1_000_000 + 1):  # 201 MB of zeros in about 200 kB
            f.write(zeros)
    with zipfile.ZipFile(folder / "no_images.zip", "w") as zf:
        zf.writestr("readme.txt", "no pictures here")
    (folder / "not_a.zip").write_bytes(b"PK but not really a zip archive")
    (folder / "empty.zip").write_bytes(b"")
