"""Figures of a Markdown document read as text: each local image gets a caption sentence beside it.

A question about a picture ("What does the second photo show?") can only be answered from words, so before a
.md document is indexed, every image it references with ``![alt](path)`` is captioned (by any captioning
pipeline) and the sentence "Figure: <caption>." is inserted right after the reference.
:class:`DescribedDocument` keeps the insertions, so offsets found in the described text map back to the
original document: a span inside an inserted caption maps to the ``![alt](path)`` reference it describes.

Only relative paths are followed, from the document's folder (``../images/a.png`` is fine); absolute paths,
URLs and data URIs are skipped, so nothing is fetched, and each image goes through
:func:`mmkit.inputs.load_image`'s checks. The apps never use this: they pass a visitor's document as text, so
an uploaded file cannot point at server files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

# ![alt](src) or ![alt](src "title"); src without spaces, as CommonMark writes it unless it is in <...>.
FIGURE = re.compile(r"!\[(?P<alt>[^\]\n]*)\]\((?P<src>[^)\s]+)(?:\s+\"[^\"\n]*\")?\)")
MAX_FIGURES = 64  # a document with hundreds of images is captioned in part: the first 64


@dataclass(frozen=True)
class Figure:
    """An image reference: its character span in the document, alt text and the resolved local file."""

    start: int
    end: int
    alt: str
    path: Path


def find_figures(text: str, folder: str | Path) -> list[Figure]:
    """The local images that ``text`` (a Markdown document stored in ``folder``) references, in order.

    Skipped: URLs, data URIs, absolute paths and files that do not exist.
    """
    figures = []
    for match in FIGURE.finditer(text):
        source = unquote(match["src"])
        if "://" in source or source.startswith(("data:", "/", "\\")) or Path(source).is_absolute():
            continue
        path = (Path(folder) / source).resolve()
        if path.is_file():
            figures.append(Figure(match.start(), match.end(), match["alt"].strip(), path))
        if len(figures) == MAX_FIGURES:
            break
    return figures


@dataclass
class DescribedDocument:
    """The document with "Figure: <caption>." after each figure, and the map back to the original offsets."""

    text: str
    inserts: list[tuple[int, int, Figure, str]]  # (position in ``text``, length inserted, figure, caption)

    def original(self, position: int, side: str = "start") -> int:
        """Offset in the original document of ``position`` in :attr:`text`; inside an inserted caption, the
        start (side="start") or end (side="end") of the figure reference it describes."""
        shift = 0
        for at, length, figure, _ in self.inserts:
            if position < at:
                break
            if position < at + length or (side == "end" and position == at + length):
                return figure.start if side == "start" else figure.end
            shift += length
        return position - shift

    def figure_at(self, start: int, end: int) -> tuple[Figure, str] | None:
        """The figure (and its caption) whose reference or inserted sentence overlaps ``text[start:end]``."""
        for at, length, figure, caption in self.inserts:
            if start < at + length and at - (figure.end - figure.start) < end:
                return figure, caption
        return None


def describe_figures(text: str, figures: list[Figure], captions: list[str]) -> DescribedDocument:
    """Insert " Figure: <caption>." after each figure of ``text`` (``captions`` aligned with ``figures``; an
    empty caption inserts nothing)."""
    pieces, inserts, cursor, shift = [], [], 0, 0
    for figure, caption in zip(figures, captions):
        if not caption.strip():
            continue  # an image the captioner could not read adds nothing
        sentence = f" Figure: {caption.strip().rstrip('.')}."
        pieces += [text[cursor : figure.end], sentence]
        inserts.append((figure.end + shift, len(sentence), figure, caption))
        cursor, shift = figure.end, shift + len(sentence)
    pieces.append(text[cursor:])
    return DescribedDocument("".join(pieces), inserts)
