"""Converted chapters, config and page map -> full HTML documents (Part).

Jinja2 with autoescape and StrictUndefined, templates under styles/templates.
Each part of the book (front matter, each chapter, the back cover, and the
page furniture that is laid over every page) is one HTML document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from markupsafe import Markup

from pipeline.clinics import Clinic
from pipeline.fonts import FontFace
from pipeline.impose import Sheet, Side
from pipeline.model import (
    PROJECT_URL,
    BookletError,
    Config,
    ConvertedChapter,
    Edition,
    Layout,
    PageInfo,
    PageSize,
    Part,
    Source,
    TocEntry,
    project_url,
)
from pipeline.requests import Request

if TYPE_CHECKING:  # copies.py imports this module
    from pipeline.copies import Label, LabelSheet

FRONT = "front"
BACK = "back"
FURNITURE = "furniture"


@dataclass(frozen=True)
class CollectedSources:
    anchor: str
    title: str
    sources: tuple[Source, ...]


def css_string(text: str) -> Markup:
    """Quote text as a CSS string that is safe inside an HTML <style> element.

    Quotes, backslashes and line breaks are escaped, and so are < and > so
    that no text can close the <style> element.
    """
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\a ")
        .replace("\r", "")
        .replace("<", "\\3c ")
        .replace(">", "\\3e ")
    )
    return Markup(f'"{escaped}"')


def long_date(value: date, language: str) -> str:
    month = value.strftime("%B")  # the C locale: English month names
    if language.endswith("-US"):
        return f"{month} {value.day}, {value.year}"
    return f"{value.day} {month} {value.year}"


def make_environment(config: Config) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(config.styles_dir / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["css_string"] = css_string
    environment.filters["long_date"] = lambda value: long_date(value, config.language)
    environment.filters["project_url"] = lambda path: project_url(path, config.root)
    return environment


class Templates:
    """Renders the parts of one book; holds the Jinja2 environment and shared context."""

    def __init__(self, config: Config, fonts: tuple[FontFace, ...], layout: Layout | None = None):
        self.config = config
        self.layout = layout or config.layout
        self.environment = make_environment(config)
        self.common = {
            "book": config,
            "layout": self.layout,
            "fonts": fonts,
            "stylesheet": project_url(config.styles_dir / "book.css", config.root),
            "root": config.root,
            "reviewed": long_date(config.last_reviewed, config.language),
        }

    def _render(self, template: str, source: Path, **context: object) -> str:
        try:
            return self.environment.get_template(template).render(**self.common, **context)
        except jinja2.TemplateSyntaxError as err:
            raise BookletError.at(
                f"styles/templates/{err.name or template}", err.lineno, f"template error: {err}"
            ) from None
        except jinja2.UndefinedError as err:
            raise BookletError.at(
                f"styles/templates/{template}", None, f"template uses an unknown name: {err}"
            ) from None
        except jinja2.TemplateNotFound as err:
            raise BookletError.at(
                f"styles/templates/{err.name}", None, "template not found"
            ) from None

    def chapter(self, converted: ConvertedChapter, everything: list[ConvertedChapter]) -> Part:
        chapter = converted.chapter
        html = self._render(
            "chapter.html",
            chapter.path,
            chapter=chapter,
            body=converted.html,
            collected=collected_sources(converted, everything),
            **_sources_link(converted, everything),
        )
        return Part(chapter.slug, html, chapter.path, PROJECT_URL)

    def single_pass(self, everything: list[ConvertedChapter], toc: list[TocEntry]) -> Part:
        """The whole book as one document (the peer the parts are measured against)."""
        chapters = [
            {
                "chapter": c.chapter,
                "body": c.html,
                "collected": collected_sources(c, everything),
            }
            for c in everything
        ]
        html = self._render(
            "single.html",
            self.config.path,
            chapters=chapters,
            toc=toc,
            **_sources_link(everything[0], everything),
        )
        return Part("single-pass", html, self.config.path, PROJECT_URL)

    def front(self, toc: list[TocEntry]) -> Part:
        html = self._render("front.html", self.config.path, toc=toc)
        return Part(FRONT, html, self.config.path, PROJECT_URL)

    def back(self) -> Part:
        html = self._render("back.html", self.config.path)
        return Part(BACK, html, self.config.path, PROJECT_URL)

    def handout(
        self, converted: ConvertedChapter, clinic: Clinic | None, qr_svg: str
    ) -> Part:
        """One chapter as a handout; `clinic` None makes an unbranded one."""
        chapter = converted.chapter
        reviewed = long_date(chapter.last_reviewed, self.config.language)
        if clinic is not None:
            contact = [f"{clinic.name} · {clinic.phone}"]
            head_left = clinic.name
            logo_url = project_url(clinic.logo, self.config.root) if clinic.logo else ""
        else:
            contact = [f"Free guide: {self.config.copies_url}"]
            head_left = self.config.title
            logo_url = ""
        html = self._render(
            "handout.html",
            chapter.path,
            chapter=chapter,
            body=converted.html,
            clinic=clinic,
            accent=clinic.accent if clinic else "#005a52",
            head_left=head_left,
            foot_left=contact[0],
            reviewed_chapter=reviewed,
            logo_url=logo_url,
            qr_svg=Markup(qr_svg),  # generated by segno from the configured URL
        )
        name = f"handout-{clinic.slug if clinic else 'unbranded'}-{chapter.slug}"
        return Part(name, html, chapter.path, PROJECT_URL)

    def cover_letters(
        self,
        requests: list[Request],
        paper: PageSize,
        edition_names: dict[str, str],
        wide: set[str],
    ) -> Part:
        """All the letters of a batch on one paper size: one document, one letter per sheet."""
        html = self._render(
            "cover-letter.html",
            self.config.path,
            requests=requests,
            paper=paper,
            edition_names=edition_names,
            wide=wide,
        )
        return Part("cover-letters", html, self.config.path, PROJECT_URL, tagged=False)

    def labels(self, pages: list[list[Label]], sheet: LabelSheet, wide: set[str]) -> Part:
        html = self._render("labels.html", self.config.path, pages=pages, sheet=sheet,
                            wide=wide)
        return Part("labels", html, self.config.path, PROJECT_URL, tagged=False)

    def sheet_marks(
        self, sides: list[tuple[Sheet, str, Side]], edition: Edition, labels: list[str]
    ) -> Part:
        """Fold line and sheet order marks, one page per printed side (landscape paper)."""
        assert edition.paper is not None
        html = self._render(
            "sheet-marks.html",
            self.config.path,
            sides=sides,
            edition=edition,
            sheets=len(sides) // 2,
            signatures=max(sheet.signature for sheet, _, _ in sides),
            labels=labels,
            paper_width_mm=edition.paper.height_mm,
            paper_height_mm=edition.paper.width_mm,
        )
        return Part("sheet-marks", html, self.config.path, PROJECT_URL, tagged=False)

    def how_to_print(self, edition: Edition, sheets: int, signatures: int, pages: int) -> Part:
        html = self._render(
            "how-to-print.html",
            self.config.path,
            edition=edition,
            sheets=sheets,
            signatures=signatures,
            pages=pages,
            file_name=f"{edition.name}.pdf",
            linear_name=f"{edition.name}-linear.pdf",
        )
        return Part("how-to-print", html, self.config.path, PROJECT_URL, tagged=False)

    def furniture(self, pages: Sequence[PageInfo]) -> Part:
        """Running heads and folios for a run of the book's pages, one page each.

        They are set on one tall sheet, which the worker cuts into pages
        (furniture.py).
        """
        html = self._render("furniture.html", self.config.path, pages=pages)
        return Part(FURNITURE, html, self.config.path, PROJECT_URL, tagged=False,
                    slots=len(pages))


def _sources_link(
    converted: ConvertedChapter, everything: list[ConvertedChapter]
) -> dict[str, str]:
    """Where a chapter's "sources are listed in ..." line points."""
    target = next((c.chapter for c in everything if c.chapter.collect_sources), None)
    if target is None:  # no sources chapter: each chapter lists its own
        return {"sources_anchor": "", "sources_title": ""}
    return {"sources_anchor": target.slug, "sources_title": target.title}


def collected_sources(
    converted: ConvertedChapter, everything: list[ConvertedChapter]
) -> list[CollectedSources]:
    """The per-chapter source lists a sources chapter prints, each under its own heading."""
    if not converted.chapter.collect_sources:
        return []
    slug = converted.chapter.slug
    return [
        CollectedSources(f"{slug}--from-{c.chapter.slug}", c.chapter.title, c.chapter.sources)
        for c in everything
        if c.chapter.sources and not c.chapter.collect_sources
    ]
