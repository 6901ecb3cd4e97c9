"""Fuzzing the input checks and the text classifier with hypothesis: only InputError ever comes out.

A public Space gets arbitrary text and bytes. Whatever arrives, ``validate_text``, ``load_text_file``,
``load_image``, ``safe_extract_zip`` and the text-classification pipeline either return a clean value or raise
:class:`InputError` -- never a TypeError from a tokenizer, a Pillow exception, or a file outside the target folder.
"""

import io
import struct
import unicodedata
import zipfile

import pytest
from hardening_files import encode, picture
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

import mmkit
from mmkit.errors import InputError
from mmkit.inputs import MAX_TEXT_CHARS, load_image, load_text_file, safe_extract_zip, validate_text

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PLAIN_TEXT = st.text(st.characters(exclude_categories=()), max_size=300)
# Half the examples hold a lone surrogate: JSON "\ud800" reaches a server as exactly such a string.
ANY_TEXT = st.one_of(PLAIN_TEXT, st.tuples(PLAIN_TEXT, st.characters(categories=["Cs"]), PLAIN_TEXT).map("".join))


def _flip(data: bytes, positions: list[int], values: list[int]) -> bytes:
    out = bytearray(data)
    for position, value in zip(positions, values):
        out[position % len(out)] = value
    return bytes(out)


@pytest.fixture(scope="module")
def clf():
    return mmkit.pipeline("text-classification")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


# ------------------------------------------------------------------------------------------------ text


@FUZZ
@given(st.one_of(ANY_TEXT, st.binary(max_size=300)))
def test_validate_text_returns_clean_text_or_input_error(value):
    try:
        text = validate_text(value, max_chars=200)
    except InputError:
        return
    assert text and text == text.strip() and len(text) <= 200
    assert text == unicodedata.normalize("NFC", text)
    text.encode("utf-8")  # what a tokenizer or a JSON reply needs


@pytest.mark.parametrize("text", ["\ud800", "ok \udfff then", "\udc80\udc81"])
def test_lone_surrogates_are_refused_with_a_message(text):
    # Python's json module decodes "\ud800" into this string; tokenizers then raise TypeError.
    with pytest.raises(InputError, match="(?i)unicode|utf-8|surrogate"):
        validate_text(text)


@FUZZ
@given(ANY_TEXT)
def test_classifier_answers_or_refuses_any_text(clf, text):
    try:
        ranked = clf(text)
    except InputError:
        return
    scores = [row["score"] for row in ranked]
    assert sorted(row["label"] for row in ranked) == sorted(clf.labels)
    assert scores == sorted(scores, reverse=True) and abs(sum(row["score"] for row in ranked) - 1) < 1e-4


@FUZZ
@given(st.binary(max_size=2000), st.sampled_from([".txt", ".md"]))
def test_load_text_file_reads_or_refuses_any_bytes(scratch, data, suffix):
    path = scratch / f"doc{suffix}"
    path.write_bytes(data)
    try:
        text = load_text_file(path)
    except InputError:
        return
    assert text.strip() and "\r" not in text


def test_text_limits_in_characters_and_bytes():
    with pytest.raises(InputError, match="too long"):
        validate_text("é" * (MAX_TEXT_CHARS + 1))
    with pytest.raises(InputError, match="too long"):  # a 1 MB paste is refused before it is normalised
        validate_text(("word " * 200_000).encode())


# ------------------------------------------------------------------------------------------------ images

SEEDS = {fmt: encode(picture(), fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")}


@FUZZ
@given(
    st.sampled_from(sorted(SEEDS)),
    st.lists(st.integers(0, 10**6), min_size=1, max_size=8),
    st.lists(st.integers(0, 255), min_size=8, max_size=8),
    st.one_of(st.none(), st.integers(0, 10**6)),
)
@example("GIF", [1592], [0] * 8, None)  # found by this test: Pillow's ValueError "tile cannot extend outside image"
def test_load_image_on_damaged_files_gives_an_image_or_input_error(fmt, positions, values, cut):
    data = _flip(SEEDS[fmt], positions, values)
    if cut is not None:
        data = data[: cut % len(data)]
    try:
        image = load_image(data)
    except InputError:
        return
    assert image.mode == "RGB" and image.width * image.height > 0


@FUZZ
@given(st.binary(max_size=3000))
def test_load_image_on_random_bytes(data):
    try:
        image = load_image(data)
    except InputError:
        return
    assert image.mode == "RGB"


# ------------------------------------------------------------------------------------------------ zip archives


def _seed_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.png", SEEDS["PNG"])
        zf.writestr("dir/b.jpg", SEEDS["JPEG"])
    return buffer.getvalue()


ZIP_SEED = _seed_zip()


@FUZZ
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=6), st.lists(st.integers(0, 255), min_size=6, max_size=6))
def test_damaged_zip_extracts_inside_the_folder_or_is_refused(scratch, positions, values):
    archive = scratch / "upload.zip"
    archive.write_bytes(_flip(ZIP_SEED, positions, values))
    dest = scratch / "out"
    before = {p for p in scratch.rglob("*") if p.is_file()} - {archive}
    try:
        paths = safe_extract_zip(archive, dest)
    except InputError:
        paths = []
    for path in paths:
        assert path.resolve().is_relative_to(dest.resolve())
    after = {p for p in scratch.rglob("*") if p.is_file()} - {archive}
    assert all(p.resolve().is_relative_to(dest.resolve()) for p in after - before)
    for path in paths:
        path.unlink()


def _patch(data: bytes, signature: bytes, offset: int, fmt: str, value: int) -> bytes:
    """Overwrite the field ``fmt`` at ``offset`` in every header that starts with ``signature``."""
    out = bytearray(data)
    start = out.find(signature)
    while start != -1:
        struct.pack_into(fmt, out, start + offset, value)
        start = out.find(signature, start + 1)
    return bytes(out)


def _unknown_version(archive: bytes) -> bytes:  # "version needed to extract" 14.0, in the central directory
    return _patch(archive, b"PK\x01\x02", 6, "<B", 140)


def _unknown_compression(archive: bytes) -> bytes:  # method 99 in the local headers and the central directory
    return _patch(_patch(archive, b"PK\x03\x04", 8, "<H", 99), b"PK\x01\x02", 10, "<H", 99)


@pytest.mark.parametrize(("damage", "words"), [
    # Found by the fuzz test above: zipfile.ZipFile() itself raises NotImplementedError for an unknown version.
    (_unknown_version, r"not a readable zip archive \(zip file version 14.0\)"),
    (_unknown_compression, "cannot be unpacked: .*compression"),
], ids=["unknown zip version", "unknown compression"])
def test_archives_zipfile_cannot_read_are_refused(scratch, damage, words):
    archive = scratch / "odd.zip"
    archive.write_bytes(damage(ZIP_SEED))
    dest = scratch / "odd"
    with pytest.raises(InputError, match=words):
        safe_extract_zip(archive, dest)
    assert not [p for p in dest.rglob("*") if p.is_file()]


def test_fuzz_seeds_are_valid_images():
    """The damaged files above start from real images in every accepted format."""
    for fmt, data in SEEDS.items():
        assert Image.open(io.BytesIO(data)).format == fmt
        assert load_image(data).size == (64, 64)
