"""The documents long-text QA reads: a .txt/.md/.pdf file, or text typed by a person, as one string.

File checks (size, encoding) are :mod:`mmkit.inputs`'; PDF text extraction is :mod:`mmkit.longtext.pdf`'s.
"""

from __future__ import annotations

import os

from mmkit import inputs
from mmkit.errors import InputError
from mmkit.inputs import load_text_file, validate_text
from mmkit.longtext.pdf import pdf_text


def _read_document_file(path: str | os.PathLike) -> str:
    if str(path).lower().endswith(".pdf"):
        text = pdf_text(path)
        # checked, returned unchanged
        validate_text(text, max_chars=inputs.MAX_DOCUMENT_BYTES, what="PDF's text")
        return text
    return load_text_file(path)


def read_document(document: str | os.PathLike, as_text: bool = False) -> str:
    """The text of ``document``: a Path or an existing .txt/.md/.pdf path is read from disk, else the string
    itself.

    A .txt/.md file is read with ``load_text_file`` (size and encoding checked; offsets then refer to the text
    as read, with "\\r\\n" made "\\n"). A .pdf is read with :func:`mmkit.longtext.pdf.pdf_text`: its text
    layer, page by page, so offsets refer to that *extracted* text, not to bytes of the file. A string is
    checked (not empty, at most MAX_DOCUMENT_BYTES characters) but returned unchanged, so offsets in the
    answer index the very string the caller passed. ``as_text=True`` never reads a file: apps pass what a
    visitor typed that way, so typing "README.md" cannot read a file of the server.
    """
    if isinstance(document, os.PathLike):
        return _read_document_file(document)
    if not isinstance(document, str):
        raise InputError(
            f"document must be text or a path to a .txt/.md/.pdf file, not {type(document).__name__}"
        )
    looks_like_path = (
        "\n" not in document and len(document) < 4096 and document.lower().endswith((".txt", ".md", ".pdf"))
    )
    if looks_like_path and not as_text:
        return _read_document_file(document)
    validate_text(document, max_chars=inputs.MAX_DOCUMENT_BYTES, what="document")
    return document
