"""Glossary terms: found in the glossary chapter, linked where chapters use them.

The glossary chapter is a Markdown definition list. Each term (the line
before `:   definition`) becomes an entry with a book-wide anchor; a term
written "Electrochemotherapy (ECT)" or "Cutaneous, subcutaneous" is found
under each of its names. In every other chapter, the first use of each term
(in running text, not in headings, links or code) becomes a link to its
entry, and the entry links back to the first use in each chapter.

These functions work on Python-Markdown's element tree, called from
convert.py's tree processor.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as etree
from collections.abc import Callable, Iterable, Mapping, Sequence

from pipeline.model import GlossaryTerm, TermUse

# Text in these elements is never turned into a term link.
SKIP = frozenset({"a", "code", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "dt", "sup",
                  "script", "style"})
ACRONYM_RE = re.compile(r"^[A-Z][A-Z0-9]{1,5}$")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "term"


def names_of(term: str) -> tuple[str, ...]:
    """The names a glossary term is known by: 'Electrochemotherapy (ECT)' -> both."""
    names = []
    bracketed = re.findall(r"\(([^()]+)\)", term)
    plain = re.sub(r"\([^()]*\)", " ", term)
    for piece in [*plain.split(","), *bracketed]:
        name = " ".join(piece.split())
        if len(name) > 1 and name not in names:
            names.append(name)
    return tuple(names)


def terms_in(tree: etree.Element, glossary_slug: str, text_of: Callable[[etree.Element], str],
             line_of: Callable[[str], int]) -> list[GlossaryTerm]:
    """The glossary's entries, each <dt> given its anchor."""
    terms = []
    for dt in tree.iter("dt"):
        text = " ".join(text_of(dt).split())
        if not text:
            continue
        anchor = f"{glossary_slug}--term-{slug(text)}"
        dt.set("id", anchor)
        terms.append(GlossaryTerm(text, anchor, names_of(text), line_of(text)))
    return terms


def _forms(name: str) -> tuple[str, ...]:
    """A name and its plurals: biopsy, biopsies; wound, wounds; ECT, ECTs."""
    if ACRONYM_RE.match(name):
        return (name, f"{name}s")
    forms = [name, f"{name}s", f"{name}es"]
    if name.endswith("y"):
        forms.append(f"{name[:-1]}ies")
    return tuple(forms)


def link_first_uses(tree: etree.Element, terms: Sequence[GlossaryTerm],
                    chapter_slug: str) -> list[TermUse]:
    """Link the first use of each term in this chapter's running text to its entry."""
    forms = {form: term for term in terms for name in term.names for form in _forms(name)}
    if not forms:
        return []
    words = "|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w-])(?:{words})(?![\w-])", re.IGNORECASE)
    folded = {form.lower(): term for form, term in forms.items() if not ACRONYM_RE.match(
        form.rstrip("s"))}
    uses: list[TermUse] = []
    done: set[str] = set()

    def term_at(match: re.Match[str]) -> GlossaryTerm | None:
        word = match.group(0)
        return forms.get(word) or folded.get(word.lower())  # acronyms: exact case only

    def link(text: str) -> tuple[str, etree.Element | None]:
        """Split `text` at the first unused term: (text before, link holding the rest)."""
        for match in pattern.finditer(text):
            term = term_at(match)
            if term is None or term.anchor in done:
                continue
            done.add(term.anchor)
            use = f"{chapter_slug}--term-{slug(term.text)}"
            uses.append(TermUse(term.anchor, use))
            anchor = etree.Element("a", {"href": f"#{term.anchor}", "class": "term", "id": use})
            anchor.text = match.group(0)
            anchor.tail = text[match.end():]
            return text[: match.start()], anchor
        return text, None

    def linked(text: str) -> tuple[str, list[etree.Element]]:
        head, made = link(text)
        links = []
        while made is not None:
            links.append(made)
            made.tail, made = link(made.tail or "")
        return head, links

    def visit(element: etree.Element) -> None:
        if element.tag in SKIP or "admonition-title" in element.get("class", ""):
            return
        if element.text:
            element.text, links = linked(element.text)
            for position, made in enumerate(links):
                element.insert(position, made)
        for child in list(element):
            visit(child)
            if child.tail:
                child.tail, links = linked(child.tail)
                first = list(element).index(child) + 1
                for position, made in enumerate(links, start=first):
                    element.insert(position, made)

    visit(tree)
    return uses


def add_back_links(tree: etree.Element, uses: Mapping[str, Sequence[tuple[str, str]]]) -> None:
    """Under each entry, links back to where chapters first use it: 'Used in: ...'."""
    for dl in tree.iter("dl"):
        children = list(dl)
        for index, dt in enumerate(children):
            if dt.tag != "dt" or dt.get("id") not in uses:
                continue
            last_dd = None
            for sibling in children[index + 1 :]:
                if sibling.tag != "dd":
                    break
                last_dd = sibling
            if last_dd is None:
                continue
            para = etree.SubElement(last_dd, "p", {"class": "term-uses"})
            para.text = "Used in: "
            for number, (title, use) in enumerate(uses[dt.get("id", "")]):
                if number:
                    para[-1].tail = ", "
                link = etree.SubElement(para, "a", {"href": f"#{use}"})
                link.text = title


def uses_by_term(
    chapters: Iterable[tuple[str, Sequence[TermUse]]],
) -> dict[str, list[tuple[str, str]]]:
    """term anchor -> [(chapter title, anchor of the first use)], in book order."""
    found: dict[str, list[tuple[str, str]]] = {}
    for title, uses in chapters:
        for use in uses:
            found.setdefault(use.term, []).append((title, use.anchor))
    return found
