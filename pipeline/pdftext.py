"""A PDF -> the lines printed on each page, where, and in which font.

Read with pdfium (pypdfium2), which is fast enough to read a whole book in a
fraction of a second, for preflight and for the tests. Coordinates are PDF
points from the bottom-left corner of the page.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw

RUNNING_HEAD_BAND_PT = 57  # the top margin (20 mm) holds the running head
FOLIO_BAND_PT = 62  # the bottom margin (22 mm) holds the folio


@dataclass(frozen=True)
class Line:
    text: str
    x: float  # left edge of the first character
    y: float  # bottom of the first character's box
    font: str  # PostScript name, without the subset tag
    size: float

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

    @property
    def body(self) -> tuple[Line, ...]:
        return tuple(
            line for line in self.lines
            if self.foot_band <= line.y < self.height - self.head_band
        )


def read_pages(
    path: Path, head_band: float = RUNNING_HEAD_BAND_PT, foot_band: float = FOLIO_BAND_PT
) -> list[Page]:
    """Every page's lines; the bands say how far the running heads and folios reach."""
    document = pdfium.PdfDocument(str(path))
    try:
        return [
            _read_page(document[index], head_band, foot_band) for index in range(len(document))
        ]
    finally:
        document.close()


def _read_page(page: pdfium.PdfPage, head_band: float, foot_band: float) -> Page:
    width, height = page.get_size()
    textpage = page.get_textpage()
    count = textpage.count_chars()
    text = textpage.get_text_range(0, count) if count else ""
    lines = []
    start = 0
    # pdfium puts generated "\r\n" between lines; indexes in `text` are char indexes.
    for piece in text.split("\r\n"):
        stripped = piece.strip()
        if stripped:
            first = start + (len(piece) - len(piece.lstrip()))
            left, bottom, _, _ = textpage.get_charbox(first)
            lines.append(
                Line(stripped, left, bottom, _font(textpage, first),
                     pdfium_raw.FPDFText_GetFontSize(textpage, first))
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


def _font(textpage: pdfium.PdfTextPage, index: int) -> str:
    buffer = ctypes.create_string_buffer(128)
    flags = ctypes.c_int()
    pdfium_raw.FPDFText_GetFontInfo(textpage, index, buffer, 128, ctypes.byref(flags))
    return buffer.value.decode("latin-1").split("+", 1)[-1]
