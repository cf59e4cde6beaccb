"""Part (an HTML document) -> RenderedPart (a PDF part and where its anchors are).

The only module that imports WeasyPrint (workers.py runs it in worker
processes, which import it themselves). Every fetch goes through
ProjectFetcher, which serves files inside the project and refuses the rest,
so a document can never read the machine's files or the network.

Links to anchors in other parts cannot be resolved inside one part, and
named destinations do not survive a merge: so every internal link is taken
out of the part and handed on as a PendingLink, for the assembler to add as
an explicit destination once all parts are merged into one PDF.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, unquote_to_bytes, urlsplit
from urllib.request import url2pathname

import pyphen
from weasyprint import CSS, HTML
from weasyprint.document import Document
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from pipeline.cache import file_digest, hyphenation_patterns
from pipeline.fonts import FALLBACK_FAMILIES, FAMILY
from pipeline.images import image_problem
from pipeline.model import (
    LIMITS,
    PDF_OPTIONS,
    PROJECT_URL,
    PT_PER_PX,
    Anchor,
    BookletError,
    Part,
    PendingLink,
    RenderedPart,
    megabytes,
    placeholder,
    shown_path,
)

SHIPPED_FAMILIES = {FAMILY, *FALLBACK_FAMILIES}
# WeasyPrint's warnings when a resource could not be used; each stops the part.
FAILED_LOADS = ("Failed to load image", "Failed to render SVG image", "Failed to load attachment",
                "Failed to load stylesheet", "Font-face", "Failed to load inline SVG")


class RefusedFetch(FatalURLFetchingError):
    """A document asked for something outside the project (or something unsafe)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"'{_short(url)}': {reason}")
        self.url = url
        self.reason = reason


# What the fetcher serves, by file name ending: stylesheets, fonts, images. Nothing
# else (no chapter, no config, no attachment of any other kind) leaves the project.
SERVED_TYPES = {
    ".css": "text/css",
    ".ttf": "font/ttf", ".otf": "font/otf", ".woff": "font/woff", ".woff2": "font/woff2",
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
    ".webp": "image/webp", ".svg": "image/svg+xml",
}


class ProjectFetcher(URLFetcher):
    """Serves stylesheets, fonts and images inside the project folder; refuses the rest.

    Refused: any other scheme (http, https, ftp, file outside the project, a
    font from the machine through local()), a path that leaves the project
    (../, or a symlink out of it), a file of another kind (an attachment), an
    image that fails its checks (images.py), and a data: URL over
    LIMITS.data_url_bytes. Nothing here opens a network connection. Every
    refusal is also recorded, because WeasyPrint swallows some exceptions (an
    SVG's own fetches) and must not be able to hide one.
    """

    def __init__(self, root: Path) -> None:
        super().__init__(allowed_protocols={"file", "data"}, fail_on_errors=True)
        self.root = root.resolve()
        self.refused: list[RefusedFetch] = []

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        try:
            return self._serve(url)
        except RefusedFetch as refusal:
            self.refused.append(refusal)
            raise

    def _serve(self, url: str) -> URLFetcherResponse:
        if url.startswith("data:"):
            return self._data(url)
        if not url.startswith(PROJECT_URL):
            scheme = urlsplit(url).scheme if ":" in url else ""
            if scheme in ("http", "https", "ftp"):
                raise RefusedFetch(url, "the book never loads anything from the network "
                                        "(download the file into the project)")
            raise RefusedFetch(url, "is not a file in the project")
        path = _project_file(url, self.root).resolve()
        if not path.is_relative_to(self.root):
            raise RefusedFetch(url, "is outside the project")
        if not path.is_file():
            raise RefusedFetch(url, f"'{path.relative_to(self.root)}' does not exist")
        content_type = SERVED_TYPES.get(path.suffix.lower())
        if content_type is None:
            raise RefusedFetch(url, "is not a stylesheet, font or image "
                                    "(nothing else is loaded or attached)")
        try:
            data = path.read_bytes()
        except OSError as err:
            raise RefusedFetch(url, f"cannot be read ({err.strerror})") from None
        if content_type.startswith("image/"):
            problem = image_problem(data, path.name)
            if problem:
                raise RefusedFetch(url, f"the image {problem}")
        return URLFetcherResponse(url, data, {"Content-Type": content_type})

    def _data(self, url: str) -> URLFetcherResponse:
        if len(url) > LIMITS.data_url_bytes:
            raise RefusedFetch(url, f"a data: URL of {megabytes(len(url))}, over the "
                                    f"{megabytes(LIMITS.data_url_bytes)} limit")
        header, comma, payload = url[len("data:"):].partition(",")
        if not comma:
            raise RefusedFetch(url, "is not a valid data: URL")
        media, *parameters = header.split(";")
        try:
            if parameters and parameters[-1].strip().lower() == "base64":
                data = base64.b64decode(unquote_to_bytes(payload), validate=False)
                parameters = parameters[:-1]
            else:
                data = unquote_to_bytes(payload)
        except ValueError:
            raise RefusedFetch(url, "is not a valid data: URL") from None
        content_type = media.strip().lower() or "text/plain"
        if content_type.startswith("image/"):
            problem = image_problem(data, "data.svg" if "svg" in content_type else "data")
            if problem:
                raise RefusedFetch(url, f"the image {problem}")
        value = ";".join([content_type, *parameters])
        return URLFetcherResponse(url, data, {"Content-Type": value})


def _short(url: str) -> str:
    return url if len(url) <= 80 else url[:60] + "…"


def _take_links(document: Document, keep_local_links: bool
                ) -> tuple[list[Anchor], list[PendingLink]]:
    """The document's anchors; its internal links, as placeholders resolved after the merge."""
    anchors: list[Anchor] = []
    pending: list[PendingLink] = []
    local = {name for page in document.pages for name in page.anchors}
    for index, page in enumerate(document.pages):
        height_px = page.height
        for name, (x, y, *_) in page.anchors.items():
            anchors.append(Anchor(name, index, x * PT_PER_PX, (height_px - y) * PT_PER_PX))
        kept, internal = [], []
        for link in page.links:
            kind, target, rectangle, box = link
            if kind != "internal":
                kept.append(link)
            elif not (keep_local_links and target not in local):  # a handout: only its own
                internal.append((target, rectangle, box))
        for target, (x0, y0, x1, y1), box in _one_per_line(internal):
            rect = (x0 * PT_PER_PX, (height_px - y1) * PT_PER_PX,
                    x1 * PT_PER_PX, (height_px - y0) * PT_PER_PX)
            pending.append(PendingLink(index, rect, target))
            # Kept (so it stays tagged) with a URI the assembler resolves.
            kept.append(("external", placeholder(target, _text_of(box)), (x0, y0, x1, y1), box))
        page.links[:] = kept
    return anchors, pending


def _check_loads(fetcher: ProjectFetcher, warnings: list[str], part: Part, root: Path) -> None:
    if fetcher.refused:  # refused, and the refusal swallowed inside WeasyPrint
        raise _refused(fetcher.refused[0], part, root)
    failed = [w for w in warnings if w.startswith(FAILED_LOADS)]
    if failed:
        # A book with a hole where a picture or a stylesheet should be is not a book.
        raise BookletError.at(shown_path(part.source, root), None, failed[0].strip())


def _refused(refusal: RefusedFetch, part: Part, root: Path) -> BookletError:
    path, line = blame(refusal, part, root)
    return BookletError.at(path, line, f"refused to load {refusal}")


def blame(refusal: RefusedFetch, part: Part, root: Path) -> tuple[str, int | None]:
    """The file and line that asked for a refused URL: the part's source, else a stylesheet."""
    url = refusal.url
    if url.startswith("data:"):
        needles = [url[:200], url[:60], url.split(",", 1)[0]]
    else:
        needles = [url, unquote(url), url.removeprefix(PROJECT_URL)]
        name = unquote(urlsplit(url).path).rsplit("/", 1)[-1]
        if len(name) > 2:
            needles.append(name)
    candidates = [part.source, *sorted((root / "styles").rglob("*.css"))]
    for needle in needles:
        for path in candidates:
            try:
                lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
            except OSError:
                continue
            for number, line in enumerate(lines, 1):
                if needle in line or needle in unquote(line):
                    return shown_path(path, root), number
    return shown_path(part.source, root), None


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _fixed_font_dates() -> Iterator[None]:
    """Fonts WeasyPrint cuts itself get a fixed date, not the clock's: same bytes every run.

    fontTools stamps a font it saves with SOURCE_DATE_EPOCH when that is set
    (the reproducible-builds convention), else with the time now. A value the
    caller set is kept.
    """
    if "SOURCE_DATE_EPOCH" in os.environ:
        yield
        return
    os.environ["SOURCE_DATE_EPOCH"] = "0"
    try:
        yield
    finally:
        os.environ.pop("SOURCE_DATE_EPOCH", None)


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


FONT_FACE_URL = re.compile(r"@font-face\s*\{[^}]*?src:\s*url\(\"?([^\")]+)")
# The stylesheets our templates put in a document's head: a <style> block and
# the book's stylesheet. Chapter HTML cannot carry either (sanitize.py).
HEAD_STYLESHEET = re.compile(r'<style>(.*?)</style>|<link rel="stylesheet" href="([^"<>]+)">',
                             re.S)
# At-rules whose effect WeasyPrint keeps outside the sheet, in the document:
# a sheet with one is left in the document, to be parsed as WeasyPrint parses it.
DOCUMENT_AT_RULES = ("@counter-style", "@color-profile", "@import", "@layer")


@dataclass
class _Kept:
    """What one process keeps for documents that declare the same fonts."""

    configuration: FontConfiguration
    # A parsed stylesheet, and the warnings its parsing gave, by its text and
    # address; the most recently used last.
    sheets: OrderedDict[tuple[str, ...], tuple[CSS, tuple[str, ...]]] = field(
        default_factory=OrderedDict)


# Kept by this process, newest last: (process id, fonts' digest).
_FONT_CONFIGURATIONS: OrderedDict[tuple[int, str], _Kept] = OrderedDict()
KEPT_FONT_CONFIGURATIONS = 4
KEPT_STYLESHEETS = 16  # per configuration: a book's few, a batch's letters and labels


def _font_configuration(html: str, root: Path) -> _Kept:
    """WeasyPrint's font configuration for a document that declares these @font-face fonts.

    Loading the fonts into Fontconfig and Pango, and Pango's caches of shaped
    glyphs, cost a fifth of a chapter's typesetting. Every part of a book
    declares the same fonts, so each process keeps one configuration per set of
    font files (by their bytes: a changed file is a new set), and the output is
    the same bytes as with a fresh one (tests/test_cache.py). A forked worker
    makes its own rather than use its parent's. The stylesheets parsed with a
    configuration are kept with it (`_stylesheets`).
    """
    digest = hashlib.sha256()
    for url in sorted(set(FONT_FACE_URL.findall(html))):
        digest.update(url.encode("utf-8", "surrogatepass"))
        if url.startswith(PROJECT_URL):
            digest.update((file_digest(_project_file(url, root)) or "").encode())
    key = (os.getpid(), digest.hexdigest())
    kept = _FONT_CONFIGURATIONS.pop(key, None) or _Kept(FontConfiguration())
    _FONT_CONFIGURATIONS[key] = kept
    while len(_FONT_CONFIGURATIONS) > KEPT_FONT_CONFIGURATIONS:
        _FONT_CONFIGURATIONS.popitem(last=False)
    return kept


HTML_LANGUAGE = re.compile(r"""<html\b[^>]*\blang=["']([^"']+)["']""", re.IGNORECASE)


def _hyphenation_patterns(html: str, root: Path) -> None:
    """Pyphen's patterns for the document's language, read through the cache."""
    found = HTML_LANGUAGE.search(html, 0, 4096)
    language = pyphen.language_fallback(found.group(1)) if found else None
    if language is not None:
        hyphenation_patterns(language, root)


def _stylesheets(part: Part, root: Path, kept: _Kept, fetcher: ProjectFetcher,
                 warnings: list[str]) -> tuple[str, list[CSS]]:
    """The part's HTML without its head's stylesheets, and those stylesheets, parsed.

    Parsing the book's stylesheet cost a tenth of a chapter's typesetting, and
    every part of a book has the same one: so each is parsed once per process
    and font configuration, and handed to WeasyPrint already parsed, in the
    same order. (They take the "user" place in the cascade instead of the
    "author" one; nothing else is in the author's, except style attributes,
    which win either way: the same pages, byte for byte,
    tests/test_templates_typeset.py.)
    A sheet is kept by its text, or by its address and the file's bytes; and
    with the warnings its parsing gave, which every part that uses it repeats.
    A sheet whose parsing refused a fetch is never kept.
    """
    head, marker, rest = part.html.partition("</head>")
    sheets: list[CSS] = []
    pieces: list[str] = []
    start = 0
    for match in HEAD_STYLESHEET.finditer(head) if marker else ():
        text, href = match.groups()
        if text is not None:
            if any(rule in text for rule in DOCUMENT_AT_RULES):
                continue  # left in the document, for WeasyPrint to parse
            key: tuple[str, ...] = ("style", part.base_url, text)
        else:
            path = _served(href, root)
            if path is None:
                continue  # left in the document, for WeasyPrint to fetch (or refuse)
            key = ("link", href, str(path), file_digest(path) or "")
        sheets.append(_parsed(key, text, href, part, kept, fetcher, warnings))
        pieces.append(head[start:match.start()])
        start = match.end()
    if not sheets:
        return part.html, []
    pieces.append(head[start:])
    return "".join(pieces) + marker + rest, sheets


def _parsed(key: tuple[str, ...], text: str | None, href: str | None, part: Part,
            kept: _Kept, fetcher: ProjectFetcher, warnings: list[str]) -> CSS:
    """A stylesheet parsed before with these fonts, or parsed now (and kept unless refused)."""
    if key not in kept.sheets:
        refused, said = len(fetcher.refused), len(warnings)
        if text is not None:
            sheet = CSS(string=text, base_url=part.base_url, url_fetcher=fetcher,
                        font_config=kept.configuration)
        else:
            sheet = CSS(url=href, url_fetcher=fetcher, font_config=kept.configuration,
                        _check_mime_type=True)
        if len(fetcher.refused) > refused:
            return sheet
        kept.sheets[key] = (sheet, tuple(warnings[said:]))
        del warnings[said:]
        while len(kept.sheets) > KEPT_STYLESHEETS:
            kept.sheets.popitem(last=False)
    kept.sheets.move_to_end(key)
    sheet, said_then = kept.sheets[key]
    warnings.extend(said_then)
    return sheet


def _project_file(url: str, root: Path) -> Path:
    """The path a project URL names (not yet resolved, nor checked)."""
    return root / url2pathname(unquote(urlsplit(url).path[len("/booklet-project/"):]))


def _served(url: str, root: Path) -> Path | None:
    """The file a project URL names, if it is one in the project (as ProjectFetcher sees it)."""
    if not url.startswith(PROJECT_URL):
        return None
    try:
        path = _project_file(url, root).resolve()
    except OSError:
        return None
    return path if path.is_relative_to(root.resolve()) and path.is_file() else None


def typeset(
    part: Part, root: Path, whole_fonts: bool = True, keep_local_links: bool = False,
) -> RenderedPart:
    """Typeset one part to PDF bytes, with its anchors and its links to other parts.

    `whole_fonts=False` lets WeasyPrint subset the fonts itself, as a book typeset
    in one pass would. `keep_local_links` leaves links to anchors inside this
    document to WeasyPrint (for a document that is not merged, like a handout).
    `for_merge` writes the part without object streams (see _plain_objects);
    otherwise the PDF is WeasyPrint's own.
    """
    started = time.perf_counter()
    _hyphenation_patterns(part.html, root)
    with _weasyprint_warnings() as warnings:
        fetcher = ProjectFetcher(root)
        try:
            kept = _font_configuration(part.html, root)
            text, sheets = _stylesheets(part, root, kept, fetcher, warnings)
            html = HTML(string=text, base_url=part.base_url, url_fetcher=fetcher)
            document = html.render(font_config=kept.configuration, stylesheets=sheets)
            _check_loads(fetcher, warnings, part, root)
            anchors, pending = _take_links(document, keep_local_links)
            options = {**PDF_OPTIONS, "full_fonts": whole_fonts, "pdf_tags": part.tagged}
            with _fixed_font_dates():
                pdf = document.write_pdf(**options)
        except RefusedFetch as refusal:
            raise _refused(fetcher.refused[0] if fetcher.refused else refusal, part,
                           root) from None
        _check_loads(fetcher, warnings, part, root)  # attachments are fetched while writing
        for font in document.fonts.values():
            if font.family not in SHIPPED_FAMILIES:
                shown = "".join(sorted(set("".join(font.to_unicode.values())) - {" "}))
                warnings.append(
                    f"characters {shown!r} are not in the shipped fonts and were set in "
                    f"'{font.family}' from this machine (page counts may differ elsewhere)"
                )
    assert isinstance(pdf, bytes)
    if part.slots:
        from pipeline.furniture import cut_sheet  # (pikepdf: loaded for furniture alone)

        pdf = cut_sheet(pdf, part.slots)
    return RenderedPart(
        name=part.name,
        pdf=pdf,
        page_count=part.slots or len(document.pages),
        anchors=tuple(anchors),
        pending_links=tuple(pending),
        warnings=tuple(warnings),
        seconds=time.perf_counter() - started,
    )


def _text_of(box: object) -> str:
    """The text of a link's element, not of its pseudo-elements (a contents line's number)."""
    element = getattr(box, "element", None)
    return "" if element is None else "".join(element.itertext())


def _one_per_line(
    links: list[tuple[str, tuple[float, float, float, float], object]],
) -> list[tuple[str, tuple[float, float, float, float], object]]:
    """One link per element and line, not one per inline box and pseudo-element.

    (A contents line is a title and, in a box of its own, its page number.)
    """
    merged: list[tuple[str, tuple[float, float, float, float], object]] = []
    for target, (x0, y0, x1, y1), box in links:
        for index, (other_target, (a0, b0, a1, b1), other_box) in enumerate(merged):
            same = other_target == target and getattr(
                other_box, "element", None) is getattr(box, "element", None)
            if same and y0 < b1 and b0 < y1:
                merged[index] = (target, (min(x0, a0), min(y0, b0), max(x1, a1),
                                          max(y1, b1)), other_box)
                break
        else:
            merged.append((target, (x0, y0, x1, y1), box))
    return merged
