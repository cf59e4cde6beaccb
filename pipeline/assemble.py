"""Rendered parts + PageMap -> the book's PDF bytes.

pikepdf copies the parts' pages in page-map order, with the inserted blank
pages, lays the page furniture (running heads and folios, typeset as runs of
otherwise empty pages) over each page as an artifact, grafts the
parts' structure trees into one, adds the links between parts that no single
part could resolve, the outline, the page labels and the metadata. Each
embedded font program and character map is kept once, the fonts are cut down
to the glyphs the book shows, and the result is written once, with object
streams and a deterministic file identifier.
"""

from __future__ import annotations

import hashlib
import io
from array import array
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pikepdf

from pipeline.cache import BlobCache, Memo, code_fingerprint
from pipeline.fonts import cut_font, cutter_version
from pipeline.model import (
    PT_PER_MM,
    Anchor,
    BookletError,
    Metadata,
    PageMap,
    Placement,
    RenderedPart,
    TocEntry,
)
from pipeline.pdftext import contents_digest, shown_glyphs
from pipeline.tags import (
    TaggedPart,
    as_artifact,
    graft_structure,
    resolve_links,
    scope_table_headers,
)


def assemble(
    page_map: PageMap,
    parts: Mapping[str, RenderedPart],
    furniture: Sequence[tuple[int, RenderedPart]],
    outline: Sequence[TocEntry],
    metadata: Metadata,
    roman_pages: int,
    bleed_mm: float = 0.0,
    fonts_cache: BlobCache | None = None,
) -> bytes:
    """Merge everything into one PDF; `roman_pages` leading pages get roman labels.

    `furniture` holds the running heads and folios of runs of pages: (the
    run's first page, its pages typeset). With a bleed, each page's TrimBox
    is the page itself and its BleedBox lies `bleed_mm` outside it (the media
    beyond holds the crop marks).
    """
    _check_links(page_map, parts)
    with ExitStack() as stack:
        sources = {name: stack.enter_context(pikepdf.open(io.BytesIO(part.pdf)))
                   for name, part in parts.items()}
        pdf = stack.enter_context(pikepdf.new())
        model = next(iter(sources.values())).pages[0]
        for placement in page_map.placements:
            # Blank pages sit between placements: fill up to where this part starts.
            while len(pdf.pages) < placement.first_page:
                _add_blank_like(pdf, model)
            pdf.pages.extend(sources[placement.part].pages)
        while len(pdf.pages) < len(page_map.pages):
            _add_blank_like(pdf, model)
        if len(pdf.pages) != len(page_map.pages):
            raise AssertionError("page map and merged pages disagree")
        if furniture and sum(run.page_count for _, run in furniture) != len(pdf.pages):
            raise AssertionError("furniture does not have one page per book page")
        shared = _Shared()
        for first_page, run in furniture:
            _overlay(pdf, page_map, first_page, run.pdf, shared)
        _share_font_files(pdf)
        graft_structure(
            pdf,
            [TaggedPart(p.first_page, sources[p.part]) for p in page_map.placements],
            metadata.language,
        )
        resolve_links(pdf, page_map.anchors)
        _add_outline(pdf, page_map, outline)
        _label_pages(pdf, roman_pages)
        pdf.Root.PageMode = pikepdf.Name.UseOutlines
        if bleed_mm:
            _set_bleed_boxes(pdf, bleed_mm)
        return _finish(pdf, metadata, fonts_cache=fonts_cache)


def _add_blank_like(pdf: pikepdf.Pdf, model: pikepdf.Page) -> None:
    """A blank page with the same boxes as the typeset pages (media, trim, bleed)."""
    page = pdf.add_blank_page(page_size=(float(model.mediabox[2]), float(model.mediabox[3])))
    page.obj.MediaBox = pikepdf.Array(model.mediabox)
    for box in ("/TrimBox", "/BleedBox"):
        if box in model.obj:
            page.obj[box] = pikepdf.Array(model.obj[box])


def _set_bleed_boxes(pdf: pikepdf.Pdf, bleed_mm: float) -> None:
    bleed = bleed_mm * PT_PER_MM
    for page in pdf.pages:
        x0, y0, x1, y1 = (float(v) for v in page.trimbox)
        page.obj.BleedBox = pikepdf.Array([x0 - bleed, y0 - bleed, x1 + bleed, y1 + bleed])


def _label_pages(pdf: pikepdf.Pdf, roman_pages: int) -> None:
    """Roman labels for the front matter, then 1, 2, 3 from the first body page."""
    nums: list[object] = []
    if roman_pages:
        nums += [0, pikepdf.Dictionary(S=pikepdf.Name.r)]
    if roman_pages < len(pdf.pages):
        nums += [roman_pages, pikepdf.Dictionary(S=pikepdf.Name.D, St=1)]
    pdf.Root.PageLabels = pikepdf.Dictionary(Nums=pikepdf.Array(nums))


@dataclass
class _Shared:
    """What the pages' overlays share: streams by their bytes, and each part's
    resources but its forms and images, by the part's resource dictionary."""

    streams: dict[bytes, pikepdf.Object] = field(default_factory=dict)
    resources: dict[tuple[int, int], pikepdf.Dictionary] = field(default_factory=dict)

    def stream(self, pdf: pikepdf.Pdf, data: bytes) -> pikepdf.Object:
        if data not in self.streams:
            self.streams[data] = pdf.make_stream(data)
        return self.streams[data]


def _overlay(pdf: pikepdf.Pdf, page_map: PageMap, first_page: int, furniture_pdf: bytes,
             shared: _Shared) -> None:
    """Lay each furniture page over its book page, as a form marked as an artifact.

    The page's own content streams stay as they are, compressed, between two
    streams every page shares: `q`, and `Q` then the form `/Furniture` drawn
    as an artifact. Each page so gets resources of its own that name its form
    (the rest of a part's resources stay shared, in `shared`).

    Corner to corner: a furniture page's media box starts at 0, 0, a book
    page's may not (with a bleed, WeasyPrint puts 0, 0 at the trim).
    """
    with pikepdf.open(io.BytesIO(furniture_pdf)) as furniture:
        for offset, furniture_page in enumerate(furniture.pages):
            info = page_map.pages[first_page + offset]
            if info.folio is None and info.running_head is None:
                continue
            page = pdf.pages[info.index]
            form = pdf.copy_foreign(furniture_page.as_form_xobject())
            page.obj.Resources = _own_resources(pdf, page.obj.get("/Resources"), form, shared)
            dx = float(page.mediabox[0]) - float(furniture_page.mediabox[0])
            dy = float(page.mediabox[1]) - float(furniture_page.mediabox[1])
            moved = f"1 0 0 1 {dx:.4f} {dy:.4f} cm ".encode() if dx or dy else b""
            drawn = b"Q\n" + as_artifact(b"q " + moved + b"/Furniture Do Q")
            contents = page.obj.get("/Contents")
            streams = list(contents) if isinstance(contents, pikepdf.Array) else (
                [contents] if contents is not None else [])
            page.obj.Contents = pikepdf.Array(
                [shared.stream(pdf, b"q\n"), *streams, shared.stream(pdf, drawn)])


def _own_resources(pdf: pikepdf.Pdf, resources: pikepdf.Object | None, form: pikepdf.Object,
                   shared: _Shared) -> pikepdf.Dictionary:
    """A page's resources with `form` as /Furniture: a dictionary of its own, whose
    entries but /XObject are the part's, made indirect once and shared."""
    if resources is None:
        resources = pikepdf.Dictionary()
    key = resources.objgen if resources.is_indirect else None
    entries = shared.resources.get(key) if key is not None else None
    if entries is None:
        entries = pikepdf.Dictionary({
            name: value if value.is_indirect or not isinstance(value, pikepdf.Dictionary)
            else pdf.make_indirect(value)
            for name, value in resources.items() if name != "/XObject"})
        if key is not None:
            shared.resources[key] = entries
    own = pikepdf.Dictionary(dict(entries.items()))
    xobjects = resources.get("/XObject")
    own.XObject = pikepdf.Dictionary(
        {**(dict(xobjects.items()) if xobjects is not None else {}), "/Furniture": form})
    return own


def _share_font_files(pdf: pikepdf.Pdf) -> None:
    """One copy of each embedded font program and character map, whichever part brought it.

    (The font dictionaries stay apart: each has the widths of its own glyphs.)
    """
    first: dict[bytes, pikepdf.Stream] = {}
    seen: set[tuple[int, int]] = set()

    def shared(stream: pikepdf.Stream) -> pikepdf.Stream:
        key = hashlib.sha256(stream.read_raw_bytes()).digest()
        return first.setdefault(key + str(stream.get("/Filter")).encode(), stream)

    def visit(resources: pikepdf.Object) -> None:
        if resources is None or (resources.is_indirect and resources.objgen in seen):
            return
        if resources.is_indirect:
            seen.add(resources.objgen)
        for font in resources.get("/Font", {}).values():
            if isinstance(font.get("/ToUnicode"), pikepdf.Stream):
                font.ToUnicode = shared(font.ToUnicode)
            for descendant in font.get("/DescendantFonts", []):
                descriptor = descendant.get("/FontDescriptor")
                stream = descriptor.get("/FontFile2") if descriptor is not None else None
                if isinstance(stream, pikepdf.Stream):
                    descriptor.FontFile2 = shared(stream)
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


def _add_outline(pdf: pikepdf.Pdf, page_map: PageMap, outline: Sequence[TocEntry]) -> None:
    with pdf.open_outline() as tree:
        parent = None
        for entry in outline:
            anchor = page_map.anchors[entry.anchor]
            item = pikepdf.OutlineItem(entry.title, anchor.page, pikepdf.PageLocation.XYZ,
                                       left=anchor.x_pt, top=anchor.y_pt)
            if entry.level <= 1 or parent is None:
                tree.root.append(item)
                parent = item
            else:
                parent.children.append(item)


def finish(
    pdf_bytes: bytes, metadata: Metadata, anchors: Sequence[Anchor] = (), trim_fonts: bool = True
) -> bytes:
    """A PDF typeset in one piece (a handout), finished like a book: links, metadata."""
    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
        resolve_links(pdf, {anchor.name: anchor for anchor in anchors})
        scope_table_headers(pdf)
        return _finish(pdf, metadata, trim_fonts)


def _finish(pdf: pikepdf.Pdf, metadata: Metadata, trim_fonts: bool = True,
            fonts_cache: BlobCache | None = None) -> bytes:
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
        trim_embedded_fonts(pdf, fonts_cache)
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
    # What is not compressed yet (object streams, cut fonts, furniture) is deflated
    # at the highest level. The parts' streams, deflated by WeasyPrint, are kept as
    # they are: deflating them again would save 0.2% of a 126-page book's size for
    # 0.14 s. (QPDF's level is process-wide, so it is put back to its default at once.)
    pikepdf.settings.set_flate_compression_level(9)
    try:
        pdf.save(
            out,
            object_stream_mode=pikepdf.ObjectStreamMode.generate,
            deterministic_id=True,
            compress_streams=True,
            recompress_flate=False,
        )
    finally:
        pikepdf.settings.set_flate_compression_level(-1)
    return out.getvalue()


def extract_pages(pdf_path: Path, placement: Placement, first_label: str) -> bytes:
    """One part's pages from a built book, labelled as in the book, metadata kept."""
    from pypdf import PdfReader, PdfWriter  # (only here: 0.1 s and 9 MB to load)

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


def trim_embedded_fonts(pdf: pikepdf.Pdf, cache: BlobCache | None = None) -> None:
    """Cut each embedded font down to the glyphs the merged book really shows.

    Every part embeds the same whole (book-trimmed) font file, so after
    deduplication each face is stored once; this then removes the glyphs no
    page uses, as a one-pass typesetter's subsetting would. Glyph ids are
    kept (fonts.cut_font's same_glyph_ids), so content streams stay valid as they are.
    """
    used: dict[tuple[int, int], set[int]] = {}
    files: dict[tuple[int, int], pikepdf.Stream] = {}
    seen_forms: set[tuple[int, int]] = set()
    # What each content shows, by its bytes, as the last build found it: an
    # edit reads again only the pages and forms it changed.
    memo = Memo.of(cache, f"shown-glyphs-{code_fingerprint()[:16]}")

    def shown(owner: pikepdf.Object) -> dict[str, array[int]]:
        return memo.answer(contents_digest(owner), lambda: shown_glyphs(owner))

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
        for name, glyphs in shown(owner).items():
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
    memo.keep(cache)

    for key, stream in files.items():
        original = stream.read_bytes()
        glyphs = sorted(used[key])
        digest = hashlib.sha256(original)
        digest.update(array("I", glyphs).tobytes())
        digest.update(cutter_version().encode())
        name = digest.hexdigest()
        data = cache.get(name) if cache is not None else None
        if data is None:
            data = _subset(original, glyphs)
            if cache is not None:
                cache.put(name, data)
        stream.write(data)
        stream.Length1 = len(data)


def _subset(font_file: bytes, glyphs: list[int]) -> bytes:
    # (An id past the end stands for a missing glyph, which the preflight reports.)
    return cut_font(font_file, glyphs=glyphs, layout=False, same_glyph_ids=True)


def _pdf_date(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("D:%Y%m%d%H%M%SZ")
