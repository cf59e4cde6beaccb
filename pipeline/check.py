"""A built PDF (+ what the sources say should be in it) -> Findings. Never mutates.

Preflight reads the PDF the way a reader would, and does not trust the page
map that made it: the contents numbers are compared with the labels of the
pages where the headings are really printed, and so on. Checks:

- page-count     within [check] pages_min..pages_max; a multiple of 4 when folded
- contents       every chapter and section is in the contents with a real number
                 (not 0, ??, or nothing), on the page the contents say
- outline        every chapter and section is in the outline, pointing at that page
- blank-page     no blank page except a left page before a chapter (or the back
                 cover), no page whose only content is a running head
- fonts          every font embedded; no missing glyph (.notdef); no font that
                 the project did not ship (warning)
- links          internal links and outline items point at existing pages;
                 external links are well-formed URLs
- image-resolution  images printed at under [check] min_image_ppi (warning)
- metadata       title, author, language; the copyright page's review date is
                 booklet.toml's; a review date older than review_max_months (warning)
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pikepdf
import pypdfium2 as pdfium

from pipeline.cache import BlobCache, Memo, code_fingerprint
from pipeline.fonts import FAMILY
from pipeline.model import Config, Finding, Layout, TocEntry
from pipeline.pdftext import (
    Line,
    Page,
    contents_digest,
    page_digests,
    read_pages,
    shown_glyphs,
)
from pipeline.server import default_jobs
from pipeline.tags import accessibility_problems, untagged_marks
from pipeline.workers import Workers

# A page number as the contents print it: a folio (arabic or roman), or a
# placeholder that betrays a broken reference.
CONTENTS_NUMBER = re.compile(r"[0-9]+|[ivxlcdm]+|[IVXLCDM]+|\?+")
SHIPPED_FONT_PREFIX = FAMILY.replace(" ", "-")


def preflight(
    pdf_path: Path,
    config: Config,
    expected: Sequence[TocEntry],
    shown_as: str,
    today: date,
    fold: bool = False,
    layout: Layout | None = None,
    workers: Workers | None = None,
) -> list[Finding]:
    """Check the PDF at `pdf_path`; findings name it as `shown_as` (e.g. output/guide.pdf).

    `layout` tells where the running heads and folios are (the page margins).
    """
    cache = BlobCache(config.root / "output" / ".cache" / "preflight")
    beside = _beside(workers, [(_object_findings, config.checks.min_image_ppi),
                               (_tag_findings,)], pdf_path, shown_as, cache)
    with beside as structure_findings, pikepdf.open(pdf_path) as document:
        layout = layout or config.layout
        pages = _pages(pdf_path, document, layout, shown_as, cache)
        labels = [page.label for page in document.pages]
        checker = _Checker(shown_as)
        _page_count(checker, len(pages), config, fold)
        contents = contents_entries(pages)
        numbers = _contents(checker, pages, labels, contents, expected)
        page_of = _destinations(document)
        _outline(checker, _outline_items(document, page_of), labels, numbers, expected)
        _blank_pages(checker, pages, labels, numbers, expected)
        _links(checker, document, labels, page_of)
        _metadata(checker, document, pages, labels, config, today)
        checker.findings += structure_findings()
    return checker.findings


def _object_findings(pdf_path: Path, shown_as: str, cache: BlobCache | None,
                     min_ppi: int) -> list[Finding]:
    """The checks that read the PDF's fonts and images."""
    checker = _Checker(shown_as)
    with pikepdf.open(pdf_path) as pdf:
        labels = [page.label for page in pdf.pages]
        # A page's own glyphs are looked at again only if its contents changed.
        notdef = Memo.of(cache, _cache_name("shows-notdef", shown_as))
        _fonts(checker, pdf, labels, notdef)
        _images(checker, pdf, labels, min_ppi)
        notdef.keep(cache)
    return checker.findings


def _tag_findings(pdf_path: Path, shown_as: str, cache: BlobCache | None) -> list[Finding]:
    """The checks that read the PDF's tags (its structure tree, each page's marks)."""
    checker = _Checker(shown_as)
    with pikepdf.open(pdf_path) as pdf:
        labels = [page.label for page in pdf.pages]
        # A page's untagged marks are counted again only if its contents changed.
        marks = Memo.of(cache, _cache_name("untagged-marks", shown_as))
        _accessibility(checker, pdf, labels, lambda page: marks.answer(
            contents_digest(page), lambda: untagged_marks(page)))
        marks.keep(cache)
    return checker.findings


def _pages(pdf_path: Path, document: pikepdf.Pdf, layout: Layout, shown_as: str,
           cache: BlobCache | None) -> list[Page]:
    """Every page's printed lines; a page read before (by its digest) is not read again.

    A rebuild after an edit reads only the pages the edit changed, not the book.
    """
    bands = (layout.head_band_pt, layout.foot_band_pt)
    digests = [f"{digest}:{bands}" for digest in page_digests(document)]
    name = _cache_name("page-text", shown_as)
    known: dict[str, Page] = _kept(cache, name)
    missing = [index for index, digest in enumerate(digests) if digest not in known]
    for index, page in zip(missing, read_pages(pdf_path, *bands, only=missing), strict=True):
        known[digests[index]] = page
    if cache is not None and missing:
        cache.keep(name, {digest: known[digest] for digest in digests})
    return [known[digest] for digest in digests]


def _cache_name(kind: str, shown_as: str) -> str:
    """One cache entry per PDF and kind, for this pipeline and this pdfium."""
    key = f"{kind}\0{shown_as}\0{code_fingerprint()}\0{pdfium.PDFIUM_INFO}"
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _kept(cache: BlobCache | None, name: str) -> dict[str, Any]:
    kept = cache.load(name) if cache is not None else None
    return kept if isinstance(kept, dict) else {}


@contextmanager
def _beside(
    workers: Workers | None, checks: list[tuple[Any, ...]], *args: Any
) -> Iterator[Callable[[], list[Finding]]]:
    """Run each `check(*args, *its own)` in a worker while this process reads the text;
    yield their findings, in order.

    Reading every page's text with pdfium, and the checks that parse every
    content stream and the structure tree with pikepdf, take about as long.
    Without `workers`, the command's own, processes are forked for them; on
    one core they run here.
    """
    def run(running: Workers) -> Callable[[], list[Finding]]:
        futures = [running.submit(check, *args, *own) for check, *own in checks]
        return lambda: [finding for future in futures for finding in future.result()]

    if workers is not None:
        yield run(workers)
        return
    with Workers(min(2, default_jobs())) as own:
        yield run(own)


def handout_findings(pdf: bytes, shown_as: str, max_pages: int) -> list[Finding]:
    """The checks that apply to a one-chapter handout: length, fonts, links, metadata."""
    checker = _Checker(shown_as)
    with pikepdf.open(io.BytesIO(pdf)) as document:
        count = len(document.pages)
        if count > max_pages:
            checker.warning(f"the handout has {count} pages, more than the {max_pages} "
                            "allowed ([check] handout_max_pages)", "handout-length")
        labels = [str(n) for n in range(1, count + 1)]
        _fonts(checker, document, labels)
        _accessibility(checker, document, labels)
        _links(checker, document, labels, _destinations(document))
        _title_and_author(checker, document)
    return checker.findings


class _Checker:
    def __init__(self, shown_as: str) -> None:
        self.shown_as = shown_as
        self.findings: list[Finding] = []

    def error(self, message: str, check: str) -> None:
        self.findings.append(Finding(self.shown_as, None, None, "error", message, check))

    def warning(self, message: str, check: str) -> None:
        self.findings.append(Finding(self.shown_as, None, None, "warning", message, check))


def _page_count(checker: _Checker, count: int, config: Config, fold: bool) -> None:
    low, high = config.checks.pages_min, config.checks.pages_max
    if not low <= count <= high:
        checker.error(f"{count} pages, outside the range {low}-{high} in booklet.toml",
                      "page-count")
    if fold and count % 4:
        checker.error(f"{count} pages: a folded booklet needs a multiple of 4", "page-count")


def contents_entries(pages: list[Page]) -> list[tuple[str, str, int]]:
    """(title, printed number, page index) of each entry of the contents pages.

    An entry is its title, then its page number at the right edge of the
    contents (the dots between them are drawn, not text). A long title wraps:
    lines that do not reach the right edge belong to the next entry that does,
    whatever they end with (a title may end in a number). The contents go on
    over the following pages for as long as most of their lines are entries.
    """
    entries = []
    pending = ""
    in_contents = False
    for index, page in enumerate(pages):
        starts = bool(page.lines) and page.lines[0].text == "Contents"
        rows = _rows(page.body[1:] if starts else page.body)
        numbered = _numbered(rows)
        goes_on = in_contents and sum(n is not None for n in numbered) * 2 >= len(rows) > 0
        in_contents = starts or goes_on
        if not in_contents:
            continue
        for row, number in zip(rows, numbered, strict=True):
            text = f"{pending} {' '.join(line.text for line in row)}".strip()
            if number is None:
                pending = text
            else:
                entries.append((text.removesuffix(number).strip(), number, index))
                pending = ""
    return entries


def _rows(lines: Sequence[Line]) -> list[list[Line]]:
    """Lines printed on one baseline, left to right (a title and its page number)."""
    rows: list[list[Line]] = []
    for line in sorted(lines, key=lambda line: -line.y):
        if rows and abs(rows[-1][0].y - line.y) < line.size / 4:
            rows[-1].append(line)
        else:
            rows.append([line])
    return [sorted(row, key=lambda line: line.x) for row in rows]


def _numbered(rows: list[list[Line]]) -> list[str | None]:
    """For each row: the page number it ends with at the right edge, or None.

    The page numbers are set flush right, and titles wrap well short of them;
    so a row ends an entry when its last word reaches the rightmost edge of
    the page's rows.
    """
    if not rows:
        return []
    edge = max(row[-1].right for row in rows)
    found: list[str | None] = []
    for row in rows:
        last = row[-1]
        word = last.text.split()[-1]
        at_edge = last.right >= edge - last.size / 2
        found.append(word if at_edge and CONTENTS_NUMBER.fullmatch(word) else None)
    return found


def heading_pages(pages: list[Page], title: str, start: int) -> list[int]:
    """Pages (from `start` on) where `title` is printed in bold in the body (up to 3 lines)."""
    return list(_heading_pages(pages, title, start))


def _heading_pages(pages: list[Page], title: str, start: int) -> Iterator[int]:
    for index in range(start, len(pages)):
        body = pages[index].body
        for first, line in enumerate(body):
            if not line.bold or not title.startswith(line.text):
                continue
            text = line.text
            for following in body[first + 1 : first + 3]:
                if text == title or not following.bold or following.size != line.size:
                    break
                text += " " + following.text
            if text == title:
                yield index
                break


def _contents(
    checker: _Checker,
    pages: list[Page],
    labels: list[str],
    contents: list[tuple[str, str, int]],
    expected: Sequence[TocEntry],
) -> list[str | None]:
    """Check each expected entry; return the number the contents print for each (or None)."""
    numbers: list[str | None] = [None] * len(expected)
    if not contents:
        checker.error("no contents page found", "contents")
        return numbers
    printed = [(title, number) for title, number, _ in contents]
    after = max(index for *_, index in contents) + 1
    cursor = 0
    for position, entry in enumerate(expected):
        match = next(
            (i for i in range(cursor, len(printed)) if printed[i][0] == entry.title), None
        )
        if match is None:
            checker.error(f"'{entry.title}' is missing from the contents", "contents")
            continue
        cursor = match + 1
        number = printed[match][1]
        if number in ("", "0", "??") or number not in labels:
            checker.error(
                f"contents entry '{entry.title}' shows page '{number}', which is no page",
                "contents",
            )
            continue
        numbers[position] = number
        # The headings come in the contents' order: the first match from the last on.
        found = next(_heading_pages(pages, entry.title, after), None)
        if found is None:
            checker.error(f"'{entry.title}' is in the contents but printed nowhere", "contents")
            continue
        actual = labels[found]
        if actual != number:
            checker.error(
                f"contents say '{entry.title}' is on page {number}, but it is printed on "
                f"page {actual}",
                "contents",
            )
        after = found
    return numbers


def _outline(
    checker: _Checker,
    items: list[tuple[str, int]],
    labels: list[str],
    numbers: list[str | None],
    expected: Sequence[TocEntry],
) -> None:
    cursor = 0
    for entry, number in zip(expected, numbers, strict=True):
        match = next((i for i in range(cursor, len(items)) if items[i][0] == entry.title), None)
        if match is None:
            checker.error(f"'{entry.title}' is missing from the PDF outline", "outline")
            continue
        cursor = match + 1
        page = items[match][1]
        if not 0 <= page < len(labels):
            checker.error(f"outline item '{entry.title}' points at no page", "links")
        elif number is not None and labels[page] != number:
            checker.error(
                f"outline item '{entry.title}' goes to page {labels[page]}, the contents "
                f"say {number}",
                "outline",
            )


def _outline_items(document: pikepdf.Pdf, page_of: Callable[[object], int]
                   ) -> list[tuple[str, int]]:
    """Every outline item, in reading order (each before its children): title, page index."""
    items: list[tuple[str, int]] = []
    seen: set[tuple[int, int]] = set()

    def walk(node: object) -> None:
        while isinstance(node, pikepdf.Dictionary) and node.objgen not in seen:
            seen.add(node.objgen)
            items.append((str(node.get("/Title", "")), page_of(_target(node))))
            walk(node.get("/First"))
            node = node.get("/Next")

    outlines = document.Root.get("/Outlines")
    if isinstance(outlines, pikepdf.Dictionary):
        walk(outlines.get("/First"))
    return items


def _target(node: pikepdf.Dictionary) -> object:
    """Where an outline item or a link goes: its /Dest, or its GoTo action's /D (or None)."""
    action = node.get("/A")
    if "/Dest" not in node and isinstance(action, pikepdf.Dictionary) and (
            action.get("/S") == "/GoTo"):
        return action.get("/D")
    return node.get("/Dest")


def _destinations(document: pikepdf.Pdf) -> Callable[[object], int]:
    """A function from a destination (explicit, or named) to its page's index; -1 if none."""
    index = {page.obj.objgen: number for number, page in enumerate(document.pages)}
    named: dict[str, object] = {}
    names = document.Root.get("/Names")
    if isinstance(names, pikepdf.Dictionary) and "/Dests" in names:
        named.update(pikepdf.NameTree(names.Dests).items())
    old_style = document.Root.get("/Dests")
    if isinstance(old_style, pikepdf.Dictionary):
        named.update({str(key)[1:]: value for key, value in old_style.items()})

    def page_of(target: object) -> int:
        if isinstance(target, pikepdf.Name):
            target = named.get(str(target)[1:])
        elif isinstance(target, pikepdf.String | str):
            target = named.get(str(target))
        if isinstance(target, pikepdf.Dictionary):
            target = target.get("/D")
        if isinstance(target, pikepdf.Array) and len(target) > 0:
            page = target[0]
            if isinstance(page, pikepdf.Dictionary):
                return index.get(page.objgen, -1)
        return -1

    return page_of


def _blank_pages(
    checker: _Checker,
    pages: list[Page],
    labels: list[str],
    numbers: list[str | None],
    expected: Sequence[TocEntry],
) -> None:
    chapter_starts = {
        labels.index(number)
        for entry, number in zip(expected, numbers, strict=True)
        if entry.level == 1 and number in labels
    }
    last = len(pages) - 1
    for index, page in enumerate(pages):
        images = page.graphics > 0
        if not page.lines and not images:
            before_back_cover = all(not p.lines for p in pages[index:last])
            allowed = before_back_cover or (index % 2 == 1 and (
                index + 1 in chapter_starts or (index < last and labels[index + 1] == "1")
            ))
            if not allowed:
                checker.error(
                    f"page {labels[index]} (page {index + 1} of the file) is blank",
                    "blank-page",
                )
        elif not page.body and not images:
            checker.error(
                f"page {labels[index]} has only a running head or folio on it", "blank-page"
            )


def _fonts(checker: _Checker, pdf: pikepdf.Pdf, labels: list[str],
           memo: Memo | None = None) -> None:
    reported: set[str] = set()
    counts: dict[tuple[int, int], int] = {}  # glyphs in each embedded font program
    forms: set[tuple[int, int]] = set()  # forms already checked
    for page, number in zip(pdf.pages, labels, strict=True):
        fonts = page.obj.get("/Resources", {}).get("/Font", {})
        for font in fonts.values():
            base = str(font.get("/BaseFont", "?"))
            family = base.split("+", 1)[-1].lstrip("/")
            descriptor = font.get("/FontDescriptor")
            if descriptor is None and "/DescendantFonts" in font:
                descriptor = font.DescendantFonts[0].get("/FontDescriptor")
            embedded = descriptor is not None and any(
                key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")
            )
            if not embedded and base not in reported:
                checker.error(f"font {family} is not embedded", "fonts")
                reported.add(base)
            if not family.startswith(SHIPPED_FONT_PREFIX) and family not in reported:
                checker.warning(
                    f"text on page {number} is set in {family}, a font the project does not "
                    "ship (a character the shipped fonts lack?)",
                    "fonts",
                )
                reported.add(family)
        if _shows_notdef(page.obj, page.obj.get("/Resources"), counts, forms, memo):
            checker.error(f"page {number} shows a missing glyph (a box)", "fonts")


def _shows_notdef(owner: pikepdf.Object, resources: pikepdf.Object,
                  counts: dict[tuple[int, int], int], seen: set[tuple[int, int]],
                  memo: Memo | None = None) -> bool:
    """Does a page (or a form on it) show a glyph its font lacks (0, or past the end)?

    `memo` answers for a page's own content (by its digest and its fonts'
    sizes) as the last build found it: a rebuild looks again only at the
    pages an edit changed.
    """
    fonts = resources.get("/Font", {}) if resources is not None else {}
    sizes = {}
    for name, font in fonts.items():
        if font.get("/Subtype") == "/Type0":
            sizes[str(name)] = _glyph_count(font, counts)

    def shows() -> bool:
        return any(
            glyphs and (min(glyphs) == 0 or max(glyphs) >= count)
            for name, glyphs in shown_glyphs(owner).items()
            if (count := sizes.get(f"/{name}")) is not None
        )

    if memo is not None and owner.get("/Type") == "/Page":
        key = f"{contents_digest(owner)}:{sorted(sizes.items())}"
        if memo.answer(key, shows):
            return True
    elif shows():
        return True
    forms = resources.get("/XObject", {}) if resources is not None else {}
    for form in forms.values():
        if form.get("/Subtype") != "/Form" or form.objgen in seen:
            continue
        seen.add(form.objgen)  # pages of a part share their forms: check each once
        if _shows_notdef(form, form.get("/Resources", resources), counts, seen):
            return True
    return False


def _glyph_count(font: pikepdf.Dictionary, counts: dict[tuple[int, int], int]) -> int:
    """How many glyphs the embedded font program has (65536 if it cannot be read).

    Counted once per program (`counts`): the parts' font dictionaries share them.
    """
    from fontTools.ttLib import TTFont

    descriptor = font.DescendantFonts[0].get("/FontDescriptor")
    stream = descriptor.get("/FontFile2") if descriptor is not None else None
    if stream is None:
        return 65536
    if stream.objgen not in counts or not stream.is_indirect:
        try:
            count = int(TTFont(io.BytesIO(stream.read_bytes()), lazy=True)["maxp"].numGlyphs)
        except Exception:  # a font we cannot parse: do not guess
            count = 65536
        if not stream.is_indirect:
            return count
        counts[stream.objgen] = count
    return counts[stream.objgen]


def _images(checker: _Checker, pdf: pikepdf.Pdf, labels: list[str], min_ppi: int) -> None:
    for page, number in zip(pdf.pages, labels, strict=True):
        xobjects = page.obj.get("/Resources", {}).get("/XObject", {})
        images = {
            str(name): x for name, x in xobjects.items() if x.get("/Subtype") == "/Image"
        }
        if not images:
            continue
        matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
        stack = []
        for operands, operator in pikepdf.parse_content_stream(page):
            op = str(operator)
            if op == "q":
                stack.append(matrix)
            elif op == "Q" and stack:
                matrix = stack.pop()
            elif op == "cm":
                matrix = _multiply([float(v) for v in operands], matrix)
            elif op == "Do" and str(operands[0]) in images:
                image = images[str(operands[0])]
                width_in = (matrix[0] ** 2 + matrix[1] ** 2) ** 0.5 / 72
                height_in = (matrix[2] ** 2 + matrix[3] ** 2) ** 0.5 / 72
                if not width_in or not height_in:
                    continue
                ppi = min(int(image.Width) / width_in, int(image.Height) / height_in)
                if ppi < min_ppi:
                    checker.warning(
                        f"image on page {number} prints at {ppi:.0f} pixels per inch "
                        f"(under {min_ppi}: it will look blurry)",
                        "image-resolution",
                    )


def _multiply(a: list[float], b: list[float]) -> list[float]:
    """PDF matrix product a x b (a applied first)."""
    return [
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
        a[4] * b[0] + a[5] * b[2] + b[4],
        a[4] * b[1] + a[5] * b[3] + b[5],
    ]


def _accessibility(checker: _Checker, pdf: pikepdf.Pdf, labels: list[str],
                   count_marks: Callable[[pikepdf.Page], int] | None = None) -> None:
    """Tagged for screen readers: see tags.accessibility_problems."""
    for problem in accessibility_problems(pdf, count_marks):
        where = "" if problem.page is None else f"page {labels[problem.page]}: "
        checker.error(f"{where}{problem.message}", "accessibility")


def _links(checker: _Checker, document: pikepdf.Pdf, labels: list[str],
           page_of: Callable[[object], int]) -> None:
    count = len(document.pages)
    for page, number in zip(document.pages, labels, strict=True):
        for annotation in page.obj.get("/Annots", None) or []:
            if not isinstance(annotation, pikepdf.Dictionary) or (
                    annotation.get("/Subtype") != "/Link"):
                continue
            action = annotation.get("/A")
            target = _target(annotation)
            if target is not None and not 0 <= page_of(target) < count:
                checker.error(f"a link on page {number} points at no page", "links")
            if isinstance(action, pikepdf.Dictionary) and action.get("/S") == "/URI":
                uri = str(action.get("/URI", ""))
                parts = urlsplit(uri)
                ok = (parts.scheme in ("http", "https") and "." in parts.netloc) or (
                    parts.scheme == "mailto" and "@" in parts.path
                )
                if not ok or " " in uri:
                    checker.error(f"link on page {number} has a broken address '{uri}'",
                                  "links")


def _title_and_author(checker: _Checker, document: pikepdf.Pdf) -> None:
    info = document.docinfo
    for key, name in (("/Title", "title"), ("/Author", "author")):
        if not str(info.get(key, "")).strip():
            checker.error(f"the PDF has no {name}", "metadata")


def _metadata(
    checker: _Checker,
    document: pikepdf.Pdf,
    pages: list[Page],
    labels: list[str],
    config: Config,
    today: date,
) -> None:
    from pipeline.templates import long_date

    _title_and_author(checker, document)
    if not str(document.Root.get("/Lang", "")).strip():
        checker.error("the PDF has no language (/Lang)", "metadata")
    front = [p.text for p, label in zip(pages, labels, strict=True) if not label.isdigit()]
    wanted = f"Last reviewed: {long_date(config.last_reviewed, config.language)}"
    if not any(wanted in " ".join(t.split()) for t in front):
        checker.error(f"the copyright page does not say '{wanted}' (booklet.toml's date)",
                      "metadata")
    months = (today.year - config.last_reviewed.year) * 12 + today.month - (
        config.last_reviewed.month
    )
    if months > config.checks.review_max_months:
        checker.warning(
            f"the guide was last reviewed {months} months ago "
            f"(more than {config.checks.review_max_months}): time to check it again",
            "metadata",
        )
