"""requests.csv -> output/copies/<batch>/: a ready-to-print packet per request.

Each edition a batch needs is typeset once (or reused from output/ when it is
up to date). Meanwhile the cover letters (a few to a document) and the
address labels are typeset in the workers' spare time (`Workers.later`).
Each request's PDF is then its letter (on its own sheet) followed by the
guide: the guide saved once, and the letter appended to it (incremental.py).
Each edition gets one combined print file, all copies included.
The labels, in request order, and manifest.csv (the packing list) complete it.

Privacy: names and addresses are health-related personal data. They appear
only inside the letters and labels: never in file names, logs, the summary,
PDF metadata or any cache. Files are written 0600 in folders 0700, and
`purge` removes a batch's files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import Future, wait
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pikepdf

from pipeline.build import build, cache_dir, inputs_newer_than
from pipeline.config import PAGE_SIZES, load_config
from pipeline.files import make_folder, write_atomically
from pipeline.fonts import (
    FAMILY,
    FontFace,
    every_character,
    fallback_faces,
    shipped_faces,
    trim_face,
    uncovered,
)
from pipeline.incremental import Base, Copy, Item, base_of, with_pages
from pipeline.model import BookletError, Config, PageSize, Part, RenderedPart
from pipeline.progress import Progress
from pipeline.requests import Rejection, Request, read_requests
from pipeline.templates import Templates
from pipeline.workers import Workers, typeset_job

# Cover letters typeset as one document. A document costs 40-60 ms besides its
# letters. Letters with fonts cut to their document's characters hold those of
# the others in it, so they go a few to a document.
LETTERS_PER_PART = 10
OWN_FONTS_LETTERS_PER_PART = 5
MANIFEST_EVERY = 0.25  # seconds: the manifest kept current while packets are written
PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class LabelSheet:
    name: str
    paper: str
    paper_width_mm: float
    paper_height_mm: float
    columns: int
    rows: int
    label_width_mm: float
    label_height_mm: float
    left_mm: float
    top_mm: float
    pitch_x_mm: float
    pitch_y_mm: float
    font_pt: float

    @property
    def per_sheet(self) -> int:
        return self.columns * self.rows


# 30 per sheet, 2.625 x 1 in (the common Letter layout); 21 per sheet, 63.5 x 38.1 mm (A4).
LABEL_SHEETS = {
    "letter": LabelSheet("30 per sheet, 2.625 x 1 in", "letter", 215.9, 279.4, 3, 10,
                         66.675, 25.4, 4.7625, 12.7, 69.85, 25.4, 8.5),
    "a4": LabelSheet("21 per sheet, 63.5 x 38.1 mm", "a4", 210.0, 297.0, 3, 7,
                     63.5, 38.1, 7.2, 15.15, 66.0, 38.1, 10),
}


@dataclass(frozen=True)
class Label:
    request: Request
    left_mm: float
    top_mm: float


@dataclass
class Outcome:
    request_id: str
    row: int
    status: str  # done, skipped (done in an earlier run), rejected
    edition: str = ""
    copies: int = 0
    pages: int = 0
    sheets: int = 0
    paper: str = ""
    file: str = ""
    letter_pages: int = 0
    sha256: str = ""
    label: str = ""
    reason: str = ""


@dataclass
class CopiesReport:
    folder: Path
    outcomes: list[Outcome] = field(default_factory=list)
    sheets_by_paper: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def make_copies(
    root: Path,
    csv_path: Path,
    batch: str | None = None,
    labels: str | None = None,
    jobs: int | None = None,
    source_date_epoch: int | None = None,
    progress: Progress | None = None,
    workers: Workers | None = None,
) -> CopiesReport:
    """Make a batch's packets, print files, labels and manifest (see the module's text).

    With `workers` (a command's own, already started), the batch typesets in
    them; otherwise it starts its own (`jobs` of them).
    """
    started = time.perf_counter()
    root = root.resolve()
    config = load_config(root)
    names = tuple(dict.fromkeys([config.default_edition, *(e.name for e in config.editions)]))
    if not csv_path.is_file():
        raise BookletError.at(str(csv_path), None, "no such requests file")
    requests, rejected = read_requests(csv_path, names)
    batch = batch or re.sub(r"[^A-Za-z0-9_-]+", "-", csv_path.stem).strip("-") or "batch"
    if not batch.replace("-", "").replace("_", "").isalnum():
        raise BookletError.at("--batch", None, "a batch name is letters, digits, - and _")
    folder = root / "output" / "copies" / batch
    _private_folder(folder)
    report = CopiesReport(folder)

    faces = (*shipped_faces(config.styles_dir / "fonts"), *fallback_faces(config.styles_dir
                                                                          / "fonts"))
    good: list[Request] = []
    for request in requests:
        text = request.name + "".join(request.address) + request.note
        missing = uncovered(text, faces)
        if missing:
            rejected.append(Rejection(
                request.row, request.request_id,
                f"{len(missing)} character(s) in the name, address or note are in a script "
                "the shipped fonts cannot print (for example Chinese); print this one by hand",
            ))
        else:
            good.append(request)

    # Requests whose name, address or note the guide's own typeface cannot set whole.
    main_faces = shipped_faces(config.styles_dir / "fonts")
    wide = {r.request_id for r in good
            if uncovered(r.name + "".join(r.address) + r.note, main_faces)}

    previous = _read_manifest(folder / "manifest.csv")
    todo = [r for r in good if not _already_done(r, previous.get(r.request_id), folder)]
    done_before = {r.request_id for r in good} - {r.request_id for r in todo}

    progress = progress or Progress()
    outcomes: dict[str, Outcome] = {}
    # The labels, and the letters of names the guide's typeface cannot set whole,
    # embed fonts trimmed to this batch's characters (so that WeasyPrint's own cut
    # of each document is quick). They say which characters the names use, so they
    # live in the batch folder, never in the cache, and are deleted when the batch
    # is done. The other letters embed the guide's typeface whole (below).
    font_folder = folder / ".fonts"
    with (nullcontext(workers) if workers else Workers(jobs)) as workers, \
            ExitStack() as opened:
        _private_folder(font_folder)
        opened.callback(shutil.rmtree, font_folder, ignore_errors=True)  # last of all
        text = _batch_text(config, good)
        # The biggest fonts first, so that the held letters find them cut.
        needed = sorted(_faces_needed(faces, text), key=lambda f: -f.path.stat().st_size)
        # (Only needed if some request's text is not all in the guide's typeface.)
        jobs_here: list[Future[Any]] = [workers.submit(trim_face, face, text, font_folder)
                                        for face in needed if wide]
        opened.callback(_settle, jobs_here)  # before the fonts go
        cut = (needed, text, font_folder)
        templates = Templates(config, tuple(_trimmed(face, font_folder) for face in needed))
        # Letters the guide's typeface sets whole (most) embed it whole, with all
        # its characters: no cut of each letters document (a third of its time),
        # and nothing of anyone's name in the fonts, so they may be cached.
        upright = tuple(face for face in needed if face.family == FAMILY)
        everything, whole_folder = every_character(upright, cache_dir(root))
        jobs_here += [workers.submit(trim_face, face, everything, whole_folder)
                      for face in upright]
        whole = (list(upright), everything, whole_folder)
        whole_templates = Templates(config, tuple(_trimmed(face, whole_folder)
                                                  for face in upright))
        # The labels and letters are typeset in the workers' spare time while each
        # edition the new requests need is built once (or reused when up to date).
        # The labels too embed the guide's typeface whole when it sets them all.
        labels_part, positions = _labels(good, config, labels,
                                         templates if wide else whole_templates, wide)
        labels_typeset = None if labels_part is None else (
            workers.later(_typeset_with, cut, labels_part, root) if wide
            else workers.later(_typeset_with, whole, labels_part, root, True))
        chunks = _letter_chunks(config, todo, wide)
        titles = {e.name: _edition_title(e.name) for e in config.editions}
        letters = [workers.later(_typeset_with, cut, templates.cover_letters(
            group, PAGE_SIZES[paper], titles, wide), root) if own_fonts else
            workers.later(_typeset_with, whole, whole_templates.cover_letters(
                group, PAGE_SIZES[paper], titles, wide), root, True)
            for paper, own_fonts, group in chunks]
        jobs_here += [*letters, *([labels_typeset] if labels_typeset else [])]
        guides = {name: _guide(root, config, name, workers, source_date_epoch, progress)
                  for name in dict.fromkeys(r.edition for r in todo)}
        bases = {name: base_of(_guide_only(path, config, opened))
                 for name, (path, _) in guides.items()}
        packets = _packets(chunks, letters, bases, opened)
        letter_pages: dict[str, list[pikepdf.Page]] = {}
        opened.callback(lambda: _write_manifest(  # cut short or not: what is done is kept
            folder / "manifest.csv", [*outcomes.values(), *_kept(previous, outcomes)],
            durable=False))
        kept_at = time.perf_counter()
        for position, request in enumerate(good):
            progress.advance("copies", position + 1, len(good), noun="requests", every=10)
            outcome = Outcome(request.request_id, request.row, "done", request.edition,
                              request.copies, file=f"{request.request_id}.pdf",
                              label=positions.get(request.request_id, ""))
            if request.request_id in done_before:
                before = previous[request.request_id]
                outcome.status = "skipped"
                outcome.sha256 = before["sha256"]
                outcome.letter_pages = int(before["letter_pages"])
                outcome.paper = before["paper"]
                outcome.pages, outcome.sheets = int(before["pages"]), int(before["sheets"])
            else:
                packet_id, packet, letter_pages[packet_id] = next(packets)
                assert packet_id == request.request_id
                # Whole or absent if the run is killed; flushed to disk all at once at
                # the end (a resumed run checks each file's hash in any case).
                write_atomically(folder / outcome.file, packet.data, mode=PRIVATE_FILE,
                                 durable=False)
                outcome.sha256 = hashlib.sha256(packet.data).hexdigest()
                outcome.letter_pages = packet.letter_pages
                outcome.paper = guides[request.edition][1].name
                outcome.pages, outcome.sheets = _sheets(packet, request.copies)
            outcomes[request.request_id] = outcome
            if outcome.status == "done" and time.perf_counter() - kept_at > MANIFEST_EVERY:
                # Kept current as it goes: a run killed resumes from here.
                _write_manifest(folder / "manifest.csv",
                                [*outcomes.values(), *_kept(previous, outcomes)], durable=False)
                kept_at = time.perf_counter()
        labels_pdf = _labels_pdf(labels_typeset.result(), config) if labels_typeset else None
        progress.clear()
        _combined(folder, good, outcomes, bases, letter_pages, config)
    if labels_pdf is not None:
        write_atomically(folder / "labels.pdf", labels_pdf, mode=PRIVATE_FILE)
    for rejection in rejected:
        outcomes[f"row-{rejection.row}"] = Outcome(
            rejection.request_id, rejection.row, "rejected", reason=rejection.reason
        )
    report.outcomes = sorted(outcomes.values(), key=lambda o: o.row)
    for outcome in report.outcomes:
        if outcome.status != "rejected":
            report.sheets_by_paper[outcome.paper] = (
                report.sheets_by_paper.get(outcome.paper, 0) + outcome.sheets
            )
    os.sync()  # the packets, in one go rather than a hundred waits
    _write_manifest(folder / "manifest.csv", report.outcomes)
    report.seconds = time.perf_counter() - started
    return report


def purge(root: Path, batch: str) -> list[str]:
    """Remove a batch's files (letters, guides, labels, manifest); return what was removed."""
    folder = root.resolve() / "output" / "copies" / batch
    if not folder.is_dir() or folder.parent != root.resolve() / "output" / "copies":
        raise BookletError.at(f"output/copies/{batch}", None, "no such batch")
    removed = []
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file() or path.is_symlink():
            path.unlink()
            removed.append(str(path.relative_to(root.resolve())))
        else:
            path.rmdir()
    folder.rmdir()
    return sorted(removed)


def _private_folder(folder: Path) -> None:
    make_folder(folder, mode=PRIVATE_FOLDER)
    os.chmod(folder, PRIVATE_FOLDER)


def _guide(root: Path, config: Config, edition: str, workers: Workers,
           source_date_epoch: int | None, progress: Progress) -> tuple[Path, PageSize]:
    """The edition's print file: reused when it is up to date, built once otherwise."""
    chosen = config.edition_named(edition)
    paper = chosen.paper or chosen.layout.page
    candidates = [root / "output" / "editions" / f"{edition}.pdf"]
    if edition == config.default_edition:
        candidates.append(root / "output" / "guide.pdf")
    for path in candidates:
        if path.is_file() and not inputs_newer_than(path, root):
            return path, paper
    report = build(root, source_date_epoch=source_date_epoch, edition=edition,
                   progress=progress, workers=workers)
    if report.rejected:
        raise BookletError.at(
            str(report.output.relative_to(root)), None,
            f"the {edition} edition did not pass its checks", "run 'booklet check' and fix it",
        )
    return candidates[0], paper


@dataclass(frozen=True)
class Packet:
    data: bytes
    letter_pages: int
    guide_pages: int
    landscape: bool  # an imposed guide: its pages are the sides of its sheets


def _trimmed(face: FontFace, folder: Path) -> FontFace:
    """Where `trim_face` puts the face cut to the batch's characters."""
    return FontFace(face.family, face.weight, face.style, folder / face.path.name)


def _settle(jobs: list[Future[Any]]) -> None:
    """The batch's jobs not started are not wanted; wait for those under way."""
    for job in jobs:
        job.cancel()
    wait(jobs)


def _typeset_with(cut: tuple[list[FontFace], str, Path], part: Part, root: Path,
                  whole_fonts: bool = False) -> RenderedPart:
    """Typeset letters or labels (in a worker), once their fonts are cut.

    The fonts are cut by jobs handed to the workers first; one this job finds
    missing (its cutting still under way in another worker) is cut here too,
    to the same bytes. A batch that has stopped has no font folder: nothing
    is cut into a new one. Fonts cut to the batch's characters are cut again
    by WeasyPrint to each document's (`whole_fonts` False).
    """
    faces, text, folder = cut
    if not whole_fonts and not folder.is_dir():
        raise BookletError.at("booklet copies", None, "the batch stopped")
    for face in faces:
        trim_face(face, text, folder)  # at once, if it is there
    return typeset_job(part, root, whole_fonts)


def _letter_chunks(config: Config, todo: list[Request], wide: set[str]
                   ) -> list[tuple[str, bool, list[Request]]]:
    """The new requests' letters, a few of one paper size to a document (typeset as
    one), and whether the document needs fonts of its own (its `wide` letters).

    A document is closed when it is full, so the documents come in about the
    requests' order. The number per document is fixed: a batch's files are the
    same bytes whatever the number of workers.
    """
    open_groups: dict[tuple[str, bool], list[Request]] = {}
    chunks: list[tuple[str, bool, list[Request]]] = []
    for request in todo:
        edition = config.edition_named(request.edition)
        kind = ((edition.paper or edition.layout.page).name, request.request_id in wide)
        group = open_groups.setdefault(kind, [])
        group.append(request)
        if len(group) == (OWN_FONTS_LETTERS_PER_PART if kind[1] else LETTERS_PER_PART):
            chunks.append((*kind, open_groups.pop(kind)))
    return chunks + [(*kind, group) for kind, group in open_groups.items()]


def _packets(chunks: list[tuple[str, bool, list[Request]]], letters: list[Future[RenderedPart]],
             guides: dict[str, Base], opened: ExitStack
             ) -> Iterator[tuple[str, Packet, list[pikepdf.Page]]]:
    """Each new request's packet and its letter's pages, in request order.

    Each letters document is cut at each letter's first page, as soon as it is
    typeset and wanted; it stays open (in `opened`) for the combined print files.
    """
    order = sorted((request.row, request.request_id) for _, _, group in chunks
                   for request in group)
    made: dict[str, tuple[Packet, list[pikepdf.Page]]] = {}
    pending = iter(zip(chunks, letters, strict=True))
    for _, request_id in order:
        while request_id not in made:
            (_, _, group), typeset = next(pending)
            part = typeset.result()
            starts = {int(a.name.split("-")[1]): a.page for a in part.anchors
                      if a.name.startswith("letter-")}
            document = opened.enter_context(pikepdf.open(io.BytesIO(part.pdf)))
            for index, request in enumerate(group):
                pages = list(document.pages[starts[index]:starts.get(index + 1,
                                                                    len(document.pages))])
                made[request.request_id] = (_packet(pages, guides[request.edition]), pages)
        packet, pages = made.pop(request_id)
        yield request_id, packet, pages


def _guide_only(path: Path, config: Config, opened: ExitStack) -> pikepdf.Pdf:
    """A document of the edition's pages alone: each packet is a letter in front of
    this, saved once (incremental.py), and the print files copy its pages."""
    book = opened.enter_context(pikepdf.open(path))  # the copies read from it when saved
    pdf = opened.enter_context(pikepdf.new())
    pdf.pages.extend(book.pages)
    _plain_metadata(pdf, config)
    return pdf


def _packet(letter: list[pikepdf.Page], guide: Base) -> Packet:
    """The letter, on a sheet of its own, in front of the guide."""
    pages = _on_its_sheet(letter)
    return Packet(with_pages(guide, [*pages, *range(len(guide.kids))]), len(pages),
                  len(guide.kids), guide.landscape)


def _on_its_sheet(letter: list[pikepdf.Page]) -> list[Item]:
    """A letter's pages, and a blank back if they are odd: the guide starts a sheet."""
    return [*letter, *([None] if len(letter) % 2 else [])]


def _labels_pdf(part: RenderedPart, config: Config) -> bytes:
    with pikepdf.open(io.BytesIO(part.pdf)) as document:
        _plain_metadata(document, config)
        out = io.BytesIO()
        document.save(out, deterministic_id=True)
        return out.getvalue()


def _edition_title(name: str) -> str:
    titles = {
        "letter": "US Letter edition",
        "a4": "A4 edition",
        "large-print": "large-print edition",
        "home-booklet-letter": "print-at-home booklet (US Letter)",
        "home-booklet-a4": "print-at-home booklet (A4)",
        "print-shop": "print-shop edition",
    }
    return titles.get(name, f"{name} edition")


def _plain_metadata(pdf: pikepdf.Pdf, config: Config) -> None:
    pdf.docinfo = pdf.make_indirect(pikepdf.Dictionary(
        Title=f"{config.title} (free copy)", Author=config.author, Creator="booklet",
        Producer="booklet",
    ))
    if "/Metadata" in pdf.Root:
        del pdf.Root["/Metadata"]
    if "/Names" in pdf.Root:  # the letters' anchors would name nothing useful
        del pdf.Root["/Names"]
    pdf.Root.Lang = config.language


def _sheets(packet: Packet, copies: int) -> tuple[int, int]:
    """Pages and sheets of paper for a request, all copies (double-sided printing)."""
    guide_sheets = (packet.guide_pages // 2 if packet.landscape
                    else -(-packet.guide_pages // 2))
    pages = packet.letter_pages + copies * packet.guide_pages
    return pages, packet.letter_pages // 2 + copies * guide_sheets


def _combined(folder: Path, good: list[Request], outcomes: dict[str, Outcome],
              bases: dict[str, Base], letters: dict[str, list[pikepdf.Page]],
              config: Config) -> None:
    """One print job per edition: every letter with its guide, each copy, in request order.

    Like a packet, the job is the guide saved once, with the letters and the
    copies appended (incremental.py): every further copy is a new page object
    over the same content and resources, so a job of a hundred guides holds
    each font and image once. The letters come from their typeset documents
    (or, for requests done in an earlier run, from their packets).
    """
    for edition in dict.fromkeys(r.edition for r in good):
        with ExitStack() as opened:
            requests = [r for r in good if r.edition == edition]
            base = bases.get(edition) or _print_base(folder, requests, outcomes, config, edition,
                                                     opened)
            items: list[Item] = []
            for request in requests:
                letter = letters.get(request.request_id)
                if letter is not None:
                    items += _on_its_sheet(letter)
                else:  # done in an earlier run: the letter (and its back) from its packet
                    outcome = outcomes[request.request_id]
                    packet = opened.enter_context(pikepdf.open(folder / outcome.file))
                    items += list(packet.pages[:outcome.letter_pages])
                items += [Copy(index) for index in range(len(base.kids))] * request.copies
            data = with_pages(base, items)
        write_atomically(folder / f"print-{edition}.pdf", data, mode=PRIVATE_FILE)


def _print_base(folder: Path, requests: list[Request], outcomes: dict[str, Outcome],
                config: Config, edition: str, opened: ExitStack) -> Base:
    """The guide of an edition whose requests were all done before: from output/, or
    else from the first request's packet."""
    path = _existing_guide(config, edition)
    if path is not None:
        return base_of(_guide_only(path, config, opened))
    outcome = outcomes[requests[0].request_id]
    packet = opened.enter_context(pikepdf.open(folder / outcome.file))
    guide = opened.enter_context(pikepdf.new())
    guide.pages.extend(packet.pages[outcome.letter_pages:])
    _plain_metadata(guide, config)
    return base_of(guide)


def _existing_guide(config: Config, edition: str) -> Path | None:
    """The edition's PDF from output/, when there is one (its requests were all done before)."""
    root = config.root
    for path in (root / "output" / "editions" / f"{edition}.pdf", root / "output" / "guide.pdf"):
        if path.is_file() and (path.name != "guide.pdf" or edition == config.default_edition):
            return path
    return None


def _faces_needed(faces: tuple[FontFace, ...], text: str) -> tuple[FontFace, ...]:
    """Upright faces only (letters and labels use no italics), fallbacks only if used."""
    needed = []
    main = tuple(f for f in faces if f.family == FAMILY)
    missing = uncovered(text, main)
    for face in faces:
        if face.style != "normal":
            continue
        if face.family == FAMILY or (missing and uncovered(missing, (face,)) != missing):
            needed.append(face)
    return tuple(needed)


def _batch_text(config: Config, good: list[Request]) -> str:
    """Every character the batch's letters and labels may print."""
    text = "".join(r.name + "".join(r.address) + r.note + r.request_id for r in good)
    for template in ("cover-letter.html", "labels.html"):
        text += (config.styles_dir / "templates" / template).read_text(encoding="utf-8")
    for edition in config.editions:
        text += _edition_title(edition.name)
    return text + config.title + config.author + config.edition + config.copies_text + (
        config.copies_url
    )


def _labels(good: list[Request], config: Config, paper: str | None, templates: Templates,
            wide: set[str]) -> tuple[Part | None, dict[str, str]]:
    """The label sheets in request order (to typeset), and where each request's label is."""
    if not good:
        return None, {}
    default_page = config.edition_named().layout.page.name
    sheet = LABEL_SHEETS[paper or ("a4" if default_page in ("a4", "a5") else "letter")]
    pages: list[list[Label]] = []
    positions = {}
    for index, request in enumerate(good):
        page, slot = divmod(index, sheet.per_sheet)
        row, column = divmod(slot, sheet.columns)
        if slot == 0:
            pages.append([])
        pages[-1].append(Label(request, sheet.left_mm + column * sheet.pitch_x_mm,
                               sheet.top_mm + row * sheet.pitch_y_mm))
        positions[request.request_id] = f"sheet {page + 1}, row {row + 1}, column {column + 1}"
    return templates.labels(pages, sheet, wide), positions


MANIFEST_COLUMNS = ("request_id", "row", "edition", "copies", "pages", "sheets", "paper",
                    "file", "letter_pages", "sha256", "label", "status", "reason")


def _write_manifest(path: Path, outcomes: list[Outcome], durable: bool = True) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for o in outcomes:
        status = "done" if o.status == "skipped" else o.status
        writer.writerow([_cell(v) for v in (o.request_id, o.row, o.edition, o.copies or "",
                                            o.pages or "", o.sheets or "", o.paper, o.file,
                                            o.letter_pages or "", o.sha256, o.label, status,
                                            o.reason)])
    write_atomically(path, out.getvalue().encode("utf-8"), mode=PRIVATE_FILE, durable=durable)


def _kept(previous: dict[str, dict[str, str]], outcomes: dict[str, Outcome]) -> list[Outcome]:
    """Requests done in an earlier run that this run has not reached yet."""
    kept = []
    for request_id, row in previous.items():
        if request_id not in outcomes:
            kept.append(Outcome(
                request_id, int(row.get("row") or 0), "done", row.get("edition", ""),
                int(row.get("copies") or 0), int(row.get("pages") or 0),
                int(row.get("sheets") or 0), row.get("paper", ""), row.get("file", ""),
                int(row.get("letter_pages") or 0), row.get("sha256", ""), row.get("label", ""),
            ))
    return kept


def _cell(value: object) -> str:
    """A spreadsheet must never run a cell as a formula."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _read_manifest(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as stream:
        return {row["request_id"]: row for row in csv.DictReader(stream)
                if row.get("status") == "done"}


def _already_done(request: Request, row: dict[str, str] | None, folder: Path) -> bool:
    """Done in an earlier run, and its file is still there, whole and unchanged."""
    if row is None or row.get("edition") != request.edition or not row.get("letter_pages"):
        return False
    path = folder / f"{request.request_id}.pdf"
    if not path.is_file():
        return False
    return hashlib.sha256(path.read_bytes()).hexdigest() == row.get("sha256")


def summary(report: CopiesReport, root: Path) -> str:
    papers = ", ".join(f"{paper} {sheets} sheets"
                       for paper, sheets in sorted(report.sheets_by_paper.items()))
    return (
        f"copies: {report.count('done')} done, {report.count('rejected')} rejected, "
        f"{report.count('skipped')} skipped (done before); paper: {papers or 'none'}; "
        f"{report.seconds:.1f} s; {report.folder.relative_to(root.resolve())}/"
    )
