"""The page arithmetic of the book, as pure functions."""

from __future__ import annotations

import pytest

from pipeline.model import Anchor
from pipeline.pagemap import PartSpec, furniture_runs, plan_book, to_roman


def test_roman_numerals() -> None:
    assert [to_roman(n) for n in (1, 2, 3, 4, 9, 14, 40, 90, 1999)] == [
        "i", "ii", "iii", "iv", "ix", "xiv", "xl", "xc", "mcmxcix"
    ]
    with pytest.raises(ValueError):
        to_roman(0)


def plan(front: int, chapters: list[int], back: int | None = 1) -> list[tuple[object, ...]]:
    page_map = plan_book(
        PartSpec("front", front, None),
        [PartSpec(f"c{i}", n, f"Chapter {i}") for i, n in enumerate(chapters)],
        PartSpec("back", back, None) if back else None,
        "Book",
    )
    return [(p.label, p.folio, p.running_head, p.side, p.part) for p in page_map.pages]


def test_front_matter_is_padded_to_an_even_count_and_body_starts_recto() -> None:
    pages = plan(3, [2], back=None)
    assert pages[:4] == [
        ("i", None, None, "right", "front"),  # the cover prints no folio
        ("ii", "ii", None, "left", "front"),
        ("iii", "iii", None, "right", "front"),
        ("iv", None, None, "left", None),  # blank: nothing printed
    ]
    assert pages[4] == ("1", "1", None, "right", "c0")
    assert pages[5] == ("2", "2", "Book", "left", "c0")


def test_chapters_start_on_right_pages_with_blank_lefts_between() -> None:
    pages = plan(2, [3, 1, 2], back=None)
    body = pages[2:]
    assert [p[0] for p in body] == ["1", "2", "3", "4", "5", "6", "7", "8"]
    assert [p[4] for p in body] == ["c0", "c0", "c0", None, "c1", None, "c2", "c2"]
    for label, folio, head, _side, part in body:
        if part is None:
            assert (folio, head) == (None, None)
        else:
            assert folio == label
    starts = [i for i, p in enumerate(pages) if p[4] and p[4].startswith("c")
              and (i == 0 or pages[i - 1][4] != p[4])]
    assert all(pages[i][3] == "right" for i in starts)


def test_running_heads_alternate_and_skip_chapter_openings() -> None:
    pages = plan(2, [4], back=None)
    assert [p[2] for p in pages[2:]] == [None, "Book", "Chapter 0", "Book"]


def test_back_cover_is_the_last_page_and_a_left_page() -> None:
    for chapters in ([1], [2], [3], [2, 2]):
        pages = plan(2, chapters)
        assert pages[-1][4] == "back"
        assert pages[-1][3] == "left"
        assert pages[-1][1] is None and pages[-1][2] is None
        assert len(pages) % 2 == 0


def test_anchors_are_mapped_to_physical_pages() -> None:
    page_map = plan_book(
        PartSpec("front", 3, None, (Anchor("contents", 2, 10, 700),)),
        [PartSpec("a", 1, "A", (Anchor("a", 0, 70, 700),)),
         PartSpec("b", 3, "B", (Anchor("b", 0, 70, 700), Anchor("b--x", 2, 70, 300)))],
        None,
        "Book",
    )
    assert page_map.anchor("contents").page == 2
    assert page_map.anchor("a").page == 4
    assert page_map.anchor("b").page == 6  # after a's blank left page
    assert page_map.label_of("b--x") == "5"
    assert page_map.anchor("b--x").y_pt == 300


def _runs(front: int, chapters: list[int]) -> list[tuple[int, tuple[object, ...]]]:
    specs = [PartSpec(f"c{n}", count, f"C{n}") for n, count in enumerate(chapters)]
    page_map = plan_book(PartSpec("front", front, None), specs, PartSpec("back", 1, None), "B")
    return furniture_runs(page_map, run_pages=10)


def test_furniture_runs_cover_every_page_and_cut_where_parts_start() -> None:
    runs = _runs(3, [7, 5, 9, 4, 12])
    pages = [page for _, run in runs for page in run]
    assert [page.index for page in pages] == list(range(len(pages)))  # each page once
    assert [first for first, _ in runs] == [0, 4, 18, 28]
    assert all(len(run) >= 10 for _, run in runs[1:-1])
    assert all(page.part == "front" or page.part is None for page in runs[0][1])


def test_body_furniture_runs_do_not_depend_on_the_front_matter() -> None:
    def body(front: int) -> list[object]:
        return [tuple((p.label, p.folio, p.running_head, p.side) for p in run)
                for _, run in _runs(front, [7, 5, 9, 4, 12])[1:]]

    assert body(1) == body(3) == body(6)
