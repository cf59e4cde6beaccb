"""The plain data passed between the stages of the pipeline.

Everything here is a frozen dataclass (or a tuple of them): a stage takes
some of these in and hands new ones out, and never reaches into another
stage's internals.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from urllib.parse import quote, unquote

PT_PER_MM = 72 / 25.4
PT_PER_PX = 0.75  # CSS px (1/96 in) to PDF points (1/72 in)
# Options for every part's PDF: fonts are embedded whole (they are already trimmed
# to the book's characters, see fonts.py) so that identical font files in
# different parts can be merged into one.
PDF_OPTIONS = {"full_fonts": True, "hinting": False, "uncompressed_pdf": False}


# Documents name project files by this URL prefix instead of their absolute path,
# so that the PDF does not depend on where the project is (WeasyPrint names
# images after their URL) and so that the fetcher can tell project files apart.
PROJECT_URL = "file:///booklet-project/"


def project_url(path: Path, root: Path) -> str:
    """The URL documents use for a file inside the project."""
    relative = path.resolve().relative_to(root.resolve())
    return PROJECT_URL + relative.as_posix()


def shown_path(path: Path, root: Path) -> str:
    """`path` as the user knows it: relative to the project, when it is inside it.

    A symlink is named by where it is, not by where it points.
    """
    lexical = Path(os.path.normpath(path.absolute()))
    for base in (Path(os.path.normpath(root.absolute())), root.resolve()):
        if lexical.is_relative_to(base):
            return str(lexical.relative_to(base))
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


# --- limits ------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """How much one input may ask of the pipeline.

    Chapters are pasted from the web and clinic and request files come from
    outside: these bounds make broken or hostile input end in a clear error in
    bounded time, never a hang or a crash. Each error names the limit it hit.
    """

    chapter_bytes: int = 500_000  # ~165 pages of prose, typeset in under half a minute
    elements: int = 10_000  # HTML elements in one chapter (~2-3 ms each to typeset)
    front_matter_bytes: int = 20_000
    nesting_levels: int = 10  # lists, quotes and call-outs inside each other
    element_depth: int = 60  # HTML elements inside each other, after conversion
    table_rows: int = 500  # per table (~20 pages); WeasyPrint lays tables out slowly
    # A "word" (characters with no space between them) longer than a line is broken
    # anywhere (book.css); WeasyPrint takes time by the square of its length to do so.
    word_chars: int = 1_000
    # Python-Markdown scans to the end of a paragraph for each '[' or '<' it cannot
    # close: time by their number times the paragraph's length. A table cell, a list
    # item and a heading count as paragraphs here.
    paragraph_chars: int = 5_000
    paragraph_openers: int = 200  # '[' and '<' in one paragraph
    image_bytes: int = 20_000_000
    image_pixels: int = 40_000_000  # width x height of a raster image (8000 x 5000)
    svg_side_px: int = 20_000  # an SVG's declared width or height
    data_url_bytes: int = 64_000  # a data: URL in a template or stylesheet
    import_bytes: int = 5_000_000  # a file given to `booklet import`
    clinic_bytes: int = 64_000  # a clinics/*.toml file
    requests_bytes: int = 20_000_000  # a requests CSV
    request_field_chars: int = 2_000  # one cell of it (a name, an address, a note)


LIMITS = Limits()


def megabytes(size: int) -> str:
    """1_234_567 -> '1.2 MB', for messages about sizes and limits."""
    if size < 1_000_000:
        return f"{size / 1000:.0f} KB" if size >= 1000 else f"{size} bytes"
    return f"{size / 1_000_000:.1f}".removesuffix(".0") + " MB"


# --- errors ------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One mistake the author (or a volunteer, or a clinic) can fix."""

    path: str
    line: int | None
    message: str
    hint: str | None = None
    check: str = "input"  # the name a lint report files it under

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        text = f"{where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class BookletError(Exception):
    """Input the user can fix. Carries one or more problems, each with file and line."""

    def __init__(self, problems: Problem | list[Problem] | tuple[Problem, ...]) -> None:
        if isinstance(problems, Problem):
            problems = (problems,)
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self) -> tuple[type[BookletError], tuple[tuple[Problem, ...]]]:
        """Whole, with its problems, when it comes back from a worker process."""
        return (type(self), (self.problems,))

    @classmethod
    def at(
        cls, path: Path | str, line: int | None, message: str, hint: str | None = None
    ) -> BookletError:
        return cls(Problem(str(path), line, message, hint))


@dataclass(frozen=True)
class Finding:
    """One result of lint or preflight: `path:line:col: severity: message [check]`."""

    path: str
    line: int | None
    col: int | None
    severity: str  # "error" or "warning"
    message: str
    check: str

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        return f"{where}: {self.severity}: {self.message} [{self.check}]"

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.path, self.line or 0, self.col or 0, self.check, self.message)

    @classmethod
    def of(cls, problem: Problem, severity: str = "error", check: str | None = None) -> Finding:
        message = f"{problem.message} ({problem.hint})" if problem.hint else problem.message
        return cls(problem.path, problem.line, None, severity, message, check or problem.check)


# --- configuration -------------------------------------------------------------


@dataclass(frozen=True)
class PageSize:
    name: str
    width_mm: float
    height_mm: float

    @property
    def width_pt(self) -> float:
        return self.width_mm * PT_PER_MM

    @property
    def height_pt(self) -> float:
        return self.height_mm * PT_PER_MM


@dataclass(frozen=True)
class Layout:
    """Everything about the page that changes from one edition to another."""

    page: PageSize
    margin_top_mm: float = 20.0
    margin_bottom_mm: float = 22.0
    margin_inside_mm: float = 25.0
    margin_outside_mm: float = 17.0
    base_size_pt: float = 12.0
    line_height: float = 1.45
    bleed_mm: float = 0.0  # for a print shop: the page extends this far past the trim
    crop_marks: bool = False
    slug_mm: float = 0.0  # beyond the bleed, where the crop marks go

    @property
    def outside_trim_mm(self) -> float:
        return self.bleed_mm + self.slug_mm

    @property
    def head_band_pt(self) -> float:
        """From the top of the media to the top of the text area: where running heads go."""
        return (self.outside_trim_mm + self.margin_top_mm) * PT_PER_MM

    @property
    def foot_band_pt(self) -> float:
        """From the bottom of the media to the bottom of the text area: where folios go."""
        return (self.outside_trim_mm + self.margin_bottom_mm) * PT_PER_MM


@dataclass(frozen=True)
class Edition:
    """One layout of the book: paper, type size, and whether it is imposed for folding."""

    name: str
    layout: Layout
    impose: bool = False
    paper: PageSize | None = None  # the sheet that two pages are imposed on
    signature_sheets: int = 12  # sheets per folded signature
    nested: bool = False  # signatures nested into each other instead of stacked
    creep_mm: float = 0.0  # shift of each inner sheet's pages toward the fold
    fold_line: bool = True
    order_marks: bool = True


@dataclass(frozen=True)
class CheckSettings:
    """Limits for lint and preflight ([check] in booklet.toml)."""

    pages_min: int = 1
    pages_max: int = 1000
    max_grade: float = 9.0  # reading grade level above which a chapter gets a warning
    max_sentence_words: int = 35
    review_max_months: int = 12  # a review date older than this gets a warning
    min_image_ppi: int = 150
    handout_max_pages: int = 4


@dataclass(frozen=True)
class Source:
    """A source as the author gives it: a description and, where known, a link."""

    text: str
    url: str | None = None


@dataclass(frozen=True)
class Config:
    root: Path
    path: Path
    title: str
    subtitle: str
    author: str
    edition: str
    language: str
    last_reviewed: date
    subject: str
    keywords: tuple[str, ...]
    copies_text: str
    copies_url: str
    chapter_files: tuple[str, ...]
    layout: Layout
    # Lines of booklet.toml where each chapter file is named, for error messages.
    chapter_lines: tuple[int, ...] = ()
    checks: CheckSettings = field(default_factory=CheckSettings)
    editions: tuple[Edition, ...] = ()
    default_edition: str = "default"

    def edition_named(self, name: str | None = None) -> Edition:
        wanted = name or self.default_edition
        for edition in self.editions:
            if edition.name == wanted:
                return edition
        known = ", ".join(e.name for e in self.editions)
        raise BookletError.at("booklet.toml", None, f"no edition '{wanted}'",
                              f"editions: {known}")

    @property
    def chapters_dir(self) -> Path:
        return self.root / "chapters"

    @property
    def styles_dir(self) -> Path:
        return self.root / "styles"


# --- sources and conversion -----------------------------------------------------


@dataclass(frozen=True)
class Chapter:
    """One Markdown chapter with its front matter read."""

    slug: str
    path: Path
    title: str
    last_reviewed: date
    body: str
    body_line: int  # line number of the body's first line in the file
    summary: str | None = None
    sources: tuple[Source, ...] = ()
    collect_sources: bool = False  # this chapter lists every chapter's sources
    handout: bool = False
    kind: str = "content"  # content chapters need sources and a care-team call-out


@dataclass(frozen=True)
class Heading:
    level: int
    anchor: str  # book-wide unique id, "<slug>--<local id>"
    text: str
    line: int


@dataclass(frozen=True)
class Reference:
    """A link in a chapter to a heading (in this chapter or another)."""

    target: str  # book-wide anchor id
    href: str  # as the author wrote it
    line: int


@dataclass(frozen=True)
class GlossaryTerm:
    text: str  # as the glossary prints it: "Electrochemotherapy (ECT)"
    anchor: str  # book-wide id of its entry
    names: tuple[str, ...]  # what a chapter may call it: ("Electrochemotherapy", "ECT")
    line: int  # where the glossary defines it


@dataclass(frozen=True)
class TermUse:
    term: str  # the anchor of the glossary entry
    anchor: str  # the id of the first use in a chapter (a link to the entry)


@dataclass(frozen=True)
class ConvertedChapter:
    chapter: Chapter
    html: str
    headings: tuple[Heading, ...]
    references: tuple[Reference, ...]
    images: tuple[Path, ...] = ()
    terms: tuple[GlossaryTerm, ...] = ()  # the glossary chapter's entries
    term_uses: tuple[TermUse, ...] = ()  # first uses of glossary terms, linked
    removed_html: tuple[Problem, ...] = ()  # what the sanitiser took out, for lint


@dataclass(frozen=True)
class Part:
    """A full HTML document, ready to typeset as one PDF part."""

    name: str
    html: str
    source: Path  # the file to blame when typesetting it fails
    base_url: str = ""
    tagged: bool = True  # a structure tree for screen readers (not for furniture, marks)
    # Page furniture: the number of book pages whose furniture this part's one
    # tall sheet holds, one below the other (furniture.py cuts it into pages).
    slots: int = 0


# --- typesetting ------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    name: str
    page: int  # 0-based page index inside the part (or the book, once mapped)
    x_pt: float
    y_pt: float  # from the bottom of the page, as PDF counts


@dataclass(frozen=True)
class PendingLink:
    """An internal link, resolved once the whole book's anchors are known."""

    page: int
    rect_pt: tuple[float, float, float, float]  # x0, y0, x1, y1, PDF coordinates
    target: str


PLACEHOLDER = "booklet-link:"


def placeholder(target: str, text: str) -> str:
    """The URI a part's internal link carries until the book is assembled (tags.py)."""
    return f"{PLACEHOLDER}{quote(target, safe='')}#{quote(' '.join(text.split()), safe='')}"


def placeholder_parts(uri: str) -> tuple[str, str]:
    """A placeholder URI's target and text."""
    target, _, text = uri[len(PLACEHOLDER) :].partition("#")
    return unquote(target), unquote(text)


@dataclass(frozen=True)
class RenderedPart:
    name: str
    pdf: bytes
    page_count: int
    anchors: tuple[Anchor, ...]
    pending_links: tuple[PendingLink, ...]
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True)
class Metadata:
    """What a finished PDF says of itself (its document information)."""

    title: str
    author: str
    subject: str
    keywords: tuple[str, ...]
    language: str
    created: datetime
    creator: str = "booklet"


# --- the page map ------------------------------------------------------------------


@dataclass(frozen=True)
class PageInfo:
    """One physical page of the book, and what the furniture prints on it."""

    index: int  # 0-based physical page
    label: str  # the page label, which equals the printed folio where one is printed
    folio: str | None  # printed folio, None where nothing is printed
    running_head: str | None
    side: str  # "left" or "right"
    part: str | None  # None for an inserted blank page
    part_page: int | None  # page index inside its part


@dataclass(frozen=True)
class Placement:
    part: str
    first_page: int  # 0-based physical index
    page_count: int


@dataclass(frozen=True)
class PageMap:
    pages: tuple[PageInfo, ...]
    placements: tuple[Placement, ...]
    anchors: dict[str, Anchor] = field(default_factory=dict)  # book-wide, physical pages
    padding: int = 0  # blank pages added before the back cover

    def anchor(self, name: str) -> Anchor:
        return self.anchors[name]

    def label_of(self, name: str) -> str:
        return self.pages[self.anchors[name].page].label


@dataclass(frozen=True)
class TocEntry:
    level: int
    title: str
    anchor: str
    label: str  # "" until the body's page map is known


@dataclass(frozen=True)
class BuildReport:
    output: Path  # where the PDF is: the output path, or output/rejected/… when rejected
    pages: int
    chapters: int
    bytes: int
    seconds: dict[str, float]
    findings: tuple[Finding, ...] = ()
    grades: dict[str, float] = field(default_factory=dict)  # chapter path -> grade level
    # chapter path -> (line, words) of its longest sentences
    longest: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    rejected: bool = False
    edition: str = "default"
    padding: int = 0  # blank pages added before the back cover
    sheets: int = 0  # sheets of paper, for an imposed edition
    extras: tuple[Path, ...] = ()  # the linear PDF and how-to-print sheet of an imposed edition
    target: Path | None = None  # where the PDF goes when it is accepted
    labels: dict[str, str] = field(default_factory=dict)  # part name -> its first page's label
    cache_hits: int = 0  # parts taken from the cache instead of typeset
    cache_misses: int = 0
    placements: tuple[Placement, ...] = ()

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == "warning")
