"""Preflight catches books that are wrong on purpose, each under the right check name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from conftest import TODAY, Built, build_book
from pypdf import PdfReader, PdfWriter

from pipeline import build as build_module
from pipeline.build import build, contents
from pipeline.check import contents_entries, preflight
from pipeline.cli import main
from pipeline.config import load_config
from pipeline.model import TocEntry
from pipeline.pdftext import Line, Page

Project = Callable[[str | None], Path]


def run_preflight(pdf: Path, root: Path, **options: object) -> list[tuple[str, str]]:
    from pipeline.convert import convert_book
    from pipeline.sources import load_chapters

    config = load_config(root)
    expected = contents(convert_book(load_chapters(config), root), None)
    found = preflight(pdf, config, expected, "output/guide.pdf", TODAY, **options)  # type: ignore[arg-type]
    return [(f.check, f.severity) for f in found]


def test_a_good_book_passes(basic: Built) -> None:
    assert basic.report.errors == 0
    assert not basic.report.rejected
    # The fixture's diagram is 600 px wide printed about 6 inches wide: blurry.
    assert run_preflight(basic.pdf, basic.root) == [("image-resolution", "warning")]


def skew_contents(monkeypatch: pytest.MonkeyPatch, change: Callable[[list[TocEntry]], None]
                  ) -> None:
    """Make the build print wrong contents (the checker still knows what is right)."""
    real = build_module.contents

    def wrong(converted: object, page_map: object) -> list[TocEntry]:
        entries = real(converted, page_map)  # type: ignore[arg-type]
        if page_map is not None:
            change(entries)
        return entries

    monkeypatch.setattr(build_module, "contents", wrong)


def test_contents_number_off_by_one(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    def off_by_one(entries: list[TocEntry]) -> None:
        index = next(i for i, e in enumerate(entries) if e.title == "Long section")
        entries[index] = replace(entries[index], label=str(int(entries[index].label) + 1))

    skew_contents(monkeypatch, off_by_one)
    root = project("basic")
    report = build(root, source_date_epoch=1, today=TODAY)
    assert report.rejected
    messages = [f.message for f in report.findings if f.check == "contents"]
    assert messages == ["contents say 'Long section' is on page 3, but it is printed on page 2"]
    assert report.output == root / "output" / "rejected" / "guide.pdf"
    assert not (root / "output" / "guide.pdf").exists()


def test_missing_section(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    skew_contents(monkeypatch, lambda entries: entries.pop(2))
    root = project("basic")
    report = build(root, source_date_epoch=1, today=TODAY)
    assert report.rejected
    errors = [(f.check, f.message) for f in report.findings if f.severity == "error"]
    assert ("contents", "'Table section' is missing from the contents") in errors
    assert ("outline", "'Table section' is missing from the PDF outline") in errors


Piece = tuple[str, float, float]  # text, left edge, right edge


def printed(*rows: Piece | tuple[Piece, Piece]) -> Page:
    """A page of rows, one under the other from the top; a row of two pieces is
    a title and a number that pdfium read as two lines on one baseline."""
    lines = []
    for row, pieces in enumerate(rows):
        for text, x, right in pieces if isinstance(pieces[0], tuple) else [pieces]:
            lines.append(Line(text, x, 700 - 17 * row, "AtkinsonHyperlegible-Regular", 16, right))
    return Page(612, 792, tuple(lines))


def test_contents_are_read_by_the_numbers_at_the_right_edge() -> None:
    """Titles then numbers flush right; no dots to go by (they are drawn, not text)."""
    pages = [
        printed(("Foreword", 72, 140), ("A page of prose, no contents.", 72, 300)),
        printed(
            ("Contents", 72, 170),
            ("Living with stage 4", 72, 230),  # wrapped: a title may end in a number
            (("and the months after", 72, 240), ("12", 552, 564)),
            ("Glossary 14", 72, 564),
            (("A title printed with a broken number", 88, 330), ("??", 550, 564)),
            (("Chapter 1", 72, 140), ("iv", 556, 564.2)),
        ),
        printed(("Sources 30", 72, 546), ("About the title", 88, 200),
                ("and the rest 31", 88, 546)),
        printed(("Chapter one", 72, 200), ("Some prose that ends in 2", 72, 546),
                ("and goes on for a while", 72, 300), ("before it stops.", 72, 200)),
    ]
    assert contents_entries(pages) == [
        ("Living with stage 4 and the months after", "12", 1),
        ("Glossary", "14", 1),
        ("A title printed with a broken number", "??", 1),
        ("Chapter 1", "iv", 1),
        ("Sources", "30", 2),  # the contents go on over the next page...
        ("About the title and the rest", "31", 2),
    ]  # ...but not into the chapter after them


def test_missing_glyph(project: Project) -> None:
    root = project("basic")
    chapter = root / "chapters" / "02-beta.md"
    text = chapter.read_text(encoding="utf-8")
    text = text.replace("## Short section", "## Short section\n\nA \ue000 private-use character.")
    chapter.write_text(text, encoding="utf-8")
    report = build(root, source_date_epoch=1, today=TODAY)
    assert report.rejected
    assert [f.message for f in report.findings if f.check == "fonts" and f.severity == "error"] == [
        "page 5 shows a missing glyph (a box)"
    ]
    # Again, with each page's answer from the preflight's cache: still found.
    memo = list((root / "output" / ".cache" / "preflight").rglob("*"))
    assert memo
    again = build(root, source_date_epoch=1, today=TODAY)
    assert [f.message for f in again.findings if f.check == "fonts"] == [
        "page 5 shows a missing glyph (a box)"
    ]


def insert_blank(source: Path, target: Path, index: int) -> None:
    writer = PdfWriter(clone_from=source)
    box = writer.pages[0].mediabox
    writer.insert_blank_page(float(box.width), float(box.height), index)
    with target.open("wb") as stream:
        writer.write(stream)


def test_blank_page_in_the_middle(basic: Built, tmp_path: Path) -> None:
    damaged = tmp_path / "blank.pdf"
    insert_blank(basic.pdf, damaged, 6)
    assert ("blank-page", "error") in run_preflight(damaged, basic.root)


def test_folded_booklet_needs_a_multiple_of_four(basic: Built, tmp_path: Path) -> None:
    assert len(PdfReader(basic.pdf).pages) == 12
    assert ("page-count", "error") not in run_preflight(basic.pdf, basic.root, fold=True)
    damaged = tmp_path / "thirteen.pdf"
    insert_blank(basic.pdf, damaged, 12)  # a 13th page at the end
    assert ("page-count", "error") in run_preflight(damaged, basic.root, fold=True)


def test_page_range_from_config(basic: Built, tmp_path: Path) -> None:
    config = basic.root / "booklet.toml"
    original = config.read_text(encoding="utf-8")
    try:
        config.write_text(original + "\n[check]\npages_max = 10\n", encoding="utf-8")
        assert ("page-count", "error") in run_preflight(basic.pdf, basic.root)
    finally:
        config.write_text(original, encoding="utf-8")


def test_old_review_date_is_a_warning(basic: Built) -> None:
    from pipeline.convert import convert_book
    from pipeline.sources import load_chapters

    config = load_config(basic.root)
    expected = contents(convert_book(load_chapters(config), basic.root), None)
    found = preflight(basic.pdf, config, expected, "output/guide.pdf", date(2028, 1, 1))
    assert [f.message for f in found if f.check == "metadata"] == [
        "the guide was last reviewed 15 months ago (more than 12): time to check it again"
    ]


def test_rejected_build_keeps_the_last_good_pdf(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project("basic")
    good = build_book(root)
    before = good.pdf.read_bytes()
    chapter = root / "chapters" / "02-beta.md"
    chapter.write_text(
        chapter.read_text(encoding="utf-8") + "\nGarbled: It\u00e2\u20ac\u2122s here.\n",
        encoding="utf-8",
    )
    assert main(["-C", str(root), "check"]) == 1
    err = capsys.readouterr().err
    lines = chapter.read_text(encoding="utf-8").splitlines()
    line = lines.index("Garbled: It\u00e2\u20ac\u2122s here.")
    assert f"chapters/02-beta.md:{line + 1}:12: error: garbled text" in err
    assert "kept for inspection at output/rejected/guide.pdf" in err
    assert "output/guide.pdf still holds the last good build" in err
    assert (root / "output" / "guide.pdf").read_bytes() == before
    assert (root / "output" / "rejected" / "guide.pdf").is_file()


def test_check_without_changes_does_not_build(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project("basic")
    built = build_book(root)
    stamp = built.pdf.stat().st_mtime_ns
    assert main(["-C", str(root), "check"]) == 0
    err = capsys.readouterr().err
    assert "up to date: checking it without building" in err
    assert built.pdf.stat().st_mtime_ns == stamp
    assert main(["-C", str(root), "check", "--strict"]) == 1  # the fixture has warnings


def test_a_heading_that_wraps_is_still_found(project: Project) -> None:
    root = project("basic")
    chapter = root / "chapters" / "02-beta.md"
    long_title = (
        "Beta chapter with a title so long that it has to wrap onto a second line, "
        "in the contents as well as on its own first page"
    )
    chapter.write_text(
        chapter.read_text(encoding="utf-8").replace("title: Beta chapter", f"title: {long_title}"),
        encoding="utf-8",
    )
    report = build(root, source_date_epoch=1, today=TODAY)
    page = next(p for p in build_book_pages(report.output) if long_title.split()[-1] in p.text)
    assert [line.text for line in page.lines if line.bold][:2] != [long_title]  # it did wrap
    assert not [f for f in report.findings if f.check in ("contents", "outline")]
    pages = build_book_pages(report.output)
    contents_page = next(p for p in pages if p.text.startswith("Contents"))
    assert not any(long_title in line.text for line in contents_page.lines)  # it wrapped there too


def build_book_pages(pdf: Path) -> list[Page]:
    from pipeline.pdftext import read_pages

    return read_pages(pdf)


def _findings(pdf: Path, root: Path) -> list[tuple[str, str]]:
    from pipeline.convert import convert_book
    from pipeline.sources import load_chapters

    config = load_config(root)
    expected = contents(convert_book(load_chapters(config), root), None)
    return [(f.check, f.message) for f in
            preflight(pdf, config, expected, "output/guide.pdf", TODAY) if f.severity == "error"]


def test_broken_links_and_a_misdirected_outline_are_errors(basic: Built, tmp_path: Path) -> None:
    import pikepdf

    changed = tmp_path / "changed.pdf"
    with pikepdf.open(basic.pdf) as pdf:
        links = [(number, annotation) for number, page in enumerate(pdf.pages)
                 for annotation in page.obj.get("/Annots", None) or []
                 if annotation.get("/Subtype") == "/Link"]
        external = next(a for _, a in links if "/A" in a and a.A.get("/S") == "/URI")
        external.A.URI = pikepdf.String("htp:/example org")
        internal = next(a for _, a in links if "/Dest" in a)
        stray = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Page))
        internal.Dest = pikepdf.Array([stray, pikepdf.Name.Fit])  # a page not in the book
        first = pdf.Root.Outlines.First
        title = str(first.Title)
        first.Dest = pikepdf.Array([pdf.pages[len(pdf.pages) - 1].obj, pikepdf.Name.Fit])
        if "/A" in first:
            del first["/A"]
        pdf.save(changed)
    found = _findings(changed, basic.root)
    checks = {check for check, _ in found}
    assert {"links", "outline"} <= checks
    messages = " | ".join(message for _, message in found)
    assert "has a broken address 'htp:/example org'" in messages
    assert "points at no page" in messages
    assert f"outline item '{title}' goes to page" in messages
    assert _findings(basic.pdf, basic.root) == []  # the book as built has none of them


def test_only_the_pages_an_edit_changed_are_read_again(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import pikepdf

    import pipeline.check as check_module
    from pipeline.pdftext import page_digests

    root = project("basic")
    build(root, source_date_epoch=1, today=TODAY)
    pdf = root / "output" / "guide.pdf"
    with pikepdf.open(pdf) as document:
        before = page_digests(document)
    reads: list[list[int] | None] = []
    real = check_module.read_pages

    def counted(path: Path, head: float, foot: float, only: list[int] | None = None) -> list:
        reads.append(None if only is None else list(only))
        return real(path, head, foot, only=only)

    monkeypatch.setattr(check_module, "read_pages", counted)
    found = run_preflight(pdf, root)
    assert reads == [[]]  # the build's own preflight read every page already
    # One paragraph of the last chapter edited: its pages are read, no others.
    chapter = root / "chapters" / "03-gamma.md"
    chapter.write_text(chapter.read_text(encoding="utf-8").replace(
        "Back to [the opening]", "A new sentence. Back to [the opening]", 1), encoding="utf-8")
    build(root, source_date_epoch=1, today=TODAY)
    with pikepdf.open(pdf) as document:
        after = page_digests(document)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert changed and len(changed) < len(after) / 2
    assert reads[-1] == changed
    # The same findings as reading every page; and a damaged cache is read again.
    for entry in (root / "output" / ".cache" / "preflight").iterdir():
        entry.write_bytes(b"damaged")
    assert run_preflight(pdf, root) == run_preflight(pdf, root) == found
    assert reads[-2] is not None and len(reads[-2]) == len(after)
    shutil.rmtree(root / "output" / ".cache" / "preflight")
    assert run_preflight(pdf, root) == found
