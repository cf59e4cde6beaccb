"""Rendered part sizes -> PageMap: where every part, page and anchor lands in the book.

Pure page arithmetic, no PDF work. The rules of the book:

- the front matter (cover, copyright, contents) has lowercase roman labels;
  the cover prints no folio;
- the body starts at arabic 1 on its first chapter, and every chapter starts
  on a right-hand page: a blank left page is inserted where needed, and it
  carries nothing, neither running head nor folio;
- running heads: the book title on left pages, the chapter title on right
  pages, none on a chapter's first page;
- the back cover is the last page, a left-hand page, with nothing printed
  over it.

Physical page 0 is a right-hand page (the cover), so even indexes are right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.model import Anchor, PageInfo, PageMap, Placement, RenderedPart


@dataclass(frozen=True)
class PartSpec:
    """What the page map needs to know about one typeset part."""

    name: str
    page_count: int
    running_head: str | None  # title for right-hand pages; None for front/back matter
    anchors: tuple[Anchor, ...] = ()

    @classmethod
    def of(cls, part: RenderedPart, running_head: str | None) -> PartSpec:
        return cls(part.name, part.page_count, running_head, part.anchors)


def to_roman(number: int) -> str:
    if number <= 0:
        raise ValueError(number)
    values = [
        (1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"),
        (50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i"),
    ]
    out = []
    for value, letters in values:
        while number >= value:
            out.append(letters)
            number -= value
    return "".join(out)


def side_of(index: int) -> str:
    return "right" if index % 2 == 0 else "left"


def plan_book(
    front: PartSpec,
    chapters: Sequence[PartSpec],
    back: PartSpec | None,
    book_title: str,
    multiple_of: int = 2,
) -> PageMap:
    """Place the parts one after another and decide every page's label and furniture.

    The page count is padded to `multiple_of` (4 for a folded booklet) with blank
    pages before the back cover, never inside a chapter.
    """
    pages: list[PageInfo] = []
    placements: list[Placement] = []

    def add(part: str | None, part_page: int | None, label: str, folio: str | None,
            head: str | None) -> None:
        index = len(pages)
        pages.append(PageInfo(index, label, folio, head, side_of(index), part, part_page))

    placements.append(Placement(front.name, 0, front.page_count))
    for page in range(front.page_count):
        label = to_roman(page + 1)
        add(front.name, page, label, None if page == 0 else label, None)
    if len(pages) % 2:
        add(None, None, to_roman(len(pages) + 1), None, None)

    folio = 0
    for chapter in chapters:
        if len(pages) % 2:
            folio += 1
            add(None, None, str(folio), None, None)
        placements.append(Placement(chapter.name, len(pages), chapter.page_count))
        for page in range(chapter.page_count):
            folio += 1
            index = len(pages)
            if page == 0:
                head = None
            elif side_of(index) == "left":
                head = book_title
            else:
                head = chapter.running_head
            add(chapter.name, page, str(folio), str(folio), head)

    # Blank pages before the back cover: it is the outside of the last leaf (a
    # left-hand page), and a folded booklet needs a multiple of four pages.
    back_pages = back.page_count if back is not None else 0
    padding = -(len(pages) + back_pages) % max(2, multiple_of)
    for _ in range(padding):
        folio += 1
        add(None, None, str(folio), None, None)
    if back is not None:
        placements.append(Placement(back.name, len(pages), back.page_count))
        for page in range(back.page_count):
            folio += 1
            add(back.name, page, str(folio), None, None)

    anchors: dict[str, Anchor] = {}
    specs = [front, *chapters, *([back] if back else [])]
    for spec, placement in zip(specs, placements, strict=True):
        for anchor in spec.anchors:
            anchors.setdefault(
                anchor.name,
                Anchor(anchor.name, placement.first_page + anchor.page, anchor.x_pt, anchor.y_pt),
            )
    return PageMap(tuple(pages), tuple(placements), anchors, padding)


# Furniture is typeset in runs of at least this many pages, cut where a part
# starts: an edit that moves pages retypesets only the runs after it, and each
# run is worth a process's start-up cost.
FURNITURE_RUN_PAGES = 24


def furniture_runs(page_map: PageMap, run_pages: int = FURNITURE_RUN_PAGES
                   ) -> list[tuple[int, tuple[PageInfo, ...]]]:
    """(first page, pages) of each run of pages whose furniture is typeset together.

    The front matter (with the blank page after it) is a run of its own: the
    body's runs are the same whatever the front matter's length, since the body
    always starts on a right-hand page numbered 1.
    """
    pages = page_map.pages
    body = page_map.placements[1].first_page if len(page_map.placements) > 1 else len(pages)
    runs = [(0, pages[:body])] if body else []
    start = body
    for placement in page_map.placements[2:]:
        if placement.first_page - start >= run_pages:
            runs.append((start, pages[start:placement.first_page]))
            start = placement.first_page
    if start < len(pages):
        if len(pages) - start < run_pages and len(runs) > 1:  # too short on its own
            start = runs.pop()[0]
        runs.append((start, pages[start:]))
    return runs
