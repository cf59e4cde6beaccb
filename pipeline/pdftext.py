"""A PDF -> the lines printed on each page, where, and in which font.

Read with pdfium (pypdfium2), which is fast enough to read a whole book in a
fraction of a second, for preflight and for the tests. Coordinates are PDF
points from the bottom-left corner of the page.
"""

from __future__ import annotations

import ctypes
import hashlib
import re
import sys
from array import array
from collections.abc import Collection
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw

from pipeline.incremental import as_written

RUNNING_HEAD_BAND_PT = 57  # the top margin (20 mm) holds the running head
FOLIO_BAND_PT = 62  # the bottom margin (22 mm) holds the folio


@dataclass(frozen=True)
class Line:
    text: str
    x: float  # left edge of the first character
    y: float  # bottom of the first character's box
    font: str  # PostScript name, without the subset tag
    size: float
    right: float = 0.0  # right edge of the last character's advance (not its ink)

    @property
    def bold(self) -> bool:
        return "Bold" in self.font


@dataclass(frozen=True)
class Page:
    width: float
    height: float
    lines: tuple[Line, ...]
    head_band: float = RUNNING_HEAD_BAND_PT  # top of the media to the top of the text area
    foot_band: float = FOLIO_BAND_PT
    graphics: int = 0  # drawings and images inside the text area (ruled lines, pictures)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def running_head(self) -> str:
        return " ".join(
            line.text for line in self.lines if line.y >= self.height - self.head_band
        )

    @property
    def folio(self) -> str:
        return " ".join(line.text for line in self.lines if line.y < self.foot_band)

    def __getstate__(self) -> dict[str, object]:
        return {name: value for name, value in self.__dict__.items() if name != "body"}

    @cached_property
    def body(self) -> tuple[Line, ...]:
        """The lines between the running head and the folio (worked out once)."""
        return tuple(
            line for line in self.lines
            if self.foot_band <= line.y < self.height - self.head_band
        )


def read_pages(
    path: Path, head_band: float = RUNNING_HEAD_BAND_PT, foot_band: float = FOLIO_BAND_PT,
    only: Collection[int] | None = None,
) -> list[Page]:
    """Every page's lines (or those of the pages numbered in `only`, in order); the
    bands say how far the running heads and folios reach."""
    document = pdfium.PdfDocument(str(path))
    try:
        indexes = range(len(document)) if only is None else sorted(only)
        return [_read_page(document[index], head_band, foot_band) for index in indexes]
    finally:
        document.close()


# Page keys that do not change what is printed on the page, nor its text.
NOT_PRINTED = frozenset({"/Parent", "/Annots", "/StructParents", "/StructParent", "/B",
                         "/Metadata", "/PieceInfo", "/Thumb", "/Tabs"})


def page_digests(document: pikepdf.Pdf) -> list[str]:
    """For each page, a digest of all that its printed text is read from.

    Its content streams, its resources (fonts with their programs and maps,
    forms, images, all followed down) and its boxes; not its place in the
    document, its links or its tags. Two pages with the same digest read the
    same, in any PDF: so the text of a page that an edit did not touch is not
    read again (check.py keeps it by this digest).
    """
    memo: dict[tuple[int, int], bytes] = {}
    return [_object_digest(page.obj, memo, set()).hex() for page in document.pages]


def contents_digest(owner: pikepdf.Page | pikepdf.Object) -> str:
    """A digest of a page's content streams alone, or of a form's (what is drawn,
    not with what)."""
    if isinstance(owner, pikepdf.Stream):
        streams = [owner]
    else:
        obj = owner.obj if isinstance(owner, pikepdf.Page) else owner
        contents = obj.get("/Contents")
        streams = list(contents) if isinstance(contents, pikepdf.Array) else [contents]
    digest = hashlib.sha256()
    for stream in streams:
        if isinstance(stream, pikepdf.Stream):
            digest.update(repr(stream.get("/Filter")).encode())
            digest.update(stream.read_raw_bytes())
    return digest.hexdigest()


def _object_digest(item: pikepdf.Object, memo: dict[tuple[int, int], bytes],
                   visiting: set[tuple[int, int]]) -> bytes:
    if not isinstance(item, pikepdf.Object):  # a number or a boolean, as Python has it
        return f"{type(item).__name__}:{item!r}".encode()
    key = item.objgen if item.is_indirect else None
    if key is not None:
        if key in memo:
            return memo[key]
        if key in visiting:
            return b"cycle"
        visiting.add(key)
    digest = hashlib.sha256()
    if isinstance(item, pikepdf.Dictionary | pikepdf.Stream):
        digest.update(b"S" if isinstance(item, pikepdf.Stream) else b"D")
        for name in sorted(item.keys()):
            if name not in NOT_PRINTED:
                digest.update(name.encode("utf-8", "surrogateescape"))
                digest.update(_object_digest(item[name], memo, visiting))
        if isinstance(item, pikepdf.Stream):
            digest.update(item.read_raw_bytes())
    elif isinstance(item, pikepdf.Array):
        text = as_written(item)
        if text is not None:
            digest.update(b"a" + text)
        else:
            digest.update(b"A")
            for element in item:
                digest.update(_object_digest(element, memo, visiting))
    else:
        digest.update(item.unparse(resolved=True))
    value = digest.digest()
    if key is not None:
        visiting.discard(key)
        memo[key] = value
    return value


def _read_page(page: pdfium.PdfPage, head_band: float, foot_band: float) -> Page:
    width, height = page.get_size()
    textpage = page.get_textpage()
    count = textpage.count_chars()
    text = textpage.get_text_range(0, count) if count else ""
    lines = []
    start = 0
    # pdfium puts generated "\r\n" between lines; indexes in `text` are char indexes.
    for piece in text.split("\r\n"):
        if piece.strip():
            first = start + len(piece) - len(piece.lstrip())
            last = start + len(piece.rstrip()) - 1
            for at, end, right in _printed_lines(textpage, text, first, last):
                left, bottom, _, _ = textpage.get_charbox(at)
                lines.append(
                    Line(text[at : end + 1], left, bottom, _font(textpage, at),
                         pdfium_raw.FPDFText_GetFontSize(textpage, at), right)
                )
        start += len(piece) + 2
    textpage.close()
    graphics = 0
    for item in page.get_objects(max_depth=2):
        if item.type in (pdfium_raw.FPDF_PAGEOBJ_PATH, pdfium_raw.FPDF_PAGEOBJ_IMAGE):
            _, bottom, _, top = item.get_bounds()
            if bottom >= foot_band - 1 and top <= height - head_band + 1:
                graphics += 1
    page.close()
    return Page(width, height, tuple(lines), head_band, foot_band, graphics)


def _printed_lines(
    textpage: pdfium.PdfTextPage, text: str, first: int, last: int
) -> list[tuple[int, int, float]]:
    """pdfium's line, characters `first` to `last`: the printed lines in it.

    Each as (first, last, right edge of the last one's advance). pdfium joins
    a word hyphenated over two lines into one line, which is kept; but now and
    then it also runs a line into one printed further down at the same edge (a
    folio under the last contents number), which is split off.
    """
    _, low, _, high = textpage.get_charbox(first, loose=True)
    _, bottom, right, top = textpage.get_charbox(last, loose=True)
    if bottom < high and top > low:  # the common case: one line
        return [(first, last, right)]
    start = last  # of the characters on the last one's line
    while start > first:
        _, below, _, above = textpage.get_charbox(start - 1, loose=True)
        if not (text[start - 1].isspace() or (below < top and above > bottom)):
            break
        start -= 1
    end = start - 1
    while end >= first and text[end].isspace():
        end -= 1
    if end < first or text[end] == "\ufffe":  # a hyphenated word, on two lines
        return [(first, last, right)]
    tail = start + len(text[start : last + 1]) - len(text[start : last + 1].lstrip())
    return [(first, end, textpage.get_charbox(end, loose=True)[2]), (tail, last, right)]


def _font(textpage: pdfium.PdfTextPage, index: int) -> str:
    buffer = ctypes.create_string_buffer(128)
    flags = ctypes.c_int()
    pdfium_raw.FPDFText_GetFontInfo(textpage, index, buffer, 128, ctypes.byref(flags))
    return buffer.value.decode("latin-1").split("+", 1)[-1]


def glyph_ids(raw: bytes) -> array[int]:
    """The glyph ids in a string shown with a two-byte (Identity-H) font."""
    glyphs = array("H", raw[: len(raw) - len(raw) % 2])
    if sys.byteorder == "little":
        glyphs.byteswap()
    return glyphs


TEXT_RE = re.compile(
    rb"/([^\s/\[\]<>(){}%]+)\s+[-+0-9.]+\s+Tf"  # select a font
    rb"|\[([^\]]*)\]\s*TJ"  # show strings, with kerning
    rb"|<([0-9A-Fa-f\s]*)>\s*(?:Tj|'|\")"  # show one string
)
HEX_RE = re.compile(rb"<([0-9A-Fa-f\s]*)>")


def shown_glyphs(owner: pikepdf.Object) -> dict[str, array[int]]:
    """Font resource name -> the two-byte glyph ids a content stream shows with it.

    Meant for fonts with two-byte codes (Type0, Identity-H), as WeasyPrint
    writes them. A regular expression over the decoded stream is ten times
    faster than parsing it into objects; a stream with literal strings
    "(...)", which the expression does not read, is parsed properly instead.
    """
    if isinstance(owner, pikepdf.Stream):
        data = owner.read_bytes()
    else:
        contents = owner.get("/Contents")
        parts = contents if isinstance(contents, pikepdf.Array) else [contents]
        data = b"\n".join(part.read_bytes() for part in parts if part is not None)
    found: dict[str, list[bytes]] = {}
    if b"(" in data:
        current = None
        for operands, operator in pikepdf.parse_content_stream(owner, "Tf Tj TJ ' \""):
            if str(operator) == "Tf":
                current = found.setdefault(str(operands[0])[1:], [])
            elif current is not None:
                items = operands[0] if str(operator) == "TJ" else [operands[-1]]
                current.extend(bytes(i) for i in items if isinstance(i, pikepdf.String))
    else:
        current = None
        for match in TEXT_RE.finditer(data):
            font, array_, single = match.groups()
            if font is not None:
                current = found.setdefault(font.decode("latin-1"), [])
            elif current is not None:
                hexes = HEX_RE.findall(array_) if array_ is not None else [single]
                current.append(bytes.fromhex(b"".join(hexes).decode("ascii")))
    return {name: glyph_ids(b"".join(chunks)) for name, chunks in found.items()}
