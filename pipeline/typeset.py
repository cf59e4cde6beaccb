"""Part (an HTML document) -> RenderedPart (a PDF part and where its anchors are).

The only module that imports WeasyPrint. Every fetch goes through
ProjectFetcher, which serves files inside the project and refuses the rest,
so a document can never read the machine's files or the network.

Links to anchors in other parts cannot be resolved inside one part, and
named destinations do not survive a merge: so every internal link is taken
out of the part and handed on as a PendingLink, for the assembler to add as
an explicit destination once all parts are merged into one PDF.
"""

from __future__ import annotations

import io
import logging
import mimetypes
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pikepdf
from weasyprint import HTML
from weasyprint import __version__ as weasyprint_version
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from pipeline.cache import PartCache
from pipeline.fonts import FALLBACK_FAMILIES, FAMILY
from pipeline.model import (
    PROJECT_URL,
    PT_PER_PX,
    Anchor,
    BookletError,
    Part,
    PendingLink,
    RenderedPart,
    shown_path,
)
from pipeline.progress import Progress
from pipeline.tags import placeholder

# Options for every write: fonts are embedded whole (they are already trimmed to
# the book's characters, see fonts.py) so that identical font files in different
# parts can be merged into one.
PDF_OPTIONS = {"full_fonts": True, "hinting": False, "uncompressed_pdf": False}


SHIPPED_FAMILIES = {FAMILY, *FALLBACK_FAMILIES}


class RefusedFetch(FatalURLFetchingError):
    """A document asked for something outside the project."""


class ProjectFetcher(URLFetcher):
    """Serves files inside the project folder; refuses every other URL."""

    def __init__(self, root: Path) -> None:
        super().__init__(allowed_protocols={"file"}, fail_on_errors=True)
        self.root = root.resolve()

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        if not url.startswith(PROJECT_URL):
            raise RefusedFetch(f"'{url}' is not a file in the project")
        path = (self.root / url2pathname(urlsplit(url).path[len("/booklet-project/") :])).resolve()
        if not path.is_relative_to(self.root):
            raise RefusedFetch(f"'{url}' is outside the project")
        if not path.is_file():
            raise RefusedFetch(f"'{path.relative_to(self.root)}' does not exist")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": content_type})


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _weasyprint_warnings() -> Iterator[list[str]]:
    logger = logging.getLogger("weasyprint")
    handler = _Collect()
    logger.addHandler(handler)
    propagate = logger.propagate
    logger.propagate = False
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def typeset(
    part: Part, root: Path, whole_fonts: bool = True, keep_local_links: bool = False,
    for_merge: bool = False,
) -> RenderedPart:
    """Typeset one part to PDF bytes, with its anchors and its links to other parts.

    `whole_fonts=False` lets WeasyPrint subset the fonts itself, as a book typeset
    in one pass would. `keep_local_links` leaves links to anchors inside this
    document to WeasyPrint (for a document that is not merged, like a handout).
    `for_merge` writes the part without object streams (see _plain_objects);
    otherwise the PDF is WeasyPrint's own.
    """
    started = time.perf_counter()
    with _weasyprint_warnings() as warnings:
        try:
            html = HTML(string=part.html, base_url=part.base_url, url_fetcher=ProjectFetcher(root))
            document = html.render()
        except RefusedFetch as err:
            raise BookletError.at(
                shown_path(part.source, root), None, f"refused to load {err}"
            ) from None
        anchors: list[Anchor] = []
        pending: list[PendingLink] = []
        local = {name for page in document.pages for name in page.anchors}
        for index, page in enumerate(document.pages):
            height_px = page.height
            for name, (x, y, *_) in page.anchors.items():
                anchors.append(Anchor(name, index, x * PT_PER_PX, (height_px - y) * PT_PER_PX))
            kept = []
            for link in page.links:
                kind, target, (x0, y0, x1, y1), box = link
                if kind != "internal":
                    kept.append(link)
                    continue
                if keep_local_links and target not in local:
                    continue  # a handout prints one chapter: the rest is not there
                rect = tuple(v * PT_PER_PX for v in (x0, height_px - y1, x1, height_px - y0))
                pending.append(PendingLink(index, rect, target))
                # Kept (so it stays tagged) with a URI the assembler resolves.
                kept.append(("external", placeholder(target, _text_of(box)), link[2], box))
            kept = _one_per_line(kept)
            page.links[:] = kept
        options = {**PDF_OPTIONS, "full_fonts": whole_fonts, "pdf_tags": part.tagged}
        pdf = document.write_pdf(**options)
        if for_merge:
            pdf = _plain_objects(pdf)
        for font in document.fonts.values():
            if font.family not in SHIPPED_FAMILIES:
                shown = "".join(sorted(set("".join(font.to_unicode.values())) - {" "}))
                warnings.append(
                    f"characters {shown!r} are not in the shipped fonts and were set in "
                    f"'{font.family}' from this machine (page counts may differ elsewhere)"
                )
    assert isinstance(pdf, bytes)
    return RenderedPart(
        name=part.name,
        pdf=pdf,
        page_count=len(document.pages),
        anchors=tuple(anchors),
        pending_links=tuple(_merge_rects(pending)),
        warnings=tuple(warnings),
        seconds=time.perf_counter() - started,
    )


def _plain_objects(pdf: bytes) -> bytes:
    """The same PDF with every object on its own (no object streams).

    The merge (pypdf, in Python) then reads only the objects it needs; packed in
    object streams, a tagged part's thousands of structure elements would all be
    parsed just to find its catalog.
    """
    with pikepdf.open(io.BytesIO(pdf)) as document:
        out = io.BytesIO()
        document.save(out, object_stream_mode=pikepdf.ObjectStreamMode.disable,
                      compress_streams=True, deterministic_id=True)
    return out.getvalue()


def _text_of(box: object) -> str:
    """The text of a link's element (not of its pseudo-elements: leaders, numbers)."""
    element = getattr(box, "element", None)
    return "" if element is None else "".join(element.itertext())


def _one_per_line(links: list[tuple]) -> list[tuple]:
    """One annotation per link and line, not one per inline box and pseudo-element.

    (A contents line is a title, a dotted leader and a page number.)
    """
    merged: list[tuple] = []
    for kind, target, (x0, y0, x1, y1), box in links:
        for index, (other_kind, other_target, (a0, b0, a1, b1), other_box) in enumerate(merged):
            same = (other_kind, other_target) == (kind, target) and getattr(
                other_box, "element", None) is getattr(box, "element", None)
            if same and y0 < b1 and b0 < y1:
                rect = (min(x0, a0), min(y0, b0), max(x1, a1), max(y1, b1))
                merged[index] = (kind, target, rect, other_box)
                break
        else:
            merged.append((kind, target, (x0, y0, x1, y1), box))
    return merged


def _merge_rects(links: list[PendingLink]) -> list[PendingLink]:
    """One link per target and line: WeasyPrint gives one rectangle per inline box."""
    merged: list[PendingLink] = []
    for link in links:
        x0, y0, x1, y1 = link.rect_pt
        for index, other in enumerate(merged):
            a0, b0, a1, b1 = other.rect_pt
            same_line = y0 < b1 and b0 < y1
            if other.page == link.page and other.target == link.target and same_line:
                rect = (min(x0, a0), min(y0, b0), max(x1, a1), max(y1, b1))
                merged[index] = PendingLink(link.page, rect, link.target)
                break
        else:
            merged.append(link)
    return merged


def _typeset_job(args: tuple[Part, Path, bool, bool]) -> RenderedPart:
    part, root, whole_fonts, keep_local_links = args
    return typeset(part, root, whole_fonts, keep_local_links, for_merge=True)


def typeset_all(
    parts: Sequence[Part],
    root: Path,
    jobs: int | None = None,
    whole_fonts: bool = True,
    keep_local_links: bool = False,
    cache: PartCache | None = None,
    progress: Progress | None = None,
) -> list[RenderedPart]:
    """Typeset parts (those not in the cache), in parallel worker processes."""
    options = {"whole_fonts": whole_fonts, "keep_local_links": keep_local_links,
               "pdf": PDF_OPTIONS}
    keys = [cache.key(part, options) for part in parts] if cache else [""] * len(parts)
    found = [cache.get(key) if cache else None for key in keys]
    missing = [i for i, part in enumerate(found) if part is None]
    progress = progress or Progress()
    cached = len(parts) - len(missing)

    def finished(done: int, name: str) -> None:
        progress.advance("typeset", cached + done, len(parts), name)

    made = _typeset_many([parts[i] for i in missing], root, jobs, whole_fonts,
                         keep_local_links, finished)
    for i, part in zip(missing, made, strict=True):
        found[i] = part
        if cache:
            cache.put(keys[i], part)
    return [part for part in found if part is not None]


def _typeset_many(
    parts: Sequence[Part], root: Path, jobs: int | None, whole_fonts: bool,
    keep_local_links: bool, finished: Callable[[int, str], None],
) -> list[RenderedPart]:
    jobs = jobs or default_jobs()
    if jobs <= 1 or len(parts) <= 1:
        one_by_one = []
        for part in parts:
            one_by_one.append(typeset(part, root, whole_fonts, keep_local_links,
                                      for_merge=True))
            finished(len(one_by_one), part.name)
        return one_by_one
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=min(jobs, len(parts)), mp_context=context,
                             initializer=_ignore_interrupts) as pool:
        try:
            # Longest parts first, so that no worker is left with a big one at the end.
            order = sorted(range(len(parts)), key=lambda i: -len(parts[i].html))
            futures = {
                pool.submit(_typeset_job, (parts[i], root, whole_fonts, keep_local_links)): i
                for i in order
            }
            made: dict[int, RenderedPart] = {}
            failed: dict[int, BaseException] = {}
            for future in as_completed(futures):
                index = futures[future]
                error = future.exception()
                if error is None:
                    made[index] = future.result()
                    finished(len(made), parts[index].name)
                else:
                    failed[index] = error
        except BaseException:
            # Ctrl-C: the parts not yet started are not wanted.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    if failed:
        raise failed[min(failed)]  # the first part's problem, whichever finished first
    return [made[i] for i in range(len(parts))]


def _ignore_interrupts() -> None:
    """In a worker: Ctrl-C is for the command, which stops the workers itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # whatever the command made of it


def engine() -> str:
    """What typesets, for the cache key: a new WeasyPrint means new pages."""
    return f"weasyprint {weasyprint_version}"


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1

