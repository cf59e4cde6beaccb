"""An HTML fragment -> the same with only what is allowed, what was removed, its shape.

The raw HTML policy (README, "Raw HTML"). A chapter's HTML, whatever made it
(Markdown, raw HTML, attr_list's `{: }`), is sanitised by nh3 (a maintained
Rust sanitiser) against one allow-list:

- tags: what Markdown itself makes (paragraphs, headings, lists, tables,
  quotes, code, links, images, call-out boxes) and harmless inline
  formatting (ALLOWED_TAGS). Anything else is removed and its text kept;
  <script>, <style>, <iframe>, <object>, <embed>, <svg>, <math> and the like
  are removed with their content (REMOVED_WITH_CONTENT);
- attributes: class, id, title, lang, dir anywhere; href on links, src, alt,
  width and height on images, alignment and spans on table cells. No event
  attributes (onclick...), no style (only a table cell's text-align);
- a link's href is '#...', http(s), mailto or tel (no javascript:, no files);
  an image's src only a project URL, which convert.py sets after checking
  the image (an image written in raw HTML loses its src).

`sanitize` also says what it removed (a Removal each), walking the fragment
as nh3 does, so that lint can name each tag and attribute. `measure` gives
the fragment's shape (element count, depth, table lengths) for the limits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

import nh3

from pipeline.model import LIMITS, PROJECT_URL

ALLOWED_TAGS = frozenset({
    # what Markdown and convert.py's extension make
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd",
    "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "blockquote", "pre",
    "code", "em", "strong", "a", "img", "hr", "br", "div", "span", "sup", "sub",
    # harmless inline formatting an author may write by hand
    "b", "i", "u", "s", "small", "mark", "abbr", "cite", "q", "del", "ins", "kbd", "dfn",
    "wbr", "bdi", "bdo", "time", "figure", "figcaption",
})
REMOVED_WITH_CONTENT = frozenset({
    "script", "style", "iframe", "object", "embed", "applet", "noscript", "noembed",
    "noframes", "template", "svg", "math", "canvas", "video", "audio", "textarea", "select",
    "title", "head", "xmp", "plaintext", "frameset", "frame",
})
ALLOWED_ATTRIBUTES = {
    "*": {"class", "id", "title", "lang", "dir"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "th": {"style", "colspan", "rowspan", "align"},
    "td": {"style", "colspan", "rowspan", "align"},
    "ol": {"start", "type", "reversed"},
    "li": {"value"},
    "time": {"datetime"},
}
LINK_SCHEMES = ("http", "https", "mailto", "tel")
ALIGN_STYLE_RE = re.compile(r"^\s*(text-align\s*:\s*(left|right|center|justify)\s*;?\s*)?$", re.I)

VOID = frozenset({"br", "hr", "img", "wbr", "col", "area", "base", "input", "link", "meta",
                  "source", "track", "param", "keygen", "embed"})


@dataclass(frozen=True)
class Removal:
    tag: str
    needles: tuple[str, ...]  # texts to find its line by, best first
    message: str


def sanitize(fragment: str) -> tuple[str, list[Removal]]:
    """The fragment with everything off the allow-list removed, and each removal."""
    removals = _Removals()
    removals.feed(fragment)
    removals.close()
    clean = nh3.clean(
        fragment,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(REMOVED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_attribute_filter,
        url_schemes={*LINK_SCHEMES, "file"},  # file: only as _attribute_filter allows
        link_rel=None,
        strip_comments=True,
        filter_style_properties={"text-align"},
    )
    return clean, removals.removed


def _attribute_allowed(tag: str, name: str) -> bool:
    return name in ALLOWED_ATTRIBUTES["*"] or name in ALLOWED_ATTRIBUTES.get(tag, set())


def _value_problem(tag: str, name: str, value: str) -> str | None:
    """Why an allowed attribute's value is still refused, or None."""
    text = value.strip()
    if tag == "a" and name == "href":
        scheme = urlsplit(text).scheme.lower() if ":" in text else ""
        if not (text.startswith("#") or scheme in LINK_SCHEMES):
            return "links go to web pages, mail, phones or headings ('#...') only"
    if tag == "img" and name == "src" and not text.startswith(PROJECT_URL):
        return "write images in Markdown, ![what it shows](../images/file.png), so they are checked"
    if name == "style" and not ALIGN_STYLE_RE.match(text):
        return "styles come from styles/book.css, not from chapters"
    return None


def _attribute_filter(tag: str, name: str, value: str) -> str | None:
    return None if _value_problem(tag, name, value) else value


class _Removals(HTMLParser):
    """Walks the fragment as nh3 will, and notes what the allow-list removes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.removed: list[Removal] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            what = ("removed with its content" if tag in REMOVED_WITH_CONTENT
                    else "removed" if tag in VOID else "removed (its text is kept)")
            self.removed.append(
                Removal(tag, (f"<{tag}",), f"raw HTML <{tag}> {what}: only simple formatting "
                                           "passes through (see README, Raw HTML)"))
            return
        for name, value in attrs:
            if not _attribute_allowed(tag, name):
                reason = ("event attributes never pass through" if name.startswith("on")
                          else "styles come from styles/book.css, not from chapters"
                          if name == "style"
                          else "not on the allow-list (see README, Raw HTML)")
                self.removed.append(
                    Removal(tag, (f"{name}=", name),
                            f"attribute '{name}' removed from <{tag}>: {reason}"))
                continue
            problem = _value_problem(tag, name, value or "")
            if problem:
                text = value or ""
                needles = (f'{name}="{text}"', f"{name}='{text}'", f"{name}={text}", text,
                           f"{name}=")
                self.removed.append(
                    Removal(tag, needles, f"{name}='{text[:60]}' removed from <{tag}>: {problem}"))


def measure(fragment: str) -> Shape:
    shape = Shape()
    shape.feed(fragment)
    shape.close()
    return shape


class Shape(HTMLParser):
    """An HTML fragment's element count, its deepest nesting, and its long tables."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.elements = 0
        self.deepest: tuple[int, str] = (0, "")
        self.rows: list[int] = []  # rows of each open table
        self.long_tables: list[tuple[int, str]] = []  # (rows, first cell's text)
        self.first_cell: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements += 1
        if tag in VOID:
            return
        self.open.append(tag)
        if len(self.open) > self.deepest[0]:
            self.deepest = (len(self.open), tag)
        if tag == "table":
            self.rows.append(0)
            self.first_cell.append("")
        elif tag == "tr" and self.rows:
            self.rows[-1] += 1
        elif tag in ("td", "th") and self.first_cell and not self.first_cell[-1]:
            self._in_cell = True

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID or tag not in self.open:
            return
        while self.open:
            closed = self.open.pop()
            if closed == "table" and self.rows:
                rows, cell = self.rows.pop(), self.first_cell.pop()
                if rows > LIMITS.table_rows:
                    self.long_tables.append((rows, cell))
            if closed in ("td", "th"):
                self._in_cell = False
            if closed == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._in_cell and self.first_cell and data.strip():
            self.first_cell[-1] = data.strip()
            self._in_cell = False
