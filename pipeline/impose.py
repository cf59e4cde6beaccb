"""A linear book PDF -> sheets for saddle stitching (two pages per side, landscape).

The page order is pure arithmetic (saddle_order); placing pages on sheets is
pypdf. Sheet k (from 0) of a signature of n pages carries, 1-based:

    front = [n - 2k, 2k + 1]     back = [2k + 2, n - 2k - 1]

(left half, right half), for printing double-sided with a flip on the short
edge. A book thicker than `signature_sheets` is split into signatures: each
is folded on its own and they are stacked (or, `nested`, put one inside the
next, which gives the same order as one big signature). Creep moves the
pages of each inner sheet a little toward the fold (or outward, if negative)
so that a thick booklet trims evenly.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from pipeline.model import PT_PER_MM, Edition


@dataclass(frozen=True)
class Side:
    left: int | None  # 1-based page number in the book, None for a blank half
    right: int | None


@dataclass(frozen=True)
class Sheet:
    number: int  # 1-based, in printing order
    signature: int  # 1-based
    depth: int  # 0 = the outermost sheet of its signature
    front: Side
    back: Side


def saddle_order(pages: int, signature_sheets: int = 12, nested: bool = False) -> list[Sheet]:
    """The sheets for `pages` pages (padded with blanks to a multiple of 4)."""
    padded = -(-pages // 4) * 4
    per_signature = max(1, signature_sheets)
    sheets: list[Sheet] = []
    if nested:
        # Nested signatures make one booklet: one order, sheets counted from the outside.
        for k in range(padded // 4):
            sheets.append(_sheet(len(sheets) + 1, k // per_signature + 1, k, 0, padded, pages))
        return sheets
    offset = 0
    signature = 0
    while offset < padded:
        signature += 1
        size = min(per_signature * 4, padded - offset)
        for k in range(size // 4):
            sheets.append(_sheet(len(sheets) + 1, signature, k, offset, size, pages))
        offset += size
    return sheets


def _sheet(number: int, signature: int, k: int, offset: int, size: int, pages: int) -> Sheet:
    """Sheet k of a signature of `size` pages starting after page `offset`."""

    def at(position: int) -> int | None:
        return offset + position if offset + position <= pages else None

    return Sheet(
        number=number,
        signature=signature,
        depth=k,
        front=Side(at(size - 2 * k), at(2 * k + 1)),
        back=Side(at(2 * k + 2), at(size - 2 * k - 1)),
    )


def impose(linear_pdf: bytes, edition: Edition, marks_pdf: bytes | None = None) -> bytes:
    """Place the book's pages on landscape sheets; `marks_pdf` has one page per sheet side."""
    assert edition.paper is not None
    from pypdf import PdfReader, PdfWriter, Transformation  # (loaded for a folded edition)

    book = PdfReader(io.BytesIO(linear_pdf))
    marks = PdfReader(io.BytesIO(marks_pdf)) if marks_pdf else None
    sheet_width = edition.paper.height_mm * PT_PER_MM  # landscape
    sheet_height = edition.paper.width_mm * PT_PER_MM
    half = sheet_width / 2
    writer = PdfWriter()
    for index, (sheet, _, side) in enumerate(sheet_sides(len(book.pages), edition)):
        target = writer.add_blank_page(sheet_width, sheet_height)
        creep = sheet.depth * edition.creep_mm * PT_PER_MM
        for number, left_half in ((side.left, True), (side.right, False)):
            if number is None:
                continue
            source = book.pages[number - 1]
            width = float(source.mediabox.width)
            height = float(source.mediabox.height)
            # Each page sits against the fold, centred top to bottom; creep moves it
            # toward the fold, so a left page moves right and a right page left.
            x = half - width + creep if left_half else half - creep
            y = (sheet_height - height) / 2
            target.merge_transformed_page(source, Transformation().translate(x, y))
        if marks is not None:
            target.merge_page(marks.pages[index])
        target.compress_content_streams()
    writer.compress_identical_objects(remove_duplicates=True, remove_unreferenced=True)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def sheet_sides(pages: int, edition: Edition) -> list[tuple[Sheet, str, Side]]:
    """Every printed side in order, for the marks document: (sheet, 'front'/'back', side)."""
    out = []
    for sheet in saddle_order(pages, edition.signature_sheets, edition.nested):
        out.append((sheet, "front", sheet.front))
        out.append((sheet, "back", sheet.back))
    return out
