"""Page furniture set on one tall sheet and cut into pages (furniture.py).

The running heads and folios must land exactly where margin boxes put them,
in every edition (the print-shop one has a bleed and crop marks), and the
cutting must carry each drawing to its own page, whatever it draws.
"""

from __future__ import annotations

import io
from pathlib import Path

import pikepdf
import pytest

from pipeline.config import load_config
from pipeline.fonts import shipped_faces
from pipeline.furniture import cut_sheet
from pipeline.model import PROJECT_URL, PageInfo, Part
from pipeline.pdftext import Line, read_pages
from pipeline.templates import Templates
from pipeline.typeset import typeset
from tests.conftest import copy_project

HEADS = [None, "Living with metastatic breast cancer", "Treatment: what to expect"]

# The same furniture as margin boxes (the way a one-pass book sets it, with
# book.css's margin-box rules), to compare the cut pages with.
MARGIN_BOXES = """{% extends "base.html" %}
{% block head %}<style>
{% for page in pages %}
@page p{{ loop.index }} {
  @top-{{ page.side }} { content: {{ (page.running_head or "") | css_string }}; }
  @bottom-{{ page.side }} { content: {{ (page.folio or "") | css_string }}; }
}
.p{{ loop.index }} { page: p{{ loop.index }}; break-before: page; height: 1px; }
{% endfor %}
</style>{% endblock %}
{% block body %}{% for page in pages %}<div class="p{{ loop.index }}"></div>{% endfor %}
{% endblock %}
"""


def _pages(count: int) -> list[PageInfo]:
    # Page 1 is a right-hand page; the first has no furniture (a chapter opening).
    return [PageInfo(index=i, label=str(i + 1), folio=None if i == 0 else str(i + 1),
                     running_head=None if i == 0 else HEADS[i % len(HEADS)],
                     side="right" if i % 2 == 0 else "left", part="x", part_page=i)
            for i in range(count)]


def _furniture(lines: tuple[Line, ...]) -> list[tuple[str, float, float, float, float]]:
    return sorted((line.text, line.x, line.y, line.right, line.size) for line in lines)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("furniture") / "project", "starter")


@pytest.mark.parametrize("edition", ["letter", "print-shop"])
def test_furniture_lands_where_margin_boxes_put_it(root: Path, edition: str) -> None:
    config = load_config(root)
    layout = config.edition_named(edition).layout
    templates = Templates(config, shipped_faces(config.styles_dir / "fonts"), layout)
    pages = _pages(7)

    cut = typeset(templates.furniture(pages), root)
    reference_html = templates.environment.from_string(MARGIN_BOXES).render(
        **templates.common, pages=pages)
    reference = typeset(Part("reference", reference_html, config.path, PROJECT_URL,
                             tagged=False), root)

    assert cut.page_count == len(pages)
    with pikepdf.open(io.BytesIO(cut.pdf)) as pdf, \
            pikepdf.open(io.BytesIO(reference.pdf)) as ref:
        assert len(pdf.pages) == len(ref.pages) == len(pages)
        origins = []
        for page, ref_page in zip(pdf.pages, ref.pages, strict=True):
            # As big as the book's pages (assemble lays them corner to corner).
            x0, y0, x1, y1 = (float(v) for v in ref_page.mediabox)
            assert [float(v) for v in page.mediabox] == pytest.approx([0, 0, x1 - x0, y1 - y0])
            origins.append((x0, y0))
    got = read_pages(_saved(cut.pdf, root / "cut.pdf"))
    want = read_pages(_saved(reference.pdf, root / "reference.pdf"))
    for page, mine, theirs, (x0, y0) in zip(pages, got, want, origins, strict=True):
        assert sorted(line.text for line in mine.lines) == sorted(
            text for text in (page.running_head, page.folio) if text)
        for line, expected in zip(_furniture(mine.lines), _furniture(theirs.lines),
                                  strict=True):
            assert line[0] == expected[0]
            # Measured from the media box's corner, as assemble lays them.
            _, x, y, right, size = expected
            assert line[1:] == pytest.approx((x - x0, y - y0, right - x0, size), abs=0.01), page
    # Left-hand heads start at the outer margin; right-hand ones end at it.
    outer = (layout.outside_trim_mm + layout.margin_outside_mm) * 72 / 25.4
    left_head = next(line for line in got[1].lines if line.text == pages[1].running_head)
    if layout.bleed_mm:
        assert origins[1][0] < 0  # (so that the overlay has to move it)
    assert left_head.x == pytest.approx(outer, abs=1.5)  # (the letter's side bearing)
    right_head = next(line for line in got[2].lines if line.text == pages[2].running_head)
    assert right_head.right == pytest.approx(got[2].width - outer, abs=1.5)


def _saved(pdf: bytes, path: Path) -> Path:
    path.write_bytes(pdf)
    return path


def _sheet(content: bytes, height: float, resources: pikepdf.Dictionary | None = None
           ) -> bytes:
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(200, height))
    font = pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica))
    page.obj.Resources = resources or pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    page.obj.Contents = pdf.make_stream(content)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def test_each_drawing_goes_to_the_slot_it_starts_in(tmp_path: Path) -> None:
    # Three slots of 100 pt on a 300 pt sheet (slot 0 at the top). A flipped
    # coordinate system like WeasyPrint's, a colour set outside the saved state,
    # a clip that must hold for the text after it, a rule, and an empty slot.
    content = b"""1 0 0 -1 0 300 cm
0 0 1 rg
q
BT /F1 10 Tf 1 0 0 -1 20 30 Tm (top) Tj ET
Q
q
10 250 180 20 re W n
BT /F1 10 Tf 1 0 0 -1 20 260 Tm (bottom) Tj ET
1 0 0 RG 20 265 m 150 265 l S
Q
"""
    cut = cut_sheet(_sheet(content, 300), 3)
    path = tmp_path / "cut.pdf"
    path.write_bytes(cut)
    pages = read_pages(path, head_band=0, foot_band=0)
    assert len(pages) == 3
    assert [line.text for line in pages[0].lines] == ["top"]
    assert pages[1].lines == ()
    assert [line.text for line in pages[2].lines] == ["bottom"]
    # Where they were inside their slot: 30 and 60 pt from its top.
    assert pages[0].lines[0].y == pytest.approx(100 - 30, abs=3)
    assert pages[2].lines[0].y == pytest.approx(100 - 60, abs=3)
    with pikepdf.open(io.BytesIO(cut)) as pdf:
        assert all(float(page.mediabox[3]) == pytest.approx(100) for page in pdf.pages)
        # The rule went with the text it sits under, and the clip came with both.
        drawn = pdf.pages[2].obj.Contents.read_bytes()
        ops = drawn.split()
        assert b"l" in ops and b"S" in ops and ops.count(b"W") == 2
        assert b"0 0 1 rg" in drawn  # the colour set before the saved state
        assert b"Tj" not in pdf.pages[1].obj.Contents.read_bytes()
        # One resource dictionary, shared by every page.
        assert len({page.obj.Resources.objgen for page in pdf.pages}) == 1


def test_a_sheet_that_became_two_pages_is_refused() -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.add_blank_page()
    out = io.BytesIO()
    pdf.save(out)
    with pytest.raises(AssertionError, match="2 pages"):
        cut_sheet(out.getvalue(), 4)


def test_a_running_head_too_long_for_one_line_ends_in_an_ellipsis(root: Path) -> None:
    config = load_config(root)
    layout = config.layout
    templates = Templates(config, shipped_faces(config.styles_dir / "fonts"), layout)
    long_head = "Living with metastatic breast cancer, " * 12
    pages = [PageInfo(index=i, label=str(i + 1), folio=str(i + 1), running_head=long_head,
                      side="right" if i % 2 == 0 else "left", part="x", part_page=i)
             for i in range(3)]
    cut = read_pages(_saved(typeset(templates.furniture(pages), root).pdf, root / "long.pdf"))
    outer = (layout.outside_trim_mm + layout.margin_outside_mm) * 72 / 25.4
    inner = (layout.outside_trim_mm + layout.margin_inside_mm) * 72 / 25.4
    for page, info in zip(cut, pages, strict=True):
        # One line each, on its own page only (never climbing into the page above).
        heads = [line for line in page.lines if line.text != info.folio]
        assert len(heads) == 1
        assert heads[0].text.startswith("Living with") and heads[0].text.endswith("…")
        left, right = (outer, inner) if info.side == "left" else (inner, outer)
        assert heads[0].x >= left - 1 and heads[0].right <= page.width - right + 1
