"""End to end: build fixture books and read what is printed on each page."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pikepdf
import pypdfium2
import pytest
from conftest import EPOCH, Built, build_book, copy_project
from pypdf import PdfReader
from pypdf.generic import Destination

from pipeline import check
from pipeline.build import build_single_pass
from pipeline.pdftext import Page

LETTER = (612.0, 792.0)


def contents_entries(built: Built) -> list[tuple[str, str]]:
    """(title, printed page number) of each line of the contents page(s)."""
    return [(title, number) for title, number, _ in check.contents_entries(built.pages)]


def pages_with_heading(built: Built, heading: str, after: int) -> list[int]:
    """Indexes of pages (from `after` on) that print `heading` as a bold line of the body."""
    return check.heading_pages(built.pages, heading, after)


def body(built: Built, index: int) -> str:
    return "\n".join(line.text for line in built.pages[index].body)


def first_body_page(reader: PdfReader) -> int:
    return next(i for i, label in enumerate(reader.page_labels) if label == "1")


# --- the page itself ------------------------------------------------------------


def test_pages_are_letter_size(basic: Built) -> None:
    for page in basic.reader.pages:
        assert (float(page.mediabox.width), float(page.mediabox.height)) == LETTER


def test_front_matter_is_roman_and_body_starts_at_arabic_one(basic: Built) -> None:
    labels = basic.reader.page_labels
    start = first_body_page(basic.reader)
    assert labels[:start] == ["i", "ii", "iii", "iv"][:start]
    assert labels[start:] == [str(n) for n in range(1, len(labels) - start + 1)]
    assert "Alpha chapter" in body(basic, start)


def test_labels_equal_printed_folios(basic: Built) -> None:
    printed = 0
    for index, page in enumerate(basic.pages):
        shown = page.folio
        if shown:
            printed += 1
            assert shown == basic.reader.page_labels[index], f"page {index}"
    assert printed >= len(basic.reader.pages) - 4  # cover, blanks and back cover print none


def test_chapters_start_on_right_hand_pages(basic: Built) -> None:
    reader = basic.reader
    start = first_body_page(reader)
    for title in ("Alpha chapter", "Beta chapter", "Gamma chapter"):
        index = pages_with_heading(basic, title, start)[0]
        assert index % 2 == 0, f"{title} starts on physical page {index + 1}"
        assert int(reader.page_labels[index]) % 2 == 1
        assert basic.pages[index].running_head == ""


def test_inserted_blank_pages_are_blank(basic: Built) -> None:
    reader = basic.reader
    blanks = [i for i, page in enumerate(basic.pages) if not page.lines]
    # iv (before the body) and the left page after one-page Beta chapter.
    assert blanks == [3, 9]
    document = pypdfium2.PdfDocument(str(basic.pdf))
    for index in blanks:
        image = document[index].render(scale=0.3).to_pil().convert("L")
        assert image.getextrema() == (255, 255), f"page {index} has marks on it"
    assert "/Annots" not in reader.pages[9]


def test_running_heads(basic: Built) -> None:
    reader = basic.reader
    start = first_body_page(reader)
    heads = {}
    for index in range(start, len(reader.pages) - 1):
        heads[reader.page_labels[index]] = basic.pages[index].running_head
    assert heads["1"] == ""  # chapter opening
    assert heads["2"] == "Fixture Book"  # left: the book
    assert heads["3"] == "Alpha chapter"  # right: the chapter
    assert heads["4"] == "Fixture Book"


def test_furniture_is_laid_over_the_parts_content_as_it_was(basic: Built) -> None:
    """Each page draws its part's content streams as typeset (still compressed, not
    decoded and written again), between two streams every page shares."""
    with pikepdf.open(basic.pdf) as pdf:
        furnished = [page for page in pdf.pages
                     if isinstance(page.obj.get("/Contents"), pikepdf.Array)]
        assert len(furnished) > len(pdf.pages) / 2
        opening, closing = set(), set()
        for page in furnished:
            first, *own, last = page.obj.Contents
            opening.add(first.objgen)
            closing.add(last.objgen)
            assert first.read_bytes() == b"q\n" and b"/Furniture Do" in last.read_bytes()
            assert own and all(s.get("/Filter") == "/FlateDecode" for s in own)
            assert "/Furniture" in page.obj.Resources.XObject
        assert len(opening) == len(closing) == 1


def test_mirrored_margins_wider_inside(basic: Built) -> None:
    left_page, right_page = basic.pages[7], basic.pages[6]  # folios 4 and 3

    def body_left_edge(page: Page) -> float:
        return min(line.x for line in page.body)

    inside_mm, outside_mm = 25, 17
    assert body_left_edge(right_page) == pytest.approx(inside_mm * 72 / 25.4, abs=1.5)
    assert body_left_edge(left_page) == pytest.approx(outside_mm * 72 / 25.4, abs=1.5)


# --- contents, outline, links ------------------------------------------------------


def test_contents_numbers_are_the_pages_where_headings_are(basic: Built) -> None:
    reader = basic.reader
    entries = contents_entries(basic)
    titles = [title for title, _ in entries]
    assert titles == [
        "Alpha chapter", "Opening section", "Table section", "Long section",
        "Definitions section", "Beta chapter", "Short section", "Gamma chapter",
        "Gamma first section", "Gamma second section",
    ]
    start = first_body_page(reader)
    for title, number in entries:
        assert number not in ("0", "??", "")
        pages = pages_with_heading(basic, title, start)
        assert pages, f"{title} is nowhere in the body"
        assert reader.page_labels[pages[0]] == number, title


def test_outline_mirrors_contents(basic: Built) -> None:
    reader = basic.reader
    outline = reader.outline
    top = [item for item in outline if isinstance(item, Destination)]
    assert [item.title for item in top] == ["Alpha chapter", "Beta chapter", "Gamma chapter"]
    children = outline[1]
    assert isinstance(children, list)
    assert [c.title for c in children] == [
        "Opening section", "Table section", "Long section", "Definitions section"
    ]
    printed = dict(contents_entries(basic))
    for item in [*top, *children]:
        page = reader.get_destination_page_number(item)
        assert reader.page_labels[page] == printed[item.title], item.title


def test_contents_entries_are_links_to_their_pages(basic: Built) -> None:
    reader = basic.reader
    contents_page = next(
        i for i, p in enumerate(basic.pages) if p.lines and p.lines[0].text == "Contents"
    )
    targets = []
    for annotation in reader.pages[contents_page]["/Annots"]:
        annotation = annotation.get_object()
        if annotation["/Subtype"] == "/Link" and "/Dest" in annotation:
            page_ref = annotation["/Dest"][0]
            targets.append(reader.get_page_number(page_ref.get_object()))
    labels = [reader.page_labels[t] for t in targets]
    assert labels == [number for _, number in contents_entries(basic)]


def test_contents_leaders_are_drawn_not_typed(basic: Built) -> None:
    """No dots in the contents' text (a screen reader would read them); dots on the page."""
    index = next(i for i, p in enumerate(basic.pages) if p.lines and p.lines[0].text == "Contents")
    page = basic.pages[index]
    assert not re.search(r"\.\s*\.|\u2026", page.text), page.text
    # The dots are drawn: strokes, each of them an artifact (not read, not tagged).
    with pikepdf.open(basic.pdf) as pdf:
        strokes = artifacts = 0
        open_tags: list[str] = []
        for operands, operator in pikepdf.parse_content_stream(pdf.pages[index]):
            op = str(operator)
            if op in ("BDC", "BMC"):
                open_tags.append(str(operands[0]))
            elif op == "EMC":
                open_tags.pop()
            elif op in ("S", "s"):
                strokes += 1
                artifacts += "/Artifact" in open_tags
    assert strokes >= len(contents_entries(basic)) and artifacts == strokes
    # ...and they show, light but visible, on each line between the title and its number.
    scale = 4
    document = pypdfium2.PdfDocument(basic.pdf)
    image = document[index].render(scale=scale, grayscale=True).to_pil()
    gaps = title_number_gaps(document[index])
    document.close()
    assert len(gaps) == len(contents_entries(basic))
    for baseline, title_end, number_start in gaps:
        top = round((page.height - baseline - 2) * scale)
        columns = [
            min(image.getpixel((x, y)) for y in range(top, top + 4 * scale))
            for x in range(round(title_end * scale) + 1, round(number_start * scale) - 1)
        ]
        inked = [value < 200 for value in columns]
        dots = sum(1 for a, b in itertools.pairwise(inked) if b and not a)
        # A dot every 2.4 pt or so, after a space of about 4 pt (0.35 em) each side.
        expected = (number_start - title_end - 2 * 4.2) / 2.4
        assert expected > 3 and abs(dots - expected) <= 2 + expected / 10, (baseline, dots)
        assert 60 < min(columns) < 160, baseline  # grey: lighter than the text, not faint


def title_number_gaps(page: pypdfium2.PdfPage) -> list[tuple[float, float, float]]:
    """(baseline, right edge of the title, left edge of the number) of each contents entry.

    An entry's line is its characters on one baseline; the title and the number
    are what the widest gap between two characters separates.
    """
    text = page.get_textpage()
    rows: dict[float, list[tuple[float, float, float]]] = {}
    for index in range(text.count_chars()):
        if not text.get_text_range(index, 1).strip():
            continue
        left, low, right, _ = text.get_charbox(index, loose=True)  # low: the font's descent
        key = next((k for k in rows if abs(k - low) < 2), low)
        rows.setdefault(key, []).append((left, right, text.get_charbox(index)[1]))
    text.close()
    gaps = []
    for _, boxes in sorted(rows.items(), reverse=True):
        boxes.sort()
        pairs = list(enumerate(itertools.pairwise(boxes)))
        width, at = max(((b[0] - a[1], i) for i, (a, b) in pairs), default=(0, 0))
        if width > 20:  # a title, then its number at the far right (a digit: on the baseline)
            gaps.append((boxes[-1][2], boxes[at][1], boxes[at + 1][0]))
    return gaps


def test_cross_chapter_links_land_on_their_targets(basic: Built) -> None:
    reader = basic.reader
    beta = pages_with_heading(basic, "Beta chapter", first_body_page(reader))[0]
    destinations = []
    for annotation in reader.pages[beta].get("/Annots", []):
        annotation = annotation.get_object()
        if "/Dest" in annotation:
            destinations.append(reader.get_page_number(annotation["/Dest"][0].get_object()))
    table = pages_with_heading(basic, "Table section", 0)[-1]
    gamma = pages_with_heading(basic, "Gamma chapter", beta)[0]
    assert sorted(destinations) == sorted([table, gamma])


def test_every_internal_link_points_at_a_page(basic: Built) -> None:
    reader = basic.reader
    count = 0
    for page in reader.pages:
        for annotation in page.get("/Annots", []):
            annotation = annotation.get_object()
            if "/Dest" in annotation:
                target = annotation["/Dest"][0].get_object()
                assert 0 <= reader.get_page_number(target) < len(reader.pages)
                count += 1
    assert count >= 13  # contents (10) + beta (2) + gamma (2, one within the chapter)


def test_external_links_are_uri_links(basic: Built) -> None:
    uris = []
    for page in basic.reader.pages:
        for annotation in page.get("/Annots", []):
            action = annotation.get_object().get("/A")
            if action is not None and action.get("/S") == "/URI":
                uris.append(str(action["/URI"]))
    assert "https://example.org/gamma" in uris
    assert "https://example.org/copies" in uris


# --- footnotes, fonts, metadata --------------------------------------------------------


@pytest.mark.parametrize(
    ("note", "citing"),
    [
        ("Footnote one text lives at the foot.", "Unique sentence with a footnote marker."),
        ("Footnote two text, also at the foot.", "Second unique sentence with another note."),
    ],
)
def test_footnotes_are_at_the_foot_of_the_citing_page(basic: Built, note: str, citing: str) -> None:
    note_pages = [i for i, p in enumerate(basic.pages) if note in p.text]
    citing_pages = [i for i, p in enumerate(basic.pages) if citing in p.text]
    assert len(note_pages) == 1
    assert note_pages == citing_pages
    page = basic.pages[note_pages[0]]
    note_y = min(line.y for line in page.lines if note in line.text)
    cite_y = max(line.y for line in page.lines if citing in line.text)
    assert note_y < cite_y  # printed below the sentence that cites it


def test_every_font_is_embedded_and_shipped(basic: Built) -> None:
    names = set()
    for page in basic.reader.pages:
        fonts = page["/Resources"].get("/Font", {})
        for font in fonts.values():
            font = font.get_object()
            descendant = font["/DescendantFonts"][0].get_object()
            descriptor = descendant["/FontDescriptor"]
            assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
            names.add(str(font["/BaseFont"]).split("+", 1)[-1])
    assert names
    assert all(name.startswith("Atkinson-Hyperlegible") for name in names), names


def test_metadata(basic: Built) -> None:
    reader = basic.reader
    info = reader.metadata
    assert info is not None
    assert info.title == "Fixture Book"
    assert info.author == "Test Author"
    assert info.subject == "Fixture"
    assert "fixture" in (info.get("/Keywords") or "")
    assert reader.trailer["/Root"]["/Lang"] == "en-US"
    assert info["/CreationDate"].startswith("D:20260921")  # the fixed SOURCE_DATE_EPOCH


def test_build_is_byte_identical_and_independent_of_jobs(basic: Built, tmp_path: Path) -> None:
    root = copy_project(tmp_path / "again", "basic")
    again = build_book(root, jobs=1)
    assert again.pdf.read_bytes() == basic.pdf.read_bytes()
    assert EPOCH


def test_merged_book_is_no_bigger_than_one_pass(basic: Built) -> None:
    single, _ = build_single_pass(basic.root)
    merged = basic.pdf.stat().st_size
    assert merged <= 1.15 * len(single), f"merged {merged} B vs one pass {len(single)} B"


# --- the starter guide ------------------------------------------------------------------


def test_starter_guide_builds_with_true_contents(starter: Built) -> None:
    reader = starter.reader
    entries = contents_entries(starter)
    # Headings are searched in reading order: a title may recur later (the
    # sources chapter has a section named after each chapter).
    start = first_body_page(reader)
    checked = 0
    for title, number in entries:
        pages = pages_with_heading(starter, title, start)
        assert pages, title
        assert reader.page_labels[pages[0]] == number, title
        start = pages[0]
        checked += 1
    assert checked >= 15
    text = "\n".join(p.text for p in starter.pages[:start])
    assert "This is not medical advice" in text
    assert "Last reviewed: November 1, 2026" in text


def test_no_page_ends_with_a_heading(basic: Built, starter: Built) -> None:
    for built in (basic, starter):
        for index, page in enumerate(built.pages):
            notes = [line.y for line in page.body if re.match(r"^\d+\. ", line.text)]
            main = [line for line in page.body if line.y > max(notes, default=-1)]
            if not main:
                continue
            last = min(main, key=lambda line: line.y)
            heading_like = last.bold and len(last.text.split()) <= 8
            assert not heading_like, f"page {index}: ends with {last.text!r}"


def test_words_are_hyphenated_in_the_books_language(starter: Built) -> None:
    chapters = (starter.root / "chapters").glob("*.md")
    source = " ".join(path.read_text(encoding="utf-8") for path in chapters)
    words = set(re.findall(r"[A-Za-z]+", source))
    hyphenated = []
    for page in starter.reader.pages:  # pypdf: pdfium joins hyphenated words back up
        lines = page.extract_text().splitlines()
        for line, following in itertools.pairwise(lines):
            match = re.search(r"([A-Za-z]+)-$", line)
            rest = re.match(r"([a-z]+)", following)
            if match and rest and match.group(1) + rest.group(1) in words:
                hyphenated.append(match.group(1) + "-" + rest.group(1))
    assert hyphenated, "no word was hyphenated at a line end"
