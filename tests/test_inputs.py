"""Every input check: text, documents, images in each mode and each way of breaking them, zip archives."""

import io
import stat
import struct
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from mmkit import inputs
from mmkit.errors import InputError
from mmkit.inputs import load_image, load_text_file, safe_extract_zip, validate_text
from mmkit.longtext.documents import read_document
from mmkit.rgb import to_rgb

# ------------------------------------------------------------------------------------------------- text


def test_validate_text_normalises_and_strips():
    assert validate_text("  cafe\u0301 \n") == "caf\u00e9"  # NFC joins e + combining accent
    assert validate_text("caf\u00e9".encode()) == "caf\u00e9"


@pytest.mark.parametrize("bad", ["", "   \n\t ", "\u3000"])
def test_validate_text_refuses_empty_and_whitespace(bad):
    with pytest.raises(InputError, match="prompt is empty"):
        validate_text(bad, what="prompt")


def test_validate_text_refuses_over_limit_with_both_numbers():
    with pytest.raises(InputError, match=r"too long: 20,001 characters; the limit is 20,000"):
        validate_text("a" * 20_001)
    assert validate_text("a" * 20_000) == "a" * 20_000
    with pytest.raises(InputError, match="11 characters; the limit is 10"):
        validate_text("x" * 11, max_chars=10)


@pytest.mark.parametrize("text", ["\ud800", "ok \udfff then"])
def test_validate_text_refuses_lone_surrogates(text):
    # json.loads('"\\ud800"') gives such a string; a tokenizer would raise TypeError on it.
    with pytest.raises(InputError, match="not valid Unicode: a lone surrogate at position"):
        validate_text(text)


def test_validate_text_refuses_non_strings_and_bad_utf8():
    with pytest.raises(InputError, match="must be a string, not int"):
        validate_text(42)
    with pytest.raises(InputError, match=r"not valid UTF-8 \(byte 0xe9 at position 3\)"):
        validate_text("caf\u00e9".encode("latin-1"))
    assert issubclass(InputError, ValueError)


# ------------------------------------------------------------------------------------------------- documents


def test_load_text_file_encodings(tmp_path):
    cases = {
        "plain.txt": "line one\r\nline two caf\u00e9".encode(),
        "bom.md": b"\xef\xbb\xbf" + "line one\nline two caf\u00e9".encode(),
        "wide.txt": "line one\nline two caf\u00e9".encode("utf-16"),  # with its BOM
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        assert load_text_file(tmp_path / name) == "line one\nline two caf\u00e9", name


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.txt", b"", "the file is empty"),
        ("blank.txt", b" \n\n ", "only whitespace"),
        (
            "latin1.txt",
            "na\u00efve caf\u00e9".encode("latin-1"),
            r"not valid UTF-8 text \(byte 0xef at position 2\)",
        ),
        ("binary.txt", b"PK\x03\x04\x00\x00binary", "looks binary"),
        ("report.pdf", b"%PDF-1.7", "not a text document"),
    ],
)
def test_load_text_file_refusals(tmp_path, name, data, message):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(InputError, match=message):
        load_text_file(tmp_path / name)


def test_load_text_file_size_limit_checked_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(inputs, "MAX_DOCUMENT_BYTES", 100)
    (tmp_path / "big.txt").write_bytes(b"a" * 101)
    with pytest.raises(InputError, match="the file is 101 bytes; the limit is 100 bytes"):
        load_text_file(tmp_path / "big.txt")
    with pytest.raises(InputError, match="no file at"):
        load_text_file(tmp_path / "missing.txt")


# ------------------------------------------------------------------------------------------------- images


def _encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _pixels(img: Image.Image) -> np.ndarray:
    assert img.mode == "RGB"
    return np.asarray(img).astype(int)


def test_every_source_type_gives_the_same_rgb_image(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    png = _encode(Image.fromarray(arr), "PNG")
    (tmp_path / "a.png").write_bytes(png)
    sources = [
        str(tmp_path / "a.png"),
        tmp_path / "a.png",
        png,
        io.BytesIO(png),
        Image.open(io.BytesIO(png)),
        arr,
    ]
    for source in sources:
        out = load_image(source)
        assert out.size == (7, 5)
        np.testing.assert_array_equal(np.asarray(out), arr)
    with pytest.raises(InputError, match="cannot read an image from int"):
        load_image(3)


def test_modes_convert_to_rgb():
    white_transparent_p = Image.new("P", (2, 2), 0)
    white_transparent_p.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    white_transparent_p.putpixel((1, 1), 1)
    half_red = Image.new("RGBA", (2, 2), (255, 0, 0, 128))
    cases = [
        (Image.new("L", (2, 2), 100), "PNG", (100, 100, 100)),
        (Image.new("1", (2, 2), 1), "PNG", (255, 255, 255)),
        (Image.new("LA", (2, 2), (0, 0)), "PNG", (255, 255, 255)),  # black, fully transparent -> white
        (half_red, "PNG", (255, 127, 127)),
        (white_transparent_p, "PNG", (255, 255, 255)),  # index 0 is transparent
        (white_transparent_p, "GIF", (255, 255, 255)),
        (Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG", (255, 0, 0)),
        (Image.new("RGB", (8, 8), (10, 200, 30)), "WEBP", (10, 200, 30)),
        (Image.new("RGB", (2, 2), (10, 200, 30)), "BMP", (10, 200, 30)),
    ]
    for img, fmt, expected in cases:
        data = _encode(img, fmt, transparency=0) if img.mode == "P" else _encode(img, fmt)
        out = _pixels(load_image(data))
        tol = 6 if fmt in ("JPEG", "WEBP") else 1
        np.testing.assert_allclose(out[0, 0], expected, atol=tol, err_msg=f"{img.mode} {fmt}")
    p_out = _pixels(load_image(_encode(white_transparent_p, "PNG", transparency=0)))
    np.testing.assert_array_equal(p_out[1, 1], (255, 0, 0))  # the opaque palette entry keeps its colour


def _palette(transparent: bool) -> Image.Image:
    image = Image.new("P", (2, 1), 0)
    image.putpalette([10, 20, 30, 200, 100, 0] + [0] * 762)
    image.putpixel((1, 0), 1)
    if transparent:
        image.info["transparency"] = 0
    return image


# (what, PIL image or array, the RGB pixels expected) for the one conversion every image goes through
TO_RGB_CASES = [
    ("uint8 RGB array", np.array([[[10, 200, 30], [0, 0, 255]]], np.uint8), [[10, 200, 30], [0, 0, 255]]),
    ("uint8 grey array", np.array([[0, 77]], np.uint8), [[0, 0, 0], [77, 77, 77]]),
    ("float array in [0, 1]", np.array([[0.0, 0.5]], np.float32), [[0, 0, 0], [128, 128, 128]]),
    ("float array in [0, 255]", np.array([[0.0, 2.0]], np.float64), [[0, 0, 0], [2, 2, 2]]),
    ("float F image in [0, 1]", Image.fromarray(np.array([[0.0, 0.5]], np.float32), "F"),
     [[0, 0, 0], [128, 128, 128]]),
    ("float F image in [0, 255]", Image.fromarray(np.array([[1.0, 2.0]], np.float32), "F"),
     [[1, 1, 1], [2, 2, 2]]),
    ("grey L image", Image.new("L", (2, 1), 77), [[77, 77, 77]] * 2),
    ("RGBA half red", Image.new("RGBA", (2, 1), (255, 0, 0, 128)), [[255, 127, 127]] * 2),
    ("RGBA array, transparent black", np.zeros((1, 2, 4), np.uint8), [[255, 255, 255]] * 2),
    ("LA transparent", Image.new("LA", (2, 1), (0, 0)), [[255, 255, 255]] * 2),
    ("palette", _palette(False), [[10, 20, 30], [200, 100, 0]]),
    ("palette with a transparent index", _palette(True), [[255, 255, 255], [200, 100, 0]]),
    ("CMYK", Image.new("CMYK", (2, 1), (0, 255, 255, 0)), [[255, 0, 0]] * 2),
    ("16-bit", Image.fromarray(np.array([[65535, 257]], np.uint16)), [[255, 255, 255], [1, 1, 1]]),
]


@pytest.mark.parametrize("what, image, expected", TO_RGB_CASES, ids=[case[0] for case in TO_RGB_CASES])
def test_to_rgb_is_the_one_conversion_of_load_image_and_the_image_encoders(what, image, expected):
    import torch

    from mmkit.encoders import images_to_tensor

    out = to_rgb(image)
    np.testing.assert_array_equal(_pixels(out)[0], expected)
    np.testing.assert_array_equal(_pixels(load_image(image))[0], expected)  # the input check's caller
    pixels = images_to_tensor([image], (1, 2), mean=(0, 0, 0), std=(1, 1, 1))  # the encoders' caller: (1, 3, 1, 2)
    # the image's own size (2 x 1): no resampling, the tensor holds the very pixels
    np.testing.assert_array_equal((pixels[0].permute(1, 2, 0) * 255).round().to(torch.int64).numpy()[0], expected)


def test_to_rgb_refuses_what_is_not_an_image():
    with pytest.raises(InputError, match="PIL image or a numpy array, got int"):
        to_rgb(3)
    for values in ([[0.0, 300.0]], [[-1.0, 0.5]]):
        with pytest.raises(InputError, match=r"\[0, 1\] or \[0, 255\]"):
            to_rgb(Image.fromarray(np.array(values, np.float32), "F"))
    with pytest.raises(InputError, match="NaN"):
        to_rgb(Image.fromarray(np.array([[np.nan, 0.5]], np.float32), "F"))
    rgb = Image.new("RGB", (2, 2))
    assert to_rgb(rgb) is rgb  # nothing to convert: not copied


def test_16_bit_png_is_scaled_not_clipped():
    values = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    data = _encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = _pixels(load_image(data))[0, :, 0]
    np.testing.assert_array_equal(out, [0, 1, 128, 255])


def test_32_bit_int_and_float_tiffs():
    as_int = Image.fromarray(np.array([[0, 65535]], dtype=np.int32))
    assert as_int.mode == "I"
    np.testing.assert_array_equal(_pixels(load_image(_encode(as_int, "TIFF")))[0, :, 0], [0, 255])
    as_float = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    assert as_float.mode == "F"
    np.testing.assert_array_equal(_pixels(load_image(_encode(as_float, "TIFF")))[0, :, 0], [0, 128, 255])


def test_animated_gif_gives_first_frame():
    frames = [Image.new("RGB", (4, 4), c) for c in [(255, 0, 0), (0, 0, 255)]]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(data)).n_frames == 2
    np.testing.assert_array_equal(_pixels(load_image(data))[0, 0], (255, 0, 0))


def test_exif_rotation_is_applied():
    img = Image.new("RGB", (4, 2), (0, 0, 0))
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    assert load_image(_encode(img, "JPEG", exif=exif)).size == (2, 4)


def test_arrays():
    gray = np.array([[0.0, 0.5], [1.0, 0.25]], dtype=np.float32)
    np.testing.assert_array_equal(_pixels(load_image(gray))[..., 0], [[0, 128], [255, 64]])
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)  # transparent black
    assert (_pixels(load_image(rgba)) == 255).all()
    np.testing.assert_array_equal(
        _pixels(load_image(np.full((1, 1), 65535, np.uint16)))[0, 0], (255, 255, 255)
    )
    np.testing.assert_array_equal(_pixels(load_image(np.ones((1, 1, 1), bool)))[0, 0], (255, 255, 255))
    with pytest.raises(InputError, match=r"\(H, W\) or \(H, W, 1\|3\|4\); got shape \(2, 2, 2\)"):
        load_image(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(InputError, match="NaN"):
        load_image(np.full((2, 2), np.nan))
    with pytest.raises(InputError, match=r"\[0, 255\]"):
        load_image(np.full((2, 2), -3, np.int64))


def test_truncated_png_is_refused():
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)  # does not compress
    data = _encode(Image.fromarray(noise), "PNG")
    with pytest.raises(InputError, match="the image is truncated or corrupt"):
        load_image(data[: len(data) // 2])


def test_random_bytes_named_png_and_empty_file(tmp_path):
    (tmp_path / "fake.png").write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(InputError, match="this file is not an image Pillow can read"):
        load_image(tmp_path / "fake.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match="the file is empty"):
        load_image(tmp_path / "empty.png")


def test_formats_outside_the_list_are_refused():
    ppm = _encode(Image.new("RGB", (2, 2)), "PPM")
    with pytest.raises(InputError, match="not an image Pillow can read; upload one of: PNG, JPEG"):
        load_image(ppm)
    with pytest.raises(InputError, match="PPM images are not accepted"):
        load_image(Image.open(io.BytesIO(ppm)))


def test_upload_size_is_checked_before_opening(tmp_path, monkeypatch):
    monkeypatch.setattr(inputs, "MAX_UPLOAD_BYTES", 50)
    data = _encode(Image.new("RGB", (32, 32)), "BMP")
    (tmp_path / "big.bmp").write_bytes(data)
    for source in [tmp_path / "big.bmp", data, io.BytesIO(data)]:
        with pytest.raises(InputError, match=r"the image file is [0-9,]+ bytes; the limit is 50 bytes"):
            load_image(source)


def _huge_png(width: int, height: int) -> bytes:
    """A real, valid 1-bit PNG of width x height: rows of zeros compress ~1000:1, built without holding them."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any image file gets decoded."""

    def refuse(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def test_decompression_bomb_is_refused_from_its_header(no_decoding):
    bomb = _huge_png(20_000, 20_000)
    assert len(bomb) < 200_000  # 400 megapixels in a small upload
    with pytest.raises(InputError, match="too large; the limit is 40 megapixels"):
        load_image(bomb)
    # Under Pillow's own guard (~89 MP) but over ours: refused by our check, still before decoding.
    with pytest.raises(InputError, match="8000x8000 = 64.0 megapixels; the limit is 40 megapixels"):
        load_image(_huge_png(8000, 8000))


# ------------------------------------------------------------------------------------------------- zip archives


def _zip(path, members: dict, symlinks=()):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


def test_zip_extracts_only_images(tmp_path):
    png = _encode(Image.new("RGB", (2, 2), (1, 2, 3)), "PNG")
    archive = _zip(
        tmp_path / "in.zip",
        {"a.png": png, "sub/b.JPG": b"jpeg bytes", "notes.txt": b"hi", "__MACOSX/._a.png": b"x", "sub/": b""},
    )
    out = safe_extract_zip(archive, tmp_path / "out")
    assert [p.relative_to((tmp_path / "out").resolve()).as_posix() for p in out] == ["a.png", "sub/b.JPG"]
    assert out[0].read_bytes() == png
    assert not (tmp_path / "out" / "notes.txt").exists()


@pytest.mark.parametrize("name", ["../evil.png", "/abs/evil.png", "ok/../../evil.png", "C:/evil.png"])
def test_zip_refuses_paths_outside_dest(tmp_path, name):
    archive = _zip(tmp_path / "in.zip", {"fine.png": b"x", name: b"evil"})
    assert name in zipfile.ZipFile(archive).namelist()  # zipfile kept the hostile name
    with pytest.raises(InputError, match="points outside the folder"):
        safe_extract_zip(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []  # refused before anything was written
    assert not (tmp_path / "evil.png").exists()


def test_zip_refuses_symlinks(tmp_path):
    archive = _zip(tmp_path / "in.zip", {"a.png": b"x"}, symlinks=["link.png"])
    with pytest.raises(InputError, match="'link.png' is a symbolic link"):
        safe_extract_zip(archive, tmp_path / "out")


def test_zip_bomb_stops_before_writing(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("bomb.png", "w") as f:
        for _ in range(201):
            f.write(bytes(1_000_000))  # 201 MB of zeros
    assert archive.stat().st_size < 1_000_000
    with pytest.raises(InputError, match="unpack to more than 200.0 MB"):
        safe_extract_zip(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_zip_member_lying_about_its_size_leaves_nothing(tmp_path):
    archive = _zip(tmp_path / "in.zip", {"a.png": b"x" * 1000, "b.png": bytes(5000)})
    data = bytearray(archive.read_bytes())
    # Rewrite b.png's uncompressed size to 10 bytes in both the local header and the central directory.
    local = data.index(b"PK\x03\x04", data.index(b"PK\x03\x04") + 1)
    struct.pack_into("<I", data, local + 22, 10)
    central = data.rindex(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 10)
    archive.write_bytes(bytes(data))
    with pytest.raises(InputError, match="archive is corrupt: member 'b.png'"):
        safe_extract_zip(archive, tmp_path / "out")
    assert not any(p.is_file() for p in (tmp_path / "out").rglob("*"))  # a.png was written, then removed


def test_zip_with_damaged_offsets_is_refused(tmp_path):
    archive = _zip(tmp_path / "in.zip", {"a.png": b"x" * 100, "b.png": b"y" * 100})
    data = bytearray(archive.read_bytes())
    end = data.rindex(b"PK\x05\x06")  # end of central directory: its offset field moves every member
    struct.pack_into("<I", data, end + 16, struct.unpack_from("<I", data, end + 16)[0] + 1000)
    archive.write_bytes(bytes(data))
    with pytest.raises(InputError, match="archive is corrupt: member 'a.png'"):
        safe_extract_zip(archive, tmp_path / "out")  # zipfile itself raises OSError (a negative seek) here
    assert list((tmp_path / "out").iterdir()) == []


def test_zip_limits_and_non_zip(tmp_path):
    archive = _zip(tmp_path / "in.zip", {f"{i}.png": b"x" * 100 for i in range(5)})
    with pytest.raises(InputError, match="more than 3 images"):
        safe_extract_zip(archive, tmp_path / "out", max_files=3)
    with pytest.raises(InputError, match="unpack to more than"):
        safe_extract_zip(archive, tmp_path / "out", max_total_bytes=450)
    assert len(safe_extract_zip(archive, tmp_path / "out", max_total_bytes=500)) == 5
    clash = _zip(tmp_path / "clash.zip", {"a.png": b"x", "a.png/b.png": b"y"})
    with pytest.raises(InputError, match="clashes with another member"):
        safe_extract_zip(clash, tmp_path / "out3")
    (tmp_path / "fake.zip").write_bytes(b"not a zip at all")
    with pytest.raises(InputError, match="not a readable zip archive"):
        safe_extract_zip(tmp_path / "fake.zip", tmp_path / "out2")


def test_read_document_reads_files_and_returns_typed_text_unchanged(tmp_path, monkeypatch):
    (tmp_path / "notes.md").write_bytes("# Notes\r\nThe tide turns at noon.\r\n".encode("utf-8-sig"))
    assert read_document(tmp_path / "notes.md") == "# Notes\nThe tide turns at noon.\n"
    monkeypatch.chdir(tmp_path)
    assert read_document("notes.md") == "# Notes\nThe tide turns at noon.\n"  # a path given as a string
    typed = "notes.md"
    assert read_document(typed, as_text=True) is typed  # what a visitor typed is never a file name
    text = "The tide turns at noon."
    assert read_document(text) is text  # unchanged, so answer offsets index the caller's own string
    with pytest.raises(InputError, match="empty"):
        read_document("   ")
    with pytest.raises(InputError, match="not bytes"):
        read_document(b"text")
