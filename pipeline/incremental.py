"""Pages put in front of a saved PDF by appending to it (an incremental update).

A batch's packets are each a cover letter followed by the same guide. Saving
the guide again for every packet (qpdf writes and compresses every object of
it) took 12 ms a packet. Instead the guide is saved once (`Base`), and each
packet is those bytes followed by an incremental update (ISO 32000-1, 7.5.6):
the letter's objects, the page tree's root rewritten with the letter's pages
in front, and a cross-reference stream that points back to the guide's. That
takes about 1 ms. Every PDF reader reads such files: it is how an editor
saves a change.

Only what the letter's pages use is written: the walk from its pages never
follows /Parent, and a reference to any other page of its document (say, a
link to another person's letter) is written as null. Nothing of one letter
is in another's packet.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pikepdf

INHERITED = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")
REFERENCE = re.compile(rb"\d+\s+\d+\s+R")
START_XREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*$")

ObjGen = tuple[int, int]


@dataclass(frozen=True)
class Base:
    """A saved PDF with a flat page tree, and what an update to it refers to."""

    data: bytes
    size: int  # the first object number free
    root: int  # the catalog's object number
    info: int | None
    pages: int  # the page tree root's object number
    kids: tuple[int, ...]  # its pages' object numbers, in order
    first_id: bytes
    start_xref: int
    landscape: bool  # its first page is wider than tall


def base_of(pdf: pikepdf.Pdf) -> Base:
    """Save `pdf` (object streams, a deterministic ID) as the base of updates."""
    out = io.BytesIO()
    pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate,
             deterministic_id=True, compress_streams=True)
    data = out.getvalue()
    found = START_XREF.search(data[-64:])
    if found is None:
        raise ValueError("no startxref at the end of the saved PDF")
    with pikepdf.open(io.BytesIO(data)) as saved:
        tree = saved.Root.Pages
        kids = list(tree.Kids)
        if any(kid.get("/Type") != pikepdf.Name.Page for kid in kids):
            raise ValueError("the page tree is not flat")
        info = saved.trailer.get("/Info")
        box = [float(value) for value in saved.pages[0].mediabox] if kids else [0, 0, 0, 0]
        return Base(
            data=data,
            size=int(saved.trailer.Size),
            root=saved.Root.objgen[0],
            info=info.objgen[0] if info is not None else None,
            pages=tree.objgen[0],
            kids=tuple(kid.objgen[0] for kid in kids),
            first_id=bytes(saved.trailer.ID[0]),
            start_xref=int(found.group(1)),
            landscape=box[2] - box[0] > box[3] - box[1],
        )


def with_pages_in_front(base: Base, pages: list[pikepdf.Page], blank_after: bool) -> bytes:
    """`base` with `pages` (of another document) in front, and after them a blank
    page the size of the first if `blank_after`."""
    ours = {page.obj.objgen for page in pages}
    numbers: dict[ObjGen, int] = {}
    queue: list[pikepdf.Object] = []

    def reference(value: pikepdf.Object) -> bytes:
        """An indirect object's reference in the update (numbering, and queueing, it)."""
        if value.objgen not in numbers:
            if (isinstance(value, pikepdf.Dictionary) and value.objgen not in ours
                    and value.get("/Type") == pikepdf.Name.Page):
                return b"null"  # another page of the letters' document
            numbers[value.objgen] = base.size + len(numbers)
            queue.append(value)
        return b"%d 0 R" % numbers[value.objgen]

    for page in pages:
        reference(page.obj)
    update = io.BytesIO()
    start = len(base.data) + (0 if base.data.endswith(b"\n") else 1)
    offsets: dict[int, int] = {}

    def put(number: int, text: bytes) -> None:
        offsets[number] = start + update.tell()
        update.write(b"%d 0 obj\n%s\nendobj\n" % (number, text))

    done = 0
    while done < len(queue):  # writing an object queues those it refers to
        obj = queue[done]
        done += 1
        number = numbers[obj.objgen]
        if isinstance(obj, pikepdf.Stream):
            raw = obj.read_raw_bytes()
            entries = dict(obj.stream_dict.items())
            entries["/Length"] = len(raw)
            put(number, _dictionary(entries, reference) + b"\nstream\n" + raw
                + b"\nendstream")
        elif obj.objgen in ours:
            entries = dict(obj.items())
            for key in INHERITED:
                if key not in entries and (found := _inherited(obj, key)) is not None:
                    entries[key] = found
            entries["/Parent"] = _Number(base.pages)
            put(number, _dictionary(entries, reference))
        else:
            put(number, _direct(obj, reference))
    front = [numbers[page.obj.objgen] for page in pages]
    if blank_after:
        front.append(base.size + len(numbers))
        box = pages[0].mediabox
        put(front[-1], b"<< /Type /Page /Parent %d 0 R /MediaBox [ 0 0 %s %s ]"
            b" /Resources << >> >>" % (base.pages, _direct(box[2], reference),
                                       _direct(box[3], reference)))
    put(base.pages, b"<< /Type /Pages /Count %d /Kids [ %s ] >>" % (
        len(front) + len(base.kids),
        b" ".join(b"%d 0 R" % kid for kid in [*front, *base.kids])))
    written = update.getvalue()
    xref = max(offsets) + 1
    offsets[xref] = start + len(written)
    index: list[int] = []
    rows = bytearray()
    for number in sorted(offsets):
        if index and index[-2] + index[-1] == number:
            index[-1] += 1
        else:
            index += [number, 1]
        rows += b"\x01" + offsets[number].to_bytes(4, "big") + b"\x00"
    second_id = hashlib.md5(written, usedforsecurity=False).hexdigest().encode()
    info = b" /Info %d 0 R" % base.info if base.info is not None else b""
    trailer = (
        b"<< /Type /XRef /Size %d /Root %d 0 R%s /ID [ <%s> <%s> ] /Prev %d /W [ 1 4 1 ]"
        b" /Index [ %s ] /Length %d >>" % (
            xref + 1, base.root, info, base.first_id.hex().encode(), second_id,
            base.start_xref, b" ".join(b"%d" % n for n in index), len(rows))
    )
    return b"".join([
        base.data, b"" if base.data.endswith(b"\n") else b"\n", written,
        b"%d 0 obj\n%s\nstream\n%s\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n"
        % (xref, trailer, bytes(rows), offsets[xref]),
    ])


@dataclass(frozen=True)
class _Number:
    """A reference to an object of the base, by its number."""

    number: int


Refer = Callable[[pikepdf.Object], bytes]


def _dictionary(entries: dict[str, object], refer: Refer) -> bytes:
    return b"<< " + b" ".join(
        pikepdf.Name(key).unparse() + b" " + _value(value, refer)
        for key, value in entries.items()
    ) + b" >>"


def _value(value: object, refer: Refer) -> bytes:
    """A value inside an object: a reference if it is an indirect object."""
    if isinstance(value, pikepdf.Object) and value.is_indirect:
        return refer(value)
    return _direct(value, refer)


def _direct(value: object, refer: Refer) -> bytes:
    """A value written out (its content, even if it is an indirect object)."""
    if isinstance(value, _Number):
        return b"%d 0 R" % value.number
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, Decimal):
        return format(value, "f").encode()
    if value is None:
        return b"null"
    assert isinstance(value, pikepdf.Object)
    if isinstance(value, pikepdf.Dictionary | pikepdf.Array):
        # Written as it is when it refers to nothing (a font's widths, say): any
        # reference in it would be written "n g R" (and a string that looks like
        # one only sends it the long way).
        text = value.unparse(resolved=True)
        if not REFERENCE.search(text):
            return text
    if isinstance(value, pikepdf.Dictionary):
        return _dictionary(dict(value.items()), refer)
    if isinstance(value, pikepdf.Array):
        return b"[ " + b" ".join(_value(item, refer) for item in value) + b" ]"
    return value.unparse()  # a name, a string, a number


def _inherited(page: pikepdf.Object, key: str) -> object | None:
    """A page's attribute set on a node above it in its page tree, if any."""
    node = page.get("/Parent")
    while node is not None:
        if key in node:
            return node[key]
        node = node.get("/Parent")
    return None
