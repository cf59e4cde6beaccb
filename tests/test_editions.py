"""Editions: each its own layout; home booklets imposed for saddle stitching."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pypdfium2
import pytest
from conftest import EPOCH, TODAY, copy_project, pdfua_findings
from pypdf import PdfReader

from pipeline import check
from pipeline.build import build_all_editions
from pipeline.config import load_config
from pipeline.impose import saddle_order
from pipeline.model import BookletError, BuildReport
from pipeline.pdftext import read_pages

EDITIONS = """
[editions]
default = "letter"

[editions.letter]
page_size = "letter"

[editions.large-print]
base_size_pt = 16.5
line_height = 1.5

[editions.home-booklet-letter]
page_size = "half-letter"
paper = "letter"
impose = true
base_size_pt = 11
margin_top_mm = 15
margin_bottom_mm = 17
margin_inside_mm = 17
margin_outside_mm = 12

[editions.home-booklet-a4]
page_size = "a5"
paper = "a4"
impose = true
base_size_pt = 11
margin_top_mm = 15
margin_bottom_mm = 17
margin_inside_mm = 17
margin_outside_mm = 12
signature_sheets = 2

[editions.print-shop]
bleed_mm = 3
crop_marks = true
"""


@pytest.fixture(scope="session")
def editions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuildReport]:
    root = copy_project(tmp_path_factory.mktemp("editions"), "basic")
    config = root / "booklet.toml"
    config.write_text(config.read_text(encoding="utf-8") + EDITIONS, encoding="utf-8")
    reports = build_all_editions(root, source_date_epoch=EPOCH, today=TODAY)
    return {report.edition: report for report in reports}


# --- the page order, as arithmetic ------------------------------------------------


def test_saddle_order_of_eight() -> None:
    sheets = saddle_order(8)
    assert [(s.front.left, s.front.right, s.back.left, s.back.right) for s in sheets] == [
        (8, 1, 2, 7),
        (6, 3, 4, 5),
    ]


@pytest.mark.parametrize("pages", [4, 8, 12, 52, 53])
@pytest.mark.parametrize("per_signature", [1, 3, 12, 100])
@pytest.mark.parametrize("nested", [False, True])
def test_saddle_order_is_a_permutation_that_folds(pages: int, per_signature: int, nested: bool
                                                  ) -> None:
    sheets = saddle_order(pages, per_signature, nested)
    padded = -(-pages // 4) * 4
    assert len(sheets) == padded // 4
    placed = [n for s in sheets for n in (s.front.left, s.front.right, s.back.left, s.back.right)]
    assert sorted(n for n in placed if n is not None) == list(range(1, pages + 1))
    assert placed.count(None) == padded - pages
    # Within each signature: front = [n-2k, 2k+1], back = [2k+2, n-2k-1], from its first page.
    for signature in {s.signature for s in sheets}:
        group = [s for s in sheets if s.signature == signature]
        if nested:
            first, size = 0, padded
        else:
            first = min(n for s in group for n in (s.front.right,) if n is not None) - 1
            size = 4 * len(group)
        for sheet in group:
            k = sheet.depth

            def page(position: int, first: int = first) -> int | None:
                number = first + position
                return number if number <= pages else None

            assert (sheet.front.left, sheet.front.right) == (page(size - 2 * k), page(2 * k + 1))
            assert (sheet.back.left, sheet.back.right) == (page(2 * k + 2), page(size - 2 * k - 1))


def test_signatures_split_a_thick_booklet() -> None:
    sheets = saddle_order(53, signature_sheets=12)
    assert Counter(s.signature for s in sheets) == {1: 12, 2: 2}
    second = [s for s in sheets if s.signature == 2]
    assert (second[0].front.left, second[0].front.right) == (None, 49)  # 56 is padding
    assert [s.number for s in sheets] == list(range(1, 15))


# --- real PDFs ------------------------------------------------------------------------


def test_every_edition_passes_its_own_preflight(editions: dict[str, BuildReport]) -> None:
    assert sorted(editions) == [
        "home-booklet-a4", "home-booklet-letter", "large-print", "letter", "print-shop"
    ]
    for name, report in editions.items():
        errors = [str(f) for f in report.findings if f.severity == "error"]
        assert not report.rejected, (name, errors)


def test_contents_match_each_editions_own_pages(editions: dict[str, BuildReport]) -> None:
    numbers = {}
    config = load_config(editions["letter"].output.parents[2])
    for name in ("letter", "large-print", "home-booklet-letter"):
        report = editions[name]
        linear = report.extras[0] if report.extras else report.output
        reader = PdfReader(linear)
        layout = config.edition_named(name).layout
        pages = read_pages(linear, layout.head_band_pt, layout.foot_band_pt)
        labels = reader.page_labels
        entries = check.contents_entries(pages)
        assert len(entries) == 10
        for title, number, _ in entries:
            found = check.heading_pages(pages, title, 4)
            assert labels[found[0]] == number, (name, title)
        numbers[name] = [n for _, n, _ in entries]
    assert numbers["letter"] != numbers["large-print"]  # reflowed, not scaled


def font_sizes(pdf: Path, page: int) -> Counter[float]:
    sizes: Counter[float] = Counter()

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if text.strip():
            scale = (tm[0] ** 2 + tm[1] ** 2) ** 0.5 * (cm[0] ** 2 + cm[1] ** 2) ** 0.5
            sizes[round(size * scale, 1)] += len(text)

    PdfReader(pdf).pages[page].extract_text(visitor_text=visit)
    return sizes


def test_large_print_body_is_at_least_16_pt(editions: dict[str, BuildReport]) -> None:
    large = editions["large-print"]
    body_size = font_sizes(large.output, 6).most_common(1)[0][0]
    assert body_size >= 16
    assert font_sizes(editions["letter"].output, 6).most_common(1)[0][0] == 12
    assert large.pages > editions["letter"].pages  # reflowed into more pages


def test_imposed_sheets_carry_the_right_folios(editions: dict[str, BuildReport]) -> None:
    report = editions["home-booklet-letter"]
    linear, guide = report.extras
    assert linear.name == "home-booklet-letter-linear.pdf"
    assert guide.name == "home-booklet-letter-how-to-print.pdf"
    labels = PdfReader(linear).page_labels
    pages = len(labels)
    assert pages % 4 == 0
    # The padding (reported) is blank pages just before the back cover, never more than 3.
    linear_pages = read_pages(linear)
    assert 0 <= report.padding <= 3
    assert all(not p.lines for p in linear_pages[pages - 1 - report.padding : pages - 1])
    assert linear_pages[-1].lines  # the back cover
    imposed = PdfReader(report.output)
    assert len(imposed.pages) == 2 * (pages // 4)  # both sides of each sheet
    for page in imposed.pages:
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (792, 612)
    printed = read_pages(report.output, 0, 62)  # the whole sheet; folios in the bottom band
    sides = [side for s in saddle_order(pages) for side in (
        (s.front.left, s.front.right), (s.back.left, s.back.right))]
    checked = 0
    for sheet_side, (left, right) in zip(printed, sides, strict=True):
        folios = [line for line in sheet_side.lines if line.y < 40 and line.text.isalnum()]
        for number, in_left_half in ((left, True), (right, False)):
            if number is None:
                continue
            expected = labels[number - 1]
            shown = [f.text for f in folios if (f.x < 396) == in_left_half]
            if shown:
                assert shown == [expected], (number, shown)
                checked += 1
    assert checked >= pages // 2  # most pages print a folio (not the covers or blanks)


def test_a4_booklet_with_small_signatures(editions: dict[str, BuildReport]) -> None:
    report = editions["home-booklet-a4"]
    imposed = PdfReader(report.output)
    box = imposed.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (842, 595)
    marks = " ".join(line.text for page in read_pages(report.output) for line in page.lines)
    assert "signature 2" in marks  # 2-sheet signatures: a 12+ page book needs several


def test_print_shop_boxes(editions: dict[str, BuildReport]) -> None:
    reader = PdfReader(editions["print-shop"].output)
    for page in reader.pages:
        trim, bleed, media = page.trimbox, page.bleedbox, page.mediabox
        assert (float(trim.width), float(trim.height)) == pytest.approx((612, 792), abs=0.01)
        assert float(trim.left) - float(bleed.left) == pytest.approx(3 * 72 / 25.4, abs=0.01)
        assert float(bleed.top) - float(trim.top) == pytest.approx(3 * 72 / 25.4, abs=0.01)
        assert float(media.width) > float(bleed.width)  # room for the crop marks


def test_print_shop_furniture_sits_where_the_letter_editions_does(
    editions: dict[str, BuildReport],
) -> None:
    # The same trim, so the same place on it: the bleed moves nothing, not the
    # text (typeset with the page) nor the furniture (laid over it).
    placed = {}
    for name in ("letter", "print-shop"):
        trims = [page.trimbox for page in PdfReader(editions[name].output).pages]
        placed[name] = [
            sorted((line.text, round(line.x - float(trim.left), 2),
                    round(line.y - float(trim.bottom), 2)) for line in page.lines)
            for page, trim in zip(read_pages(editions[name].output), trims, strict=True)
        ]
    # Running heads (the book's title, on left-hand pages, in the top margin) are compared too.
    assert any(text == "Fixture Book" and y > 740 for page in placed["letter"]
               for text, _, y in page)
    for mine, theirs in zip(placed["print-shop"], placed["letter"], strict=True):
        assert [text for text, *_ in mine] == [text for text, *_ in theirs]
        for (_, x, y), (_, x_letter, y_letter) in zip(mine, theirs, strict=True):
            assert (x, y) == pytest.approx((x_letter, y_letter), abs=0.02)


def test_one_imposed_sheet_looks_right(editions: dict[str, BuildReport], tmp_path: Path) -> None:
    document = pypdfium2.PdfDocument(str(editions["home-booklet-letter"].output))
    image = document[0].render(scale=1).to_pil().convert("L")
    image.save(tmp_path / "sheet.png")  # the first sheet: back cover | cover
    width, height = image.size
    left, right = image.crop((0, 0, width // 2, height)), image.crop((width // 2, 0, width, height))
    # The cover's coloured band fills the top of the right half; the left half is light.
    assert right.crop((20, 10, width // 2 - 20, 60)).getextrema()[1] < 128
    assert left.crop((20, 10, width // 2 - 20, 60)).getextrema()[0] > 200


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[editions.x]\nbase_size_pt = 40\n', "base_size_pt 40 is outside 6-36 pt"),
        ('[editions.x]\npage_size = "a5"\nmargin_inside_mm = 70\nmargin_outside_mm = 60\n',
         "too narrow"),
        ('[editions.x]\npaper = "letter"\nimpose = true\nbleed_mm = 3\n', "cannot have a bleed"),
        ('[editions.x]\npaper = "tabloid"\nimpose = true\n', "unknown paper 'tabloid'"),
        ('[editions.x]\nfoo = 1\n', "unknown option 'foo' in [editions.x]"),
        ('[editions.x]\npage_size = "letter"\npaper = "letter"\nimpose = true\n',
         "do not fit side by side"),
    ],
)
def test_bad_editions_are_config_errors(tmp_path: Path, table: str, message: str) -> None:
    root = copy_project(tmp_path / "p", "basic")
    config = root / "booklet.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n" + table, encoding="utf-8")
    with pytest.raises(BookletError) as caught:
        load_config(root)
    problem = caught.value.problems[0]
    assert message in problem.message
    assert problem.path == "booklet.toml" and problem.line is not None


def test_creep_moves_inner_sheets_toward_the_fold(editions: dict[str, BuildReport]) -> None:
    from dataclasses import replace

    from pipeline.impose import impose

    report = editions["home-booklet-letter"]
    linear = report.extras[0].read_bytes()
    edition = load_config(report.output.parents[2]).edition_named("home-booklet-letter")

    def right_half_left_edge(creep_mm: float, side: int) -> float:
        out = report.output.with_name(f"creep-{creep_mm}.pdf")
        out.write_bytes(impose(linear, replace(edition, creep_mm=creep_mm)))
        lines = read_pages(out, 0, 0)[side].lines
        return min(line.x for line in lines if line.x > 396 + 5)

    inner_front = 2 * (len(PdfReader(report.output).pages) // 2 - 1)  # innermost sheet
    shift = right_half_left_edge(0, inner_front) - right_half_left_edge(1.0, inner_front)
    depth = len(PdfReader(report.output).pages) // 2 - 1
    assert shift == pytest.approx(depth * 72 / 25.4, abs=0.05)  # 1 mm per sheet inward
    assert right_half_left_edge(1.0, 0) == pytest.approx(right_half_left_edge(0, 0), abs=0.01)


def test_reading_editions_pass_the_pdfua_checker(editions: dict[str, BuildReport]) -> None:
    reading = [report for report in editions.values() if not report.sheets]
    assert len(reading) >= 2
    for report in reading:
        assert pdfua_findings(report.output) == [], report.edition
