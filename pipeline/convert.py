"""Chapter -> ConvertedChapter (an HTML fragment, its headings and references).

One Python-Markdown instance per chapter, with the standard extensions for
tables, definition lists, footnotes, call-out boxes (admonitions), heading
ids and typographic quotes, plus this project's own extension, which works
on the element tree (never on HTML text):

- heading ids get the chapter slug as a prefix, so anchors are unique
  across the whole book;
- links to headings ("#id", "other.md#id", "other.md") become book-wide
  anchors and are recorded, so the build can check that each exists;
- footnotes move from the end of the chapter to the place that cites them,
  where CSS `float: footnote` sets them at the foot of that page;
- images are checked to exist inside the project, and to be safe to decode
  (images.py);
- a paragraph `[write-lines: N]` becomes N ruled lines to write on.

Then the HTML is sanitised against one allow-list (sanitize.py), whatever
made it (Markdown, raw HTML, attr_list's `{: }`); each removal is a
`raw-html` warning naming the tag or attribute and its line
(ConvertedChapter.removed_html).

Limits (model.LIMITS): before parsing, lists, quotes and call-outs nested
too deep are an error, so that neither Python-Markdown nor WeasyPrint
recurse without end; so is a paragraph too long, or with too many '[' and
'<', for Python-Markdown's inline patterns to finish soon (they take time by
the square of those). After it, HTML nested too deep, too many elements and
too long a table are errors too.
"""

from __future__ import annotations

import copy
import hashlib
import html
import re
import xml.etree.ElementTree as etree
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlsplit

import markdown
from markdown.blockprocessors import BlockProcessor
from markdown.extensions import Extension
from markdown.extensions.footnotes import NBSP_PLACEHOLDER
from markdown.treeprocessors import Treeprocessor

from pipeline import glossary
from pipeline.cache import BlobCache, code_fingerprint, file_digest
from pipeline.images import image_problem, intrinsic_size
from pipeline.model import (
    LIMITS,
    BookletError,
    Chapter,
    ConvertedChapter,
    GlossaryTerm,
    Heading,
    Problem,
    Reference,
    TermUse,
    megabytes,
    project_url,
    shown_path,
)
from pipeline.sanitize import measure, sanitize
from pipeline.sources import slug_of

CALLOUT_TITLES = {
    "talk": "Talk to your care team",
    "key": "Key point",
    "tip": "Tip",
    "warning": "Important",
    "note": "Note",
}
WRITE_LINES_RE = re.compile(r"^\[write-lines:\s*(\d{1,3})\]\s*$")
MAX_WRITE_LINES = 60
HEADING_RE = re.compile(r"^(#{1,6})\s+\S")
FENCE_RE = re.compile(r"^\s*(```|~~~)")
QUOTES_RE = re.compile(r"(?:>[ \t]?)+")
LONG_WORD_RE = re.compile(r"[^\s\u200b]{41,}")  # in a table cell: broken every 20
HEADING_TEXT_RE = re.compile(r"^\s*#+\s*|\s*\{:?[^}]*\}\s*$|\s+#+\s*$")  # marks, {: attrs}


@dataclass
class _Findings:
    """What the tree processor learns about one chapter while converting it."""

    references: list[tuple[str, str]] = field(default_factory=list)  # (target, href)
    images: list[tuple[Path, str]] = field(default_factory=list)  # (path, src)
    # (text to find the line by, message, hint, check name)
    problems: list[tuple[str, str, str | None, str]] = field(default_factory=list)
    terms: list[GlossaryTerm] = field(default_factory=list)  # when this is the glossary
    term_uses: list[TermUse] = field(default_factory=list)
    decorations: list[str] = field(default_factory=list)  # CSS for decorative images


@dataclass(frozen=True)
class Glossary:
    """What a chapter's conversion needs to know about the glossary."""

    slug: str
    terms: tuple[GlossaryTerm, ...] = ()
    back_links: Mapping[str, Sequence[tuple[str, str]]] | None = None  # for the glossary


class _WriteLinesProcessor(BlockProcessor):
    def test(self, parent: etree.Element, block: str) -> bool:
        return bool(WRITE_LINES_RE.match(block.strip()))

    def run(self, parent: etree.Element, blocks: list[str]) -> None:
        match = WRITE_LINES_RE.match(blocks.pop(0).strip())
        assert match
        count = min(int(match.group(1)), MAX_WRITE_LINES)
        box = etree.SubElement(parent, "div", {"class": "write-lines"})
        for _ in range(count):
            etree.SubElement(box, "div", {"class": "write-line"})


class _InlineGuard(Treeprocessor):
    """Before the inline patterns run: no paragraph they would take minutes over."""

    def __init__(self, md: markdown.Markdown, findings: _Findings) -> None:
        super().__init__(md)
        self.findings = findings

    def run(self, tree: etree.Element) -> None:
        for element in tree.iter():
            for attribute in ("text", "tail"):
                text = getattr(element, attribute)
                problem = _paragraph_problem(text) if text else None
                if problem:
                    assert text is not None
                    self.findings.problems.append(
                        (text.strip()[:40], problem, "split it, or close the brackets", "input"))
                    setattr(element, attribute, "")  # never handed to the inline patterns


def _paragraph_problem(text: str) -> str | None:
    if len(text) > LIMITS.paragraph_chars:
        return (f"a paragraph of {len(text):,} characters, over the limit of "
                f"{LIMITS.paragraph_chars:,}")
    openers = text.count("[") + text.count("<")
    if openers > LIMITS.paragraph_openers:
        return (f"a paragraph with {openers} '[' and '<', over the limit of "
                f"{LIMITS.paragraph_openers}")
    return None


class _BookTreeprocessor(Treeprocessor):
    def __init__(
        self,
        md: markdown.Markdown,
        chapter: Chapter,
        root: Path,
        findings: _Findings,
        glossary: Glossary | None,
    ) -> None:
        super().__init__(md)
        self.chapter = chapter
        self.root = root
        self.findings = findings
        self.glossary = glossary

    def run(self, tree: etree.Element) -> None:
        slug = self.chapter.slug
        for element in tree.iter():
            if element.tag in {"h1", "h2", "h3", "h4", "h5", "h6"} and element.get("id"):
                element.set("id", f"{slug}--{element.get('id')}")
        self._inline_footnotes(tree)
        for element in tree.iter():
            if element.tag == "a" and element.get("href"):
                self._rewrite_link(element)
            elif element.tag == "img":
                self._check_image(element)
            elif element.tag == "div" and "admonition" in element.get("class", "").split():
                self._callout_title(element)
        for element in tree.iter():  # after the links have their classes
            if element.tag in ("td", "th"):
                _breakable(element)
        self._glossary(tree)

    def _glossary(self, tree: etree.Element) -> None:
        if self.glossary is None:
            return
        if self.chapter.slug == self.glossary.slug:
            lines = self.chapter.body.split("\n")
            self.findings.terms = glossary.terms_in(
                tree, self.chapter.slug, self._text_of,
                lambda text: _line_of(text, lines, self.chapter.body_line),
            )
            if self.glossary.back_links:
                glossary.add_back_links(tree, self.glossary.back_links)
        elif self.chapter.kind in ("content", "about", "worksheet"):
            self.findings.term_uses = glossary.link_first_uses(
                tree, self.glossary.terms, self.chapter.slug
            )

    def _text_of(self, element: etree.Element) -> str:
        """Text as printed: typographic quotes are still stashed away at this stage."""
        text = "".join(element.itertext())
        stash = self.md.htmlStash.rawHtmlBlocks

        def unstash(match: re.Match[str]) -> str:
            index = int(match.group(1))
            return html.unescape(str(stash[index])) if index < len(stash) else ""

        return re.sub("\x02klzzwxh:(\\d+)\x03", unstash, text)

    def _rewrite_link(self, element: etree.Element) -> None:
        href = element.get("href", "")
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            if parts.scheme in {"http", "https", "mailto", "tel"}:
                text = "".join(element.itertext()).strip()
                if parts.scheme in {"http", "https"} and text not in (href, parts.netloc):
                    # On paper a link is only useful if its address is printed too.
                    element.set("class", "show-url")
                return
            self.findings.problems.append(
                (href, f"link '{href}' uses an unsupported scheme", "use https:// or mailto:",
                 "link")
            )
            return
        if not parts.path and not parts.fragment:
            return
        if parts.path:
            if not parts.path.endswith(".md"):
                self.findings.problems.append(
                    (
                        href,
                        f"link '{href}' points at a file",
                        "link to a chapter as 'name.md' or 'name.md#heading', or to a web page",
                        "link",
                    )
                )
                return
            target_slug = slug_of(Path(unquote(parts.path)))
        else:
            target_slug = self.chapter.slug
        target = f"{target_slug}--{parts.fragment}" if parts.fragment else target_slug
        if self.glossary and target_slug == self.glossary.slug and parts.fragment:
            # 'glossary.md#necrosis' is the entry for 'Necrosis'
            entry = f"{target_slug}--term-{glossary.slug(unquote(parts.fragment))}"
            if entry in {term.anchor for term in self.glossary.terms}:
                target = entry
        element.set("href", f"#{target}")
        self.findings.references.append((target, href))

    def _check_image(self, element: etree.Element) -> None:
        src = element.get("src", "")
        parts = urlsplit(src)
        if parts.scheme or parts.netloc:
            self.findings.problems.append(
                (
                    src,
                    f"image '{src}' is not a file in the project",
                    "download it into images/ and link to it there",
                    "image",
                )
            )
            return
        path = (self.chapter.path.parent / unquote(parts.path)).resolve()
        if not path.is_relative_to(self.root.resolve()):
            self.findings.problems.append(
                (src, f"image '{src}' is outside the project", "put it under images/", "image")
            )
            return
        if not path.is_file():
            self.findings.problems.append(
                (src, f"missing image '{src}'", "check the name, or put the file under images/",
                 "image")
            )
            return
        problem = _image_file_problem(path)
        if problem:
            self.findings.problems.append(
                (src, f"image '{src}' {problem}",
                 "export it again as PNG, JPEG or plain SVG, at print size", "image")
            )
            return
        element.set("src", project_url(path, self.root))
        decorative = "decorative" in element.get("class", "").split()
        if not element.get("alt", "").strip() and not decorative:
            self.findings.problems.append(
                (
                    src,
                    f"image '{src}' has no alt text",
                    "describe it in the [ ] of ![...](...), or mark it {: .decorative }",
                    "alt-text",
                )
            )
        if decorative:
            self.findings.decorations.append(_as_background(element, path, self.chapter.slug,
                                                             len(self.findings.decorations)))
        self.findings.images.append((path, src))

    def _callout_title(self, element: etree.Element) -> None:
        kinds = [c for c in element.get("class", "").split() if c != "admonition"]
        title = next((c for c in element if c.get("class") == "admonition-title"), None)
        if title is None or not kinds:
            return
        kind = kinds[0]
        if kind in CALLOUT_TITLES and (title.text or "") == kind.capitalize():
            title.text = CALLOUT_TITLES[kind]

    def _inline_footnotes(self, tree: etree.Element) -> None:
        """Put each footnote's text where it is cited, as a span CSS floats to the page foot."""
        container = next(
            (e for e in tree if e.tag == "div" and e.get("class") == "footnote"), None
        )
        if container is None:
            return
        tree.remove(container)
        notes: dict[str, etree.Element] = {}
        for item in container.iter("li"):
            note = etree.Element("span", {"class": "footnote"})
            for block in list(item):
                for backref in [a for a in block.iter("a") if a.get("class") == "footnote-backref"]:
                    _remove(block, backref)
                span = etree.SubElement(note, "span", {"class": "footnote-para"})
                span.text = block.text
                span.tail = " "
                for child in list(block):
                    span.append(child)
            # WeasyPrint breaks footnote lines at source newlines: make them spaces.
            for element in note.iter():
                element.text = element.text and element.text.replace("\n", " ")
                element.tail = element.tail and element.tail.replace("\n", " ")
            notes[item.get("id", "")] = note
        for parent in list(tree.iter()):
            for child in list(parent):
                if child.tag != "sup" or not child.get("id", "").startswith("fnref"):
                    continue
                link = child.find("a")
                note_id = (link.get("href", "") if link is not None else "").lstrip("#")
                if note_id not in notes:
                    continue
                replacement = _copy(notes[note_id])
                replacement.tail = child.tail
                index = list(parent).index(child)
                parent.remove(child)
                parent.insert(index, replacement)


def _as_background(element: etree.Element, path: Path, slug: str, number: int) -> str:
    """A decorative image, drawn as a background: screen readers skip it (an artifact).

    An <img> is always a figure in a tagged PDF; a figure without words is a
    barrier. The box keeps the image's size (CSS pixels), shrinks to fit the
    column, and keeps its shape (the inner box's padding is a share of the
    width). Returns the CSS rule for it: chapters may not carry styles (see the
    raw HTML policy), so the rule is added after the sanitiser, by convert().
    """
    width, height = intrinsic_size(path.read_bytes(), path.name)
    url = element.get("src", "").replace("\\", "%5C").replace("'", "%27")
    name = f"decorative-{slug}-{number}"
    element.tag = "span"
    element.attrib.clear()
    element.set("class", f"decorative-image {name}")
    etree.SubElement(element, "span")
    return (f".{name} {{ width: {width:g}px; }}\n"
            f".{name} > span {{ padding-bottom: {100 * height / width:.4f}%; "
            f"background-image: url('{url}'); }}\n")


def _breakable(cell: etree.Element) -> None:
    """Break opportunities (zero-width spaces) in a table cell's very long words.

    A word breaks where it must anywhere else (overflow-wrap in book.css), but in
    a table the word would first widen its column past the page; CSS that lets it
    narrow the column (overflow-wrap: anywhere) makes WeasyPrint's table layout
    take time by the square of the word's length (48 s for one 1,000-character
    address). So a printed address in a cell is real text, not CSS `attr(href)`.
    """
    for element in list(cell.iter()):
        element.text = _split_long_words(element.text)
        if element is not cell:
            element.tail = _split_long_words(element.tail)
        if element.tag == "a" and element.get("class") == "show-url":
            del element.attrib["class"]
            shown = etree.SubElement(element, "span", {"class": "shown-url"})
            shown.text = f" ({_split_long_words(element.get('href', ''))})"


def _split_long_words(text: str | None) -> str | None:
    if not text or not LONG_WORD_RE.search(text):
        return text
    return LONG_WORD_RE.sub(
        lambda m: "\u200b".join(m.group()[i : i + 20] for i in range(0, len(m.group()), 20)),
        text,
    )


def _image_file_problem(path: Path) -> str | None:
    size = path.stat().st_size
    if size > LIMITS.image_bytes:  # not even read
        return f"is {megabytes(size)}, over the {megabytes(LIMITS.image_bytes)} limit for an image"
    return image_problem(path.read_bytes(), path.name)


def _remove(parent: etree.Element, target: etree.Element) -> None:
    for element in parent.iter():
        if target in list(element):
            # Keep the text after the removed element, minus the no-break space before it.
            index = list(element).index(target)
            if index > 0:
                previous = element[index - 1]
                previous.tail = _strip_nbsp(previous.tail) + (target.tail or "")
            else:
                element.text = _strip_nbsp(element.text) + (target.tail or "")
            element.remove(target)
            return


def _strip_nbsp(text: str | None) -> str:
    """Drop the no-break space the footnotes extension puts before a back-link."""
    return (text or "").removesuffix(NBSP_PLACEHOLDER).rstrip("\xa0 ")


def _copy(element: etree.Element) -> etree.Element:
    return copy.deepcopy(element)


class _BookExtension(Extension):
    def __init__(self, chapter: Chapter, root: Path, findings: _Findings,
                 glossary: Glossary | None) -> None:
        super().__init__()
        self.chapter = chapter
        self.root = root
        self.findings = findings
        self.glossary = glossary

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.parser.blockprocessors.register(_WriteLinesProcessor(md.parser), "write-lines", 95)
        # Priority 30: after footnotes (50) have gathered their text, before inline (20).
        md.treeprocessors.register(_InlineGuard(md, self.findings), "booklet-guard", 30)
        # Priority 1: after footnotes (50, 15) and toc (5) have finished with the tree.
        md.treeprocessors.register(
            _BookTreeprocessor(md, self.chapter, self.root, self.findings, self.glossary),
            "booklet",
            1,
        )


def make_markdown(chapter: Chapter, root: Path, findings: _Findings,
                  glossary: Glossary | None = None) -> markdown.Markdown:
    return markdown.Markdown(
        extensions=[
            "tables",
            "def_list",
            "footnotes",
            "attr_list",
            "admonition",
            "sane_lists",
            "smarty",
            "toc",
            _BookExtension(chapter, root, findings, glossary),
        ],
        extension_configs={
            "footnotes": {"UNIQUE_IDS": False},
            "toc": {"toc_depth": "2-3"},
            "smarty": {"smart_angled_quotes": False},
        },
        output_format="html",
    )


def convert(chapter: Chapter, root: Path, glossary: Glossary | None = None) -> ConvertedChapter:
    """Convert one chapter's Markdown body to an HTML fragment."""
    rel = shown_path(chapter.path, root)
    body_lines = chapter.body.split("\n")
    _check_nesting(body_lines, chapter.body_line, rel)
    findings = _Findings()
    md = make_markdown(chapter, root, findings, glossary)
    try:
        fragment = md.convert(chapter.body)
    except RecursionError:  # Python-Markdown recurses per item in some constructs
        raise BookletError.at(
            rel, chapter.body_line, "the chapter is too deeply nested, or has too many "
            "list items or definitions without a blank line between them, to convert",
            "put blank lines between definitions and list items; nest less",
        ) from None
    fragment, removals = sanitize(fragment)
    problems = [
        Problem(rel, _line_of(needle, body_lines, chapter.body_line), message, hint, check)
        for needle, message, hint, check in findings.problems
    ]
    problems += _shape_problems(fragment, body_lines, chapter.body_line, rel)
    heading_lines = _heading_lines(body_lines, chapter.body_line)
    for number, level in heading_lines:
        text = HEADING_TEXT_RE.sub("", body_lines[number - chapter.body_line])
        if not any(c.isalnum() for c in text):
            problems.append(
                Problem(
                    rel,
                    number,
                    f"heading '{text.strip()}' has no letters or digits",
                    "the contents, bookmarks and links need a heading in words",
                    "heading-text",
                )
            )
        if level == 1:
            problems.append(
                Problem(
                    rel,
                    number,
                    "a '#' heading in the chapter body",
                    "the chapter title comes from front matter 'title'; use '##' for sections",
                    "heading-level",
                )
            )
    if problems:
        raise BookletError(problems)
    tokens = _flatten(getattr(md, "toc_tokens", []))
    listed_lines = [number for number, level in heading_lines if level in (2, 3)]
    headings = []
    for index, token in enumerate(tokens):
        line = listed_lines[index] if index < len(listed_lines) else chapter.body_line
        headings.append(
            Heading(
                level=int(token["level"]),
                anchor=f"{chapter.slug}--{token['id']}",
                text=html.unescape(str(token["name"])),
                line=line,
            )
        )
    references = tuple(
        Reference(target, href, _line_of(f"({href}", body_lines, chapter.body_line))
        for target, href in findings.references
    )
    removed = tuple(
        Problem(rel, _line_of_any(r.tag, r.needles, body_lines, chapter.body_line), r.message,
                check="raw-html")
        for r in removals
    )
    if findings.decorations:  # our own rules, for our own markup: after the sanitiser
        fragment += f"\n<style>\n{''.join(findings.decorations)}</style>\n"
    return ConvertedChapter(
        chapter=chapter,
        html=fragment,
        headings=tuple(headings),
        references=references,
        images=tuple(path for path, _ in findings.images),
        terms=tuple(findings.terms),
        term_uses=tuple(findings.term_uses),
        removed_html=removed,
    )


def _check_nesting(body_lines: list[str], first_line: int, rel: str) -> None:
    """Refuse lists, quotes and call-outs nested deeper than the limit, before parsing them."""
    fenced = False
    for offset, line in enumerate(body_lines):
        if FENCE_RE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        expanded = line.expandtabs(4)
        rest = expanded.lstrip(" ")
        quotes = QUOTES_RE.match(rest)
        levels = (len(expanded) - len(rest)) // 4 + (quotes.group().count(">") if quotes else 0)
        if levels > LIMITS.nesting_levels:
            raise BookletError.at(
                rel, first_line + offset,
                f"nested {levels} levels deep (lists, quotes or call-outs inside each other), "
                f"over the limit of {LIMITS.nesting_levels}",
                "flatten the list, or split it into several")


def _shape_problems(fragment: str, body_lines: list[str], first_line: int, rel: str
                    ) -> list[Problem]:
    shape = measure(fragment)
    problems = []
    depth, tag = shape.deepest
    if depth > LIMITS.element_depth:
        problems.append(Problem(
            rel, _line_of(f"<{tag}", body_lines, first_line, fold=True),
            f"HTML nested {depth} elements deep, over the limit of {LIMITS.element_depth}",
            "write it in Markdown, or nest less"))
    if shape.elements > LIMITS.elements:
        problems.append(Problem(
            rel, first_line, f"a chapter of {shape.elements:,} HTML elements (paragraphs, "
            f"headings, list items, cells...), over the limit of {LIMITS.elements:,}",
            "split it into several chapters"))
    for rows, cell in shape.long_tables:
        problems.append(Problem(
            rel, _line_of(cell, body_lines, first_line),
            f"a table of {rows} rows, over the limit of {LIMITS.table_rows}",
            "split it into several tables, or move the data to a separate document"))
    return problems


def convert_book(chapters: list[Chapter], root: Path) -> list[ConvertedChapter]:
    """Convert every chapter, report every chapter's problems, then check cross-references.

    The glossary is converted first, for its terms (which the other chapters
    link to), and again last, with links back to where each term is used.
    A chapter converted before from the same inputs comes from the cache.
    """
    convert = ConvertCache(root).convert
    entries = next((c for c in chapters if c.kind == "glossary"), None)
    known: Glossary | None = None
    problems: list[Problem] = []
    if entries is not None:
        try:
            terms = convert(entries, root, Glossary(entries.slug)).terms
            known = Glossary(entries.slug, terms)
        except BookletError as err:
            problems.extend(err.problems)
    converted: dict[str, ConvertedChapter] = {}
    for chapter in chapters:
        if chapter is entries:
            continue
        try:
            converted[chapter.slug] = convert(chapter, root, known)
        except BookletError as err:
            problems.extend(err.problems)
    if entries is not None and known is not None and not problems:
        uses = glossary.uses_by_term(
            (c.chapter.title, c.term_uses) for c in converted.values()
        )
        converted[entries.slug] = convert(
            entries, root, Glossary(entries.slug, known.terms, uses)
        )
    if problems:
        raise BookletError(problems)
    in_order = [converted[chapter.slug] for chapter in chapters]
    check_references(in_order, root)
    return in_order


class ConvertCache:
    """Converted chapters by everything their conversion reads (output/.cache/converted/).

    The key is a hash of the chapter (its front matter, body and path), what
    it knows of the glossary, the project folder, the pipeline's code and the
    converting libraries' versions; the entry also holds a hash of each image
    the chapter uses, checked on every use. Behind a checksum like the parts:
    a damaged entry is converted again. Only chapters without problems are
    kept, so an author's mistake is reported every time.
    """

    def __init__(self, root: Path) -> None:
        self.blobs = BlobCache(root.resolve() / "output" / ".cache" / "converted")

    def convert(self, chapter: Chapter, root: Path,
                glossary: Glossary | None = None) -> ConvertedChapter:
        digest = hashlib.sha256()
        for piece in (CONVERT_FORMAT, code_fingerprint(), _library_versions(), str(root),
                      repr(chapter), repr(glossary)):
            digest.update(piece.encode("utf-8", "surrogatepass"))
            digest.update(b"\0")
        key = digest.hexdigest()
        kept = self.blobs.load(key)
        if isinstance(kept, tuple) and len(kept) == 2:  # (else: another shape, convert again)
            images, converted = kept
            if isinstance(converted, ConvertedChapter) and all(
                file_digest(Path(path)) == hashed for path, hashed in images
            ):
                return replace(converted, chapter=chapter)
        converted = convert(chapter, root, glossary)
        images = [(str(path), file_digest(path)) for path in converted.images]
        self.blobs.keep(key, (images, converted))
        return converted


CONVERT_FORMAT = "booklet-converted 1"


@lru_cache(maxsize=1)
def _library_versions() -> str:
    return " ".join(f"{name} {metadata.version(name)}"
                    for name in ("markdown", "nh3", "pillow"))


def check_references(chapters: list[ConvertedChapter], root: Path) -> None:
    """Every link to a heading or chapter must land on one that exists."""
    known = {c.chapter.slug for c in chapters}
    known |= {h.anchor for c in chapters for h in c.headings}
    known |= {t.anchor for c in chapters for t in c.terms}
    problems = []
    for converted in chapters:
        for ref in converted.references:
            if ref.target in known:
                continue
            slug = ref.target.split("--", 1)[0]
            entries = next((c for c in chapters if c.chapter.slug == slug), None)
            if entries is not None and entries.chapter.kind == "glossary":
                problems.append(Problem(
                    shown_path(converted.chapter.path, root),
                    ref.line,
                    f"link '{ref.href}': the glossary has no entry for it",
                    f"add the term to {shown_path(entries.chapter.path, root)}, or link to "
                    "a heading there",
                    "glossary-term",
                ))
                continue
            if slug not in {c.chapter.slug for c in chapters}:
                hint = "link to a chapter by its file name, e.g. 'glossary.md'"
            else:
                ids = [h.anchor.split("--", 1)[1] for c in chapters for h in c.headings
                       if c.chapter.slug == slug]
                hint = f"headings there: {', '.join('#' + i for i in ids[:6])}" if ids else None
            problems.append(
                Problem(
                    shown_path(converted.chapter.path, root),
                    ref.line,
                    f"link '{ref.href}' points at a heading that does not exist",
                    hint,
                    "link",
                )
            )
    if problems:
        raise BookletError(problems)


def _flatten(tokens: list[dict[str, object]]) -> list[dict[str, object]]:
    flat: list[dict[str, object]] = []
    for token in tokens:
        flat.append(token)
        children = token.get("children")
        if isinstance(children, list):
            flat.extend(_flatten(children))
    return flat


def _heading_lines(body_lines: list[str], first_line: int) -> list[tuple[int, int]]:
    """(file line, level) of each ATX heading in the body, outside code fences."""
    found = []
    fenced = False
    for offset, line in enumerate(body_lines):
        if FENCE_RE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else HEADING_RE.match(line)
        if match:
            found.append((first_line + offset, len(match.group(1))))
    return found


def _line_of_any(tag: str, needles: tuple[str, ...], body_lines: list[str], first_line: int
                 ) -> int:
    """The line of the first of `needles` in the body (in any case), best on a line with `<tag`."""
    lowered = [line.lower() for line in body_lines]
    opening = f"<{tag}"
    for near in (True, False):
        for needle in (n.lower() for n in needles if n):
            for offset, line in enumerate(lowered):
                if needle in line and (not near or opening in line):
                    return first_line + offset
    return first_line


def _line_of(needle: str, body_lines: list[str], first_line: int, fold: bool = False) -> int:
    """The file line of the first body line containing `needle` (`fold`: in any case)."""
    if fold:
        needle = needle.lower()
    for candidate in (needle, needle.lstrip("(")):
        for offset, line in enumerate(body_lines):
            if candidate and candidate in (line.lower() if fold else line):
                return first_line + offset
    return first_line

