"""Clinics x handout chapters -> output/handouts/<clinic>/<chapter>.pdf.

A handout is one chapter's typesetting, not a book build: only the chapters
asked for are converted, every handout is typeset as one document (its own
"Page x of y", the clinic's header and footer, the sources, the disclaimer,
and a QR code for the full guide), in parallel, and each is finished with
the same metadata and font trimming as the book.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import segno

from pipeline.assemble import finish
from pipeline.build import cache_dir, created_at
from pipeline.check import handout_findings
from pipeline.clinics import Clinic, find_clinic, load_clinics
from pipeline.config import PAGE_SIZES, load_config
from pipeline.convert import convert
from pipeline.files import write_atomically
from pipeline.fonts import trimmed_faces
from pipeline.model import BookletError, Chapter, Config, Finding, Metadata
from pipeline.progress import Progress
from pipeline.sources import load_chapters
from pipeline.templates import Templates
from pipeline.workers import typeset_all


@dataclass(frozen=True)
class Handout:
    clinic: str | None
    chapter: str
    path: Path
    pages: int


@dataclass(frozen=True)
class HandoutReport:
    handouts: tuple[Handout, ...]
    findings: tuple[Finding, ...]
    seconds: float


def build_handouts(
    root: Path,
    clinic: str | None = None,
    chapter: str | None = None,
    everything: bool = False,
    jobs: int | None = None,
    source_date_epoch: int | None = None,
    progress: Progress | None = None,
) -> HandoutReport:
    """Build handouts: for one clinic (or unbranded), one chapter, or all of them.

    everything=True: every clinic in clinics/ x every chapter marked `handout: true`.
    Otherwise `chapter` must be given; `clinic` None makes an unbranded handout.
    """
    started = time.perf_counter()
    root = root.resolve()
    config = load_config(root)
    chapters = _chapters(config, chapter, everything)
    clinics: list[Clinic | None]
    if everything and clinic is None:
        clinics = list(load_clinics(root)) or [None]
    else:
        clinics = [find_clinic(root, clinic) if clinic else None]

    converted = {c.slug: convert(c, root) for c in chapters}
    text = "".join(c.html for c in converted.values())
    text += "".join(f"{k.name}{k.phone}{k.note}{''.join(k.address)}{k.web}{k.email}"
                    for k in clinics if k)
    fonts = trimmed_faces(config.styles_dir / "fonts", text + config.copies_text, cache_dir(root))
    layout = config.edition_named().layout
    qr_svg = segno.make(config.copies_url, error="m").svg_inline(
        scale=1, border=0, dark="#000000", omitsize=True,
        title=f"QR code for the full guide: {config.copies_url}",  # its alt text
    )
    jobs_list = []
    for who in clinics:
        paper = PAGE_SIZES[who.paper] if who else layout.page
        # A handout is a few loose sheets: a touch more compact than the book.
        handout_layout = replace(
            layout, page=paper, bleed_mm=0.0, slug_mm=0.0, crop_marks=False,
            base_size_pt=min(layout.base_size_pt, 11.5), line_height=min(layout.line_height, 1.4),
        )
        templates = Templates(config, fonts, handout_layout)
        for item in converted.values():
            jobs_list.append((who, item, templates.handout(item, who, qr_svg)))
    # The fonts are already trimmed to these handouts' characters: embed them whole.
    progress = progress or Progress()
    try:
        rendered = typeset_all([part for _, _, part in jobs_list], root, jobs,
                               whole_fonts=True, keep_local_links=True, progress=progress)
    finally:
        progress.clear()

    handouts = []
    findings: list[Finding] = []
    created = created_at(config, source_date_epoch)
    for (who, item, _), part in zip(jobs_list, rendered, strict=True):
        chapter_ = item.chapter
        folder = root / "output" / "handouts" / (who.slug if who else "")
        path = folder / f"{chapter_.slug}.pdf"
        pdf = finish(part.pdf, _metadata(config, chapter_, who, created), part.anchors,
                     trim_fonts=False)
        shown = str(path.relative_to(root))
        findings += handout_findings(pdf, shown, config.checks.handout_max_pages)
        write_atomically(path, pdf)
        handouts.append(Handout(who.slug if who else None, chapter_.slug, path, part.page_count))
    return HandoutReport(tuple(handouts), tuple(findings), time.perf_counter() - started)


def _chapters(config: Config, slug: str | None, everything: bool) -> list[Chapter]:
    chapters = load_chapters(config)
    if slug is not None:
        chosen = [c for c in chapters if c.slug == slug]
        if not chosen:
            known = ", ".join(c.slug for c in chapters)
            raise BookletError.at("--chapter", None, f"no chapter '{slug}'",
                                  f"chapters: {known}")
        return chosen
    if not everything:
        raise BookletError.at("--chapter", None, "name a chapter",
                              "or build all handouts with 'booklet handouts'")
    chosen = [c for c in chapters if c.handout]
    if not chosen:
        raise BookletError.at("chapters/", None, "no chapter is marked 'handout: true'",
                              "add 'handout: true' to a chapter's front matter")
    return chosen


def _metadata(config: Config, chapter: Chapter, clinic: Clinic | None, created: datetime
              ) -> Metadata:
    subject = f"Handout: {chapter.title}"
    if clinic is not None:
        subject += f", from {clinic.name}"
    return Metadata(
        title=chapter.title,
        author=config.author,
        subject=subject,
        keywords=config.keywords,
        language=config.language,
        created=created.astimezone(UTC),
    )
