"""A tall sheet of page furniture -> one page per book page.

WeasyPrint's cost per page is about 12 ms whatever is on it, and a page of
furniture holds two short lines. So templates/furniture.html sets a run of
pages' running heads and folios on one sheet, each page's in a slot as tall
as the page, one below the other; this cuts the sheet into pages again. Each
drawing on the sheet (a piece of text, a path, an image) goes, with the
graphics state it was drawn in, to the page of the slot it starts in, moved
up by that slot's offset. The pages share the sheet's resources (fonts).
(A running head is one line: one too long ends in an ellipsis, so nothing
starts in a slot and ends in the one above.)
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import pikepdf

Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)

# Operators that build a path (or make it a clip), that paint (or clip and end) one, and that
# only change the graphics state.
PATH = frozenset({"m", "l", "c", "v", "y", "h", "re", "W", "W*"})
PAINT = frozenset({"S", "s", "f", "F", "f*", "B", "B*", "b", "b*", "n"})
MARKED = frozenset({"BMC", "BDC", "EMC", "MP", "DP"})  # the overlay marks it an artifact


def cut_sheet(pdf: bytes, slots: int) -> bytes:
    """The one page of `pdf`, cut into `slots` pages of equal height, top first."""
    with pikepdf.open(io.BytesIO(pdf)) as sheet_pdf:
        if len(sheet_pdf.pages) != 1:
            raise AssertionError(f"a furniture sheet came out as {len(sheet_pdf.pages)} pages")
        sheet = sheet_pdf.pages[0]
        x0, y0, x1, y1 = (float(v) for v in sheet.mediabox)
        height = (y1 - y0) / slots
        drawn: list[list[bytes]] = [[] for _ in range(slots)]
        for where, operations in _drawings(pikepdf.parse_content_stream(sheet)):
            slot = min(slots - 1, max(0, int((y1 - where) // height)))
            # Moved up so that the slot's bottom edge is the page's.
            lift = _number(-(y1 - (slot + 1) * height - y0))
            drawn[slot].append(b"q 1 0 0 1 0 " + lift + b" cm\n"
                               + pikepdf.unparse_content_stream(operations) + b"\nQ\n")
        out = pikepdf.new()
        resources = out.copy_foreign(sheet_pdf.make_indirect(sheet.obj.Resources))
        box = pikepdf.Array([x0, 0, x1, height])
        for pieces in drawn:
            page = out.add_blank_page(page_size=(x1 - x0, height))
            page.obj.MediaBox = box
            page.obj.Resources = resources
            page.obj.Contents = out.make_stream(b"".join(pieces))
        written = io.BytesIO()
        out.save(written, compress_streams=True, deterministic_id=True)
        return written.getvalue()


def _drawings(operations: Sequence[pikepdf.ContentStreamInstruction]
              ) -> list[tuple[float, list[tuple[list[object], pikepdf.Operator]]]]:
    """Each drawing on the sheet, as (the height it starts at, operations that redo it).

    A drawing is a text object, a path with the operator that paints it, or an
    image or form; its operations start with every state operator in force
    (saved states included), so that it draws the same on a page of its own.
    """
    states: list[tuple[list[tuple[list[object], pikepdf.Operator]], Matrix]] = []
    state: list[tuple[list[object], pikepdf.Operator]] = []
    ctm = IDENTITY
    found: list[tuple[float, list[tuple[list[object], pikepdf.Operator]]]] = []
    text: list[tuple[list[object], pikepdf.Operator]] | None = None
    text_at: float | None = None
    path: list[tuple[list[object], pikepdf.Operator]] = []
    for instruction in operations:
        if isinstance(instruction, pikepdf.ContentStreamInlineImage):
            raise AssertionError("an inline image in the page furniture")
        operands, operator = list(instruction.operands), instruction.operator
        name = str(operator)
        if name in MARKED:
            continue
        if text is not None:  # inside BT ... ET
            text.append((operands, operator))
            if name == "Tm" and text_at is None:
                text_at = _apply(ctm, float(operands[4]), float(operands[5]))[1]
            if name == "ET":
                if text_at is None:
                    raise AssertionError("a text object in the page furniture has no Tm")
                found.append((text_at, [*state, *text]))
                text, text_at = None, None
            continue
        if name == "BT":
            text = [(operands, operator)]
        elif name == "q":
            states.append((list(state), ctm))
        elif name == "Q":
            state, ctm = states.pop() if states else ([], IDENTITY)
        elif name in PATH:
            path.append((operands, operator))
        elif name in PAINT:
            path.append((operands, operator))
            clips = any(str(op) in ("W", "W*") for _, op in path)
            if clips:
                state.extend(path)  # a clip holds for what follows, like a state
            if name != "n":
                x, y = _path_start(path)
                found.append((_apply(ctm, x, y)[1], [*state] if clips else [*state, *path]))
            path = []
        elif name in ("Do", "sh"):
            found.append((_apply(ctm, 0.0, 0.0)[1], [*state, (operands, operator)]))
        else:
            state.append((operands, operator))
            if name == "cm":
                ctm = _multiply(tuple(float(v) for v in operands), ctm)  # type: ignore[arg-type]
    return found


def _path_start(path: list[tuple[list[object], pikepdf.Operator]]) -> tuple[float, float]:
    for operands, operator in path:
        if str(operator) in ("m", "re"):
            return float(operands[0]), float(operands[1])  # type: ignore[arg-type]
    return 0.0, 0.0


def _multiply(a: Matrix, b: Matrix) -> Matrix:
    """a then b (PDF's order: a new cm's matrix times the current one)."""
    return (a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3],
            a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3],
            a[4] * b[0] + a[5] * b[2] + b[4], a[4] * b[1] + a[5] * b[3] + b[5])


def _apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    return m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]


def _number(value: float) -> bytes:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return b"0" if text in ("", "-0") else text.encode()
