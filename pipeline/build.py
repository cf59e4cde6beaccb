"""The story of one book: booklet.toml and chapters/ -> output/guide.pdf.

1. read the config and the chapters;
2. convert each chapter's Markdown to HTML, and check every cross-reference;
3. trim the shipped fonts to the book's characters;
4. typeset every chapter and the back cover as separate parts, in parallel;
5. plan the pages: where each part starts, every page's label and furniture;
6. typeset the front matter, whose contents now know the true page numbers;
7. typeset the page furniture (running heads, folios): each run of pages on one
   tall sheet, cut back into pages (furniture.py);
8. merge, link, outline, label, write the PDF atomically.
"""

from __future__ import annotations

import hashlib
import html
import importlib
import io
import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from datetime import time as clock
from pathlib import Path

from pipeline.cache import BlobCache, Memo, PartCache, code_fingerprint, file_digest
from pipeline.config import load_config
from pipeline.convert import convert_book
from pipeline.files import publish, write_atomically, write_temporary
from pipeline.fonts import (
    FontFace,
    shipped_faces,
    trimmed_faces,
)
from pipeline.impose import impose, sheet_sides
from pipeline.lint import as_errors, lint_chapter, longest_sentences, silenced
from pipeline.model import (
    BookletError,
    BuildReport,
    Chapter,
    Config,
    ConvertedChapter,
    Edition,
    Finding,
    Metadata,
    PageMap,
    RenderedPart,
    TocEntry,
    shown_path,
)
from pipeline.pagemap import PartSpec, furniture_runs, plan_book
from pipeline.progress import Progress
from pipeline.sources import load_chapters
from pipeline.templates import FRONT, Templates, collected_sources
from pipeline.workers import Workers, engine, load_job, typeset_all

log = logging.getLogger("booklet")


@dataclass
class Stopwatch:
    """How long each stage took; and, for the person waiting, which stage is running."""

    seconds: dict[str, float] = field(default_factory=dict)
    progress: Progress = field(default_factory=Progress)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.progress.stage(name)
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


@dataclass(frozen=True)
class Book:
    """The sources, read and converted once for every edition built from them.

    The book is linted once whatever the number of editions: here, while
    the workers typeset (only the chapters changed are linted again:
    `lint_book`). Linting 20 chapters takes about 0.1 s of CPU; in a worker
    it would first load the build's code (0.2 s).
    """

    config: Config
    converted: list[ConvertedChapter]
    fonts: tuple[FontFace, ...]
    _linting: list[Future[Linted]] = field(default_factory=list, repr=False, compare=False)

    def lint_here(self) -> None:
        if not self._linting:
            self._linting.append(Workers(1).submit(lint_job, self.converted, self.config))

    def lint_in_a_worker(self, workers: Workers) -> None:
        """At once, ahead of background work held for idle workers (a batch's
        letters): the build waits for it."""
        if not self._linting:
            self._linting.append(workers.submit(lint_job, self.converted, self.config))

    def linted(self, watch: Stopwatch, workers: Workers) -> Linted:
        self.lint_in_a_worker(workers)
        with watch.stage("lint"):  # the wait for it, if any
            return self._linting[0].result()


@dataclass(frozen=True)
class Linted:
    findings: list[Finding]
    grades: dict[str, float]
    longest: dict[str, tuple[tuple[int, int], ...]]


def lint_job(converted: list[ConvertedChapter], config: Config) -> Linted:
    """Lint findings, grade levels and longest sentences of the book (in a worker)."""
    return lint_book(converted, config, BlobCache(cache_dir(config.root) / "lint"))


def read_book(root: Path, watch: Stopwatch) -> Book:
    """Read and convert the sources; trim the fonts to the characters the book prints.

    (Cutting the four faces takes a few milliseconds: `fonts.cut_font`.)
    """
    with watch.stage("read"):
        config = load_config(root)
        chapters = load_chapters(config)
    with watch.stage("convert"):
        converted = convert_book(chapters, root)
    with watch.stage("fonts"):
        fonts = trimmed_faces(config.styles_dir / "fonts", book_text(config, converted),
                              cache_dir(root))
    return Book(config, converted, fonts)


def build(
    root: Path,
    output: Path | None = None,
    jobs: int | None = None,
    source_date_epoch: int | None = None,
    strict: bool = False,
    today: date | None = None,
    edition: str | None = None,
    progress: Progress | None = None,
    workers: Workers | None = None,
) -> BuildReport:
    """Build, lint and preflight one edition (the default one unless named).

    The default edition goes to output/guide.pdf, a named one to
    output/editions/<name>.pdf. A book with errors goes to output/rejected/.
    With `workers` (a command's own, already started), the build typesets in
    them; otherwise it starts its own (`jobs` of them).
    """
    root = root.resolve()
    watch = Stopwatch(progress=progress or Progress())
    started = time.perf_counter()
    try:
        with nullcontext(workers) if workers else Workers(jobs) as running:
            # The workers start (importing WeasyPrint) while the sources are read.
            book = read_book(root, watch)
            chosen = book.config.edition_named(edition)
            if output is None:
                output = root / "output" / (
                    f"editions/{chosen.name}.pdf" if edition else "guide.pdf")
            return build_edition(book, chosen, output, watch, started, running,
                                 source_date_epoch, strict, today)
    finally:
        watch.progress.clear()


def build_all_editions(
    root: Path,
    jobs: int | None = None,
    source_date_epoch: int | None = None,
    strict: bool = False,
    today: date | None = None,
    progress: Progress | None = None,
    workers: Workers | None = None,
) -> list[BuildReport]:
    """Every edition in booklet.toml, each to output/editions/<name>.pdf."""
    root = root.resolve()
    progress = progress or Progress()
    watch = Stopwatch(progress=progress)
    started = time.perf_counter()
    reports = []
    try:
        with nullcontext(workers) if workers else Workers(jobs) as running:
            book = read_book(root, watch)
            for edition in book.config.editions:
                output = root / "output" / "editions" / f"{edition.name}.pdf"
                reports.append(build_edition(book, edition, output,
                                             Stopwatch(dict(watch.seconds), progress),
                                             started, running, source_date_epoch, strict,
                                             today))
                started = time.perf_counter()
                watch = Stopwatch(progress=progress)
    finally:
        progress.clear()
    return reports


def build_edition(
    book: Book,
    edition: Edition,
    output: Path,
    watch: Stopwatch,
    started: float,
    workers: Workers,
    source_date_epoch: int | None,
    strict: bool,
    today: date | None,
) -> BuildReport:
    config, converted = book.config, book.converted
    root = config.root
    templates = Templates(config, book.fonts, edition.layout)
    cache = PartCache(root, engine())
    multiple = 4 if edition.impose else 2

    with watch.stage("typeset"):
        parts = [templates.chapter(c, converted) for c in converted] + [templates.back()]

        def meanwhile(handed: int) -> None:
            # This process would only wait: it loads the later stages and lints.
            _load_later_stages()
            book.lint_here()

        rendered = typeset_all(parts, root, cache=cache, progress=watch.progress,
                               workers=workers, meanwhile=meanwhile)
    *chapter_parts, back = rendered
    specs = [
        PartSpec.of(part, c.chapter.title) for part, c in zip(chapter_parts, converted, strict=True)
    ]
    back_spec = PartSpec.of(back, None)

    with watch.stage("front matter"):
        # Body labels do not depend on the front matter's length (the body starts
        # at 1, on a right-hand page), so a provisional plan gives the contents
        # their true numbers, and the body's furniture can be typeset beside them.
        provisional = plan_book(PartSpec(FRONT, 1, None), specs, back_spec, config.title, multiple)
        toc = contents(converted, provisional)
        body_furniture = [templates.furniture(pages)
                          for _, pages in furniture_runs(provisional)[1:]]
        front, *early = typeset_all([templates.front(toc), *body_furniture], root,
                                    cache=cache, progress=watch.progress, workers=workers)
        page_map = plan_book(PartSpec.of(front, None), specs, back_spec, config.title, multiple)

    with watch.stage("furniture"):
        runs = furniture_runs(page_map)
        ready = {part.html: made for part, made in zip(body_furniture, early, strict=True)}
        wanted = [templates.furniture(pages) for _, pages in runs]
        made = iter(typeset_all([p for p in wanted if p.html not in ready], root,
                                cache=cache, progress=watch.progress, workers=workers))
        furniture = [(first, ready[part.html] if part.html in ready else next(made))
                     for (first, _), part in zip(runs, wanted, strict=True)]

    metadata = Metadata(
        title=config.title,
        author=config.author,
        subject=config.subject or config.subtitle,
        keywords=config.keywords,
        language=config.language,
        created=created_at(config, source_date_epoch),
    )
    linear = output.with_name(f"{output.stem}-linear.pdf") if edition.impose else output
    today = today or date.today()
    every_part = [front, *chapter_parts, back, *(part for _, part in furniture)]
    key = _book_key(edition, metadata, toc, page_map, every_part, config, today)
    record = root / "output" / ".cache" / "books" / f"{_digest(str(linear))[:16]}.json"
    earlier = None if edition.impose else _accepted_before(record, key, linear)
    if earlier is None and workers.parallel:  # a worker loads its half of the preflight
        for _ in range(workers.jobs):  # (whichever worker is idle: each job goes to one)
            workers.submit(load_job, "pipeline.check")
    from pipeline.assemble import assemble
    from pipeline.check import preflight

    if earlier is not None:
        # Nothing that makes this PDF has changed since it was built and checked.
        pdf = linear.read_bytes()
    else:
        with watch.stage("assemble"):
            roman = page_map.placements[1].first_page if len(page_map.placements) > 1 else 0
            pdf = assemble(
                page_map,
                {part.name: part for part in [front, *chapter_parts, back]},
                furniture,
                toc,
                metadata,
                roman_pages=roman,
                bleed_mm=edition.layout.bleed_mm,
                fonts_cache=BlobCache(cache_dir(root) / "used-glyphs"),
            )

    rejected_path = root / "output" / "rejected" / linear.name
    with watch.stage("preflight"):
        if earlier is None:
            temporary = write_temporary(linear, pdf)
            try:
                # What should be in the book comes from the sources, not from the
                # contents that were printed: preflight checks one against the other.
                expected = contents(converted, None)
                checked = preflight(
                    temporary, config, expected, shown_path(linear, root), today,
                    fold=edition.impose, layout=edition.layout, workers=workers,
                )
                linted = book.linted(watch, workers)
                findings = [*linted.findings, *checked]
                if strict:
                    findings = as_errors(findings)
                rejected = any(f.severity == "error" for f in findings)
                final = rejected_path if rejected else linear
                publish(temporary, final)
            finally:
                temporary.unlink(missing_ok=True)
            if not rejected:
                _remember(record, key, linear, checked)
        else:
            linted = book.linted(watch, workers)
            findings = [*linted.findings, *earlier]
            if strict:
                findings = as_errors(findings)
            rejected = any(f.severity == "error" for f in findings)
            final = rejected_path if rejected else linear
            if rejected:  # lint errors, or --strict: this PDF goes aside for a look
                write_atomically(final, pdf)

    extras: list[Path] = []
    sheets = 0
    if edition.impose and not rejected:
        with watch.stage("impose"):
            sheets, extras = _impose(pdf, edition, output, templates, root)

    sources = {c.chapter.slug: c.chapter.path for c in converted}
    for part in [front, *rendered, *(part for _, part in furniture)]:
        where = sources.get(part.name, config.path)
        for warning in part.warnings:
            log.warning("%s: warning: %s", where.relative_to(root), warning)
    report = BuildReport(
        output=final if rejected or not edition.impose else output,
        pages=len(page_map.pages),
        chapters=len(converted),
        bytes=len(pdf),
        seconds={**watch.seconds, "total": time.perf_counter() - started},
        findings=tuple(sorted(findings, key=Finding.sort_key)),
        grades=linted.grades,
        longest=linted.longest,
        cache_hits=cache.hits,
        cache_misses=cache.misses,
        rejected=rejected,
        edition=edition.name,
        padding=page_map.padding,
        sheets=sheets,
        extras=(final, *extras) if edition.impose and not rejected else (),
        target=output,
        labels={p.part: page_map.pages[p.first_page].label for p in page_map.placements},
        placements=page_map.placements,
    )
    write_check_json(report, check_json_path(output), root)
    return report


def _load_later_stages() -> None:
    """Load the code that assembles and checks the PDF (pikepdf and pdfium: about
    0.1 s) while the workers typeset: in an edit, the one chapter changed."""
    importlib.import_module("pipeline.assemble")
    importlib.import_module("pipeline.check")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _book_key(edition: Edition, metadata: Metadata, toc: list[TocEntry], page_map: PageMap,
              parts: list[RenderedPart], config: Config, today: date) -> str:
    """Everything the assembled, checked PDF depends on, hashed."""
    digest = hashlib.sha256()
    for piece in (repr(edition), repr(metadata), repr(toc), repr(page_map.pages),
                  repr(config.checks), config.last_reviewed.isoformat(), today.isoformat(),
                  code_fingerprint()):
        digest.update(piece.encode("utf-8", "surrogatepass"))
    for part in parts:
        digest.update(hashlib.sha256(part.pdf).digest())
    return digest.hexdigest()


def _accepted_before(record: Path, key: str, pdf: Path) -> list[Finding] | None:
    """The preflight findings of an identical build that was accepted, if its PDF is intact."""
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        if data["key"] != key or not pdf.is_file():
            return None
        if hashlib.sha256(pdf.read_bytes()).hexdigest() != data["sha256"]:
            return None
        return [Finding(**f) for f in data["findings"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _remember(record: Path, key: str, pdf: Path, findings: list[Finding]) -> None:
    data = {
        "key": key,
        "sha256": hashlib.sha256(pdf.read_bytes()).hexdigest(),
        "findings": [asdict(f) for f in findings],
    }
    write_atomically(record, json.dumps(data).encode("utf-8"))


def _impose(
    linear_pdf: bytes, edition: Edition, output: Path, templates: Templates, root: Path
) -> tuple[int, list[Path]]:
    """Write the imposed print file and its how-to-print sheet; return sheets and paths."""
    from pypdf import PdfReader

    from pipeline.typeset import typeset  # WeasyPrint, here in this process

    labels = PdfReader(io.BytesIO(linear_pdf)).page_labels
    pages = len(labels)
    sides = sheet_sides(pages, edition)
    marks = None
    if edition.fold_line or edition.order_marks:
        marks = typeset(templates.sheet_marks(sides, edition, labels), root).pdf
    write_atomically(output, impose(linear_pdf, edition, marks))
    sheets = len(sides) // 2
    signatures = max(sheet.signature for sheet, _, _ in sides)
    guide = output.with_name(f"{output.stem}-how-to-print.pdf")
    instructions = typeset(templates.how_to_print(edition, sheets, signatures, pages), root)
    write_atomically(guide, instructions.pdf)
    return sheets, [guide]


def extract_chapter(report: BuildReport, slug: str, root: Path) -> Path:
    """The pages of one chapter of a built book, with its true folios, as its own PDF."""
    from pipeline.assemble import extract_pages

    placement = next((p for p in report.placements if p.part == slug), None)
    if placement is None:
        known = ", ".join(p.part for p in report.placements)
        raise BookletError.at("--only", None, f"no chapter '{slug}'", f"parts: {known}")
    source = report.extras[0] if report.extras else report.output
    target = root / "output" / "chapters" / f"{slug}.pdf"
    write_atomically(target, extract_pages(source, placement, report.labels[slug]))
    return target


def check_json_path(pdf: Path) -> Path:
    """Where a built PDF's findings go: output/check.json, or <edition>.check.json."""
    return pdf.with_name("check.json" if pdf.name == "guide.pdf" else f"{pdf.stem}.check.json")


def write_check_json(report: BuildReport, path: Path, root: Path) -> None:
    """The same findings as the printed report, for machines."""
    data = {
        "edition": report.edition,
        "pdf": shown_path(report.output, root),
        "files": [shown_path(p, root) for p in report.extras],
        "padding": report.padding,
        "sheets": report.sheets,
        "rejected": report.rejected,
        "pages": report.pages,
        "errors": report.errors,
        "warnings": report.warnings,
        "findings": [asdict(f) for f in report.findings],
        "grades": report.grades,
        "longest_sentences": report.longest,
        "cache": {"hits": report.cache_hits, "misses": report.cache_misses},
    }
    write_atomically(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())



def inputs_newer_than(output: Path, root: Path) -> bool:
    """Has any source (config, chapters, styles, images) changed since `output` was written?"""
    if not output.is_file():
        return True
    built = output.stat().st_mtime
    candidates = [root / "booklet.toml"]
    for folder in ("chapters", "styles", "images"):
        if (root / folder).is_dir():
            candidates += [p for p in (root / folder).rglob("*") if p.is_file()]
    return any(p.stat().st_mtime > built for p in candidates if p.exists())


def check_existing(
    root: Path, output: Path, strict: bool = False, today: date | None = None
) -> BuildReport:
    """Lint the sources and preflight an up-to-date PDF without building it again."""
    from pypdf import PdfReader

    from pipeline.check import preflight

    root = root.resolve()
    started = time.perf_counter()
    config = load_config(root)
    converted = convert_book(load_chapters(config), root)
    linted = lint_book(converted, config)
    findings = linted.findings + preflight(
        output, config, contents(converted, None), shown_path(output, root), today or date.today(),
        layout=config.edition_named().layout,
    )
    if strict:
        findings = as_errors(findings)
    rejected = any(f.severity == "error" for f in findings)
    report = BuildReport(
        output=output,
        pages=len(PdfReader(output).pages),
        chapters=len(converted),
        bytes=output.stat().st_size,
        seconds={"total": time.perf_counter() - started},
        findings=tuple(sorted(findings, key=Finding.sort_key)),
        grades=linted.grades,
        longest=linted.longest,
        rejected=rejected,
        target=output,
    )
    write_check_json(report, output.parent / "check.json", root)
    return report


def build_single_pass(root: Path) -> tuple[bytes, int]:
    """The same book typeset as one HTML document in one WeasyPrint pass: the peer.

    Returns the PDF and its page count. Used by tests and the benchmark to hold
    the per-part build to its size and speed targets.
    """
    from pipeline.typeset import typeset  # WeasyPrint, here in this process

    root = root.resolve()
    config = load_config(root)
    converted = convert_book(load_chapters(config), root)
    templates = Templates(config, shipped_faces(config.styles_dir / "fonts"))
    toc = contents(converted, None)
    part = typeset(templates.single_pass(converted, toc), root, whole_fonts=False)
    return part.pdf, part.page_count


def lint_book(
    converted: list[ConvertedChapter], config: Config, cache: BlobCache | None = None
) -> Linted:
    """Lint findings (after booklet-ignore comments), grade levels and longest sentences.

    With `cache`, a chapter's are kept by all they are worked out from (its
    file, its conversion, the settings, this code): an edit lints again only
    the chapters it changed.
    """
    memo = Memo.of(cache, f"chapters-{code_fingerprint()[:16]}")
    settings = repr(config).encode("utf-8", "surrogatepass")
    findings: list[Finding] = []
    grades: dict[str, float] = {}
    longest: dict[str, tuple[tuple[int, int], ...]] = {}
    for item in converted:
        chapter = item.chapter
        key = hashlib.sha256(settings)
        key.update(repr(item).encode("utf-8", "surrogatepass"))
        key.update((file_digest(chapter.path) or "").encode())
        found, grade, sentences = memo.answer(key.hexdigest(), lambda item=item: (
            *lint_chapter(item, config), longest_sentences(item.chapter)))
        findings += found
        grades[str(chapter.path.relative_to(config.root))] = grade
        longest[shown_path(chapter.path, config.root)] = sentences
    memo.keep(cache)
    return Linted(silenced(findings, config.root), grades, longest)


def contents(converted: list[ConvertedChapter], page_map: PageMap | None) -> list[TocEntry]:
    """Chapters and their second-level sections, with the labels of their pages."""

    def label(anchor: str) -> str:
        return page_map.label_of(anchor) if page_map else ""

    entries = []
    for item in converted:
        slug = item.chapter.slug
        entries.append(TocEntry(1, item.chapter.title, slug, label(slug)))
        sections = [(h.anchor, h.text) for h in item.headings if h.level == 2]
        sections += [(c.anchor, c.title) for c in collected_sources(item, converted)]
        for anchor, title in sections:
            entries.append(TocEntry(2, title, anchor, label(anchor)))
    return entries


def book_text(config: Config, converted: list[ConvertedChapter]) -> str:
    """Every character the book may print, for trimming the fonts."""
    return _characters(config, [(html.unescape(c.html), c.chapter) for c in converted])


def _characters(config: Config, bodies: list[tuple[str, Chapter]]) -> str:
    """The config's words, each chapter's body (as given) and words, and the templates."""
    pieces = [
        config.title, config.subtitle, config.author, config.edition, config.copies_text,
        config.copies_url, config.subject,
    ]
    for body, chapter in bodies:
        pieces += [body, chapter.title, chapter.summary or ""]
        pieces += [s.text + (s.url or "") for s in chapter.sources]
    for template in sorted((config.styles_dir / "templates").glob("*.html")):
        pieces.append(template.read_text(encoding="utf-8"))
    return "".join(pieces)


def created_at(config: Config, source_date_epoch: int | None) -> datetime:
    if source_date_epoch is not None:
        return datetime.fromtimestamp(source_date_epoch, UTC)
    return datetime.combine(config.last_reviewed, clock(0, 0), UTC)


def cache_dir(root: Path) -> Path:
    return root / "output" / ".cache"
