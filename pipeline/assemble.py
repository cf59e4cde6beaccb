"""Rendered parts + PageMap -> the book's PDF bytes.

pypdf merges the parts in page-map order with the inserted blank pages,
lays the page furniture (running heads and folios, typeset as one document
of otherwise empty pages) over each page, adds the links between parts that
no single part could resolve, the outline, the page labels and the metadata.
Identical objects (above all the font files every part embeds) are merged
until nothing changes, and pikepdf writes the result once, with object
streams and a deterministic file identifier.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pikepdf
from fontTools import subset
from fontTools.ttLib import TTFont
from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.generic import Fit, RectangleObject

from pipeline.model import (
    PT_PER_MM,
    Anchor,
    BookletError,
    PageMap,
    Placement,
    RenderedPart,
    TocEntry,
)
from pipeline.pdftext import shown_glyphs
from pipeline.tags import (
    TaggedPart,
    as_artifact,
    graft_structure,
    resolve_links,
    scope_table_headers,
)


@dataclass(frozen=True)
class Metadata:
    title: str
    author: str
    subject: str
    keywords: tuple[str, ...]
    language: str
    created: datetime
    creator: str = "booklet"


def assemble(
    page_map: PageMap,
    parts: Mapping[str, RenderedPart],
    furniture: RenderedPart | None,
    outline: Sequence[TocEntry],
    metadata: Metadata,
    roman_pages: int,
    bleed_mm: float = 0.0,
) -> bytes:
    """Merge everything into one PDF; `roman_pages` leading pages get roman labels.

    With a bleed, each page's TrimBox is the page itself and its BleedBox lies
    `bleed_mm` outside it (the media beyond holds the crop marks).
    """
    writer = PdfWriter()
    readers = {name: PdfReader(io.BytesIO(part.pdf)) for name, part in parts.items()}
    model = next(iter(readers.values())).pages[0]
    for placement in page_map.placements:
        # Blank pages sit between placements: fill up to where this part starts.
        while len(writer.pages) < placement.first_page:
            _add_blank_like(writer, model)
        writer.append(readers[placement.part], import_outline=False)
    while len(writer.pages) < len(page_map.pages):
        _add_blank_like(writer, model)
    if len(writer.pages) != len(page_map.pages):
        raise AssertionError("page map and merged pages disagree")

    _check_links(page_map, parts)
    _add_outline(writer, page_map, outline)
    if roman_pages:
        writer.set_page_label(0, roman_pages - 1, style="/r")
    if roman_pages < len(writer.pages):
        writer.set_page_label(roman_pages, len(writer.pages) - 1, style="/D", start=1)
    writer.page_mode = "/UseOutlines"
    if bleed_mm:
        _set_bleed_boxes(writer, bleed_mm)
    _deduplicate(writer)

    merged = io.BytesIO()
    writer.write(merged)
    with pikepdf.open(merged) as pdf:
        if furniture is not None:
            _overlay(pdf, page_map, furniture.pdf)
        graft_structure(
            pdf,
            [TaggedPart(p.first_page, parts[p.part].pdf) for p in page_map.placements],
            metadata.language,
        )
        resolve_links(pdf, page_map.anchors)
        return _finish(pdf, metadata)


def _add_blank_like(writer: PdfWriter, model: PageObject) -> None:
    """A blank page with the same boxes as the typeset pages (media, trim, bleed)."""
    page = writer.add_blank_page(float(model.mediabox.width), float(model.mediabox.height))
    page.mediabox = RectangleObject(model.mediabox)
    if "/TrimBox" in model:
        page.trimbox = RectangleObject(model.trimbox)
        page.bleedbox = RectangleObject(model.bleedbox)


def _set_bleed_boxes(writer: PdfWriter, bleed_mm: float) -> None:
    bleed = bleed_mm * PT_PER_MM
    for page in writer.pages:
        trim = page.trimbox
        x0, y0, x1, y1 = (float(v) for v in (trim.left, trim.bottom, trim.right, trim.top))
        page.bleedbox = RectangleObject((x0 - bleed, y0 - bleed, x1 + bleed, y1 + bleed))


def _overlay(pdf: pikepdf.Pdf, page_map: PageMap, furniture_pdf: bytes) -> None:
    """Lay each furniture page over its book page, as a form marked as an artifact."""
    with pikepdf.open(io.BytesIO(furniture_pdf)) as furniture:
        if len(furniture.pages) != len(page_map.pages):
            raise AssertionError("furniture does not have one page per book page")
        for info in page_map.pages:
            if info.folio is None and info.running_head is None:
                continue
            page = pdf.pages[info.index]
            form = pdf.copy_foreign(furniture.pages[info.index].as_form_xobject())
            # A part's pages share one resource dictionary: one name per page.
            name = page.add_resource(form, pikepdf.Name.XObject,
                                     pikepdf.Name(f"/Furniture{info.index}"))
            page.contents_add(pdf.make_stream(b"q\n"), prepend=True)
            drawn = b"Q\n" + as_artifact(b"q " + str(name).encode() + b" Do Q")
            page.contents_add(pdf.make_stream(drawn))
            page.contents_coalesce()
    _share_font_files(pdf)


def _share_font_files(pdf: pikepdf.Pdf) -> None:
    """One copy of each embedded font program, whichever part or form brought it.

    (The font dictionaries stay apart: each has the widths of its own glyphs.)
    """
    first: dict[bytes, pikepdf.Stream] = {}
    seen: set[tuple[int, int]] = set()

    def visit(resources: pikepdf.Object) -> None:
        if resources is None or (resources.is_indirect and resources.objgen in seen):
            return
        if resources.is_indirect:
            seen.add(resources.objgen)
        for font in resources.get("/Font", {}).values():
            for descendant in font.get("/DescendantFonts", []):
                descriptor = descendant.get("/FontDescriptor")
                stream = descriptor.get("/FontFile2") if descriptor is not None else None
                if isinstance(stream, pikepdf.Stream):
                    key = hashlib.sha256(stream.read_bytes()).digest()
                    descriptor.FontFile2 = first.setdefault(key, stream)
        for xobject in resources.get("/XObject", {}).values():
            if xobject.get("/Subtype") == "/Form":
                visit(xobject.get("/Resources"))

    for page in pdf.pages:
        visit(page.obj.get("/Resources"))


def _check_links(page_map: PageMap, parts: Mapping[str, RenderedPart]) -> None:
    for placement in page_map.placements:
        for link in parts[placement.part].pending_links:
            if link.target not in page_map.anchors:
                raise BookletError.at(
                    placement.part, None, f"link to '#{link.target}', which is nowhere in the book"
                )


def _add_outline(writer: PdfWriter, page_map: PageMap, outline: Sequence[TocEntry]) -> None:
    parent = None
    for entry in outline:
        anchor = page_map.anchors[entry.anchor]
        fit = Fit.xyz(left=anchor.x_pt, top=anchor.y_pt)
        if entry.level <= 1:
            parent = writer.add_outline_item(title=entry.title, page_number=anchor.page, fit=fit)
        else:
            writer.add_outline_item(
                title=entry.title, page_number=anchor.page, parent=parent, fit=fit
            )


def _deduplicate(writer: PdfWriter) -> None:
    """Merge identical objects until the count stops falling (fonts point at each other)."""
    previous = -1
    for _ in range(8):
        writer.compress_identical_objects(remove_duplicates=True, remove_unreferenced=True)
        count = sum(1 for obj in writer._objects if obj is not None)
        if count == previous:
            break
        previous = count


def finish(
    pdf_bytes: bytes, metadata: Metadata, anchors: Sequence[Anchor] = (), trim_fonts: bool = True
) -> bytes:
    """A PDF typeset in one piece (a handout), finished like a book: links, metadata."""
    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
        resolve_links(pdf, {anchor.name: anchor for anchor in anchors})
        scope_table_headers(pdf)
        return _finish(pdf, metadata, trim_fonts)


def _finish(pdf: pikepdf.Pdf, metadata: Metadata, trim_fonts: bool = True) -> bytes:
    """Metadata, language, and one final save with object streams and a fixed ID."""
    stamp = _pdf_date(metadata.created)
    pdf.docinfo = pdf.make_indirect(pikepdf.Dictionary(
        Title=metadata.title,
        Author=metadata.author,
        Subject=metadata.subject,
        Keywords=", ".join(metadata.keywords),
        Creator=metadata.creator,
        Producer=metadata.creator,
        CreationDate=stamp,
        ModDate=stamp,
    ))
    if trim_fonts:
        trim_embedded_fonts(pdf)
    pdf.Root.Lang = metadata.language
    pdf.Root.ViewerPreferences = pikepdf.Dictionary(DisplayDocTitle=True)
    with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as xmp:
        iso = metadata.created.isoformat()
        xmp["dc:title"] = metadata.title
        xmp["dc:creator"] = [metadata.author]
        xmp["dc:description"] = metadata.subject
        xmp["dc:language"] = [metadata.language]
        xmp["pdf:Keywords"] = ", ".join(metadata.keywords)
        xmp["pdf:Producer"] = metadata.creator
        xmp["xmp:CreatorTool"] = metadata.creator
        xmp["xmp:CreateDate"] = iso
        xmp["xmp:ModifyDate"] = iso
        xmp["xmp:MetadataDate"] = iso
        if "/StructTreeRoot" in pdf.Root:
            xmp["pdfuaid:part"] = "1"
    out = io.BytesIO()
    # Every stream deflated once more at the highest level: about 5% smaller for
    # a tenth of a second on a 100-page book. (QPDF's level is process-wide, so it
    # is put back to its default at once.)
    pikepdf.settings.set_flate_compression_level(9)
    try:
        pdf.save(
            out,
            object_stream_mode=pikepdf.ObjectStreamMode.generate,
            deterministic_id=True,
            compress_streams=True,
            recompress_flate=True,
        )
    finally:
        pikepdf.settings.set_flate_compression_level(-1)
    return out.getvalue()


def extract_pages(pdf_path: Path, placement: Placement, first_label: str) -> bytes:
    """One part's pages from a built book, labelled as in the book, metadata kept."""
    reader = PdfReader(pdf_path)
    writer = PdfWriter()
    for index in range(placement.first_page, placement.first_page + placement.page_count):
        writer.add_page(reader.pages[index])
    last = placement.page_count - 1
    if first_label.isdigit():
        writer.set_page_label(0, last, style="/D", start=int(first_label))
    else:
        writer.set_page_label(0, last, style="/r", start=_from_roman(first_label))
    if reader.metadata:
        writer.add_metadata(dict(reader.metadata))
    writer.compress_identical_objects(remove_duplicates=True, remove_unreferenced=True)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _from_roman(label: str) -> int:
    values = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
    total = 0
    for char, following in zip(label, [*label[1:], ""], strict=True):
        value = values[char]
        total += -value if following and values[following] > value else value
    return total


def trim_embedded_fonts(pdf: pikepdf.Pdf) -> None:
    """Cut each embedded font down to the glyphs the merged book really shows.

    Every part embeds the same whole (book-trimmed) font file, so after
    deduplication each face is stored once; this then removes the glyphs no
    page uses, as a one-pass typesetter's subsetting would. Glyph ids are
    kept (fontTools' retain_gids), so content streams stay valid as they are.
    """
    used: dict[tuple[int, int], set[int]] = {}
    files: dict[tuple[int, int], pikepdf.Stream] = {}
    seen_forms: set[tuple[int, int]] = set()

    def font_file(font: pikepdf.Object) -> pikepdf.Stream | None:
        if font.get("/Subtype") != "/Type0":
            return None
        descendant = font.DescendantFonts[0]
        descriptor = descendant.get("/FontDescriptor")
        stream = descriptor.get("/FontFile2") if descriptor is not None else None
        return stream if isinstance(stream, pikepdf.Stream) else None

    def visit(owner: pikepdf.Object, resources: pikepdf.Object) -> None:
        fonts = resources.get("/Font", pikepdf.Dictionary()) if resources is not None else {}
        streams = {str(name): font_file(font) for name, font in fonts.items()}
        for name, glyphs in shown_glyphs(owner).items():
            stream = streams.get(f"/{name}")
            if stream is not None:
                files[stream.objgen] = stream
                used.setdefault(stream.objgen, {0}).update(glyphs)
        xobjects = resources.get("/XObject", {}) if resources is not None else {}
        for xobject in xobjects.values():
            if xobject.get("/Subtype") == "/Form" and xobject.objgen not in seen_forms:
                seen_forms.add(xobject.objgen)
                visit(xobject, xobject.get("/Resources", resources))

    for page in pdf.pages:
        visit(page.obj, page.obj.get("/Resources"))

    for key, stream in files.items():
        font = TTFont(io.BytesIO(stream.read_bytes()), recalcTimestamp=False)
        options = subset.Options()
        options.retain_gids = True
        options.ignore_missing_glyphs = True  # ids past the end stand for missing glyphs
        options.hinting = False
        options.notdef_outline = True
        options.layout_features = []
        options.drop_tables += ["GSUB", "GPOS", "GDEF", "DSIG", "FFTM"]
        options.name_IDs = ["*"]
        subsetter = subset.Subsetter(options)
        subsetter.populate(gids=sorted(used[key]))
        subsetter.subset(font)
        out = io.BytesIO()
        font.save(out)
        data = out.getvalue()
        stream.write(data)
        stream.Length1 = len(data)


def _pdf_date(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("D:%Y%m%d%H%M%SZ")
