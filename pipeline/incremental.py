"""Pages put in front of a saved PDF, or among its pages, by appending to it.

A batch's packets are each a cover letter followed by the same guide, and
its print files are letters and copies of that guide. Saving the guide
again for every packet (qpdf writes and compresses every object of it) took
12 ms a packet, and the print file of a hundred guides 0.6 s. Instead the
guide is saved once (`Base`), and each file is those bytes followed by an
incremental update (ISO 32000-1, 7.5.6): the letters' objects, new page
objects over the guide's pages for further copies (`Copy`), the page tree's
root rewritten, the objects other than streams packed in compressed object
streams, and a cross-reference stream that points back to the guide's. A
packet takes about 2 ms, a print file of a hundred guides 0.2 s. Every PDF
reader reads such files: it is how an editor saves a change.

Only what the letters' pages use is written: the walk from a page never
follows /Parent, and a reference to any other page of its document (say, a
link to another person's letter) is written as null. Nothing of one letter
is in another's packet.
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

import pikepdf

INHERITED = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")
REFERENCE = re.compile(rb"\d+\s+\d+\s+R")
PER_OBJECT_STREAM = 100  # objects, as qpdf writes them
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
    # Each page's entries but /Parent and /Annots, written out: a new page over
    # the same content and resources is this and its /Parent (`Copy`).
    copies: tuple[bytes, ...]


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
            copies=tuple(
                pikepdf.Dictionary({key: kid[key] for key in kid
                                    if key not in ("/Parent", "/Annots")}).unparse()[:-2]
                for kid in kids
            ),
        )


@dataclass(frozen=True)
class Copy:
    """A new page over the content and resources of the base's page `index`, for
    print (its links left out)."""

    index: int


# A page of another document; a new copy of a base page; the base's page
# `index` itself; or (None) a blank page the size of the last page of another
# document before it.
Item = pikepdf.Page | Copy | int | None


def with_pages(base: Base, items: Sequence[Item]) -> bytes:
    """`base` whose pages are now `items`, by an update appended to it.

    The update's objects other than streams go in compressed object streams
    (a print file of a hundred guides is mostly page objects).
    """
    # Objects by their document (the pages may come from several) and number.
    owners: list[pikepdf.Object] = []  # an object of each document

    def document(page: pikepdf.Page) -> int:
        for index, known in enumerate(owners):
            if known.same_owner_as(page.obj):
                return index
        owners.append(page.obj)
        return len(owners) - 1

    ours = {(document(item), item.obj.objgen) for item in items
            if isinstance(item, pikepdf.Page)}
    numbers: dict[tuple[int, ObjGen], int] = {}
    queue: list[tuple[int, pikepdf.Object]] = []
    count = itertools.count(base.size)

    def reference(owner: int, value: pikepdf.Object) -> bytes:
        """An indirect object's reference in the update (numbering, and queueing, it)."""
        key = (owner, value.objgen)
        if key not in numbers:
            if (isinstance(value, pikepdf.Dictionary) and key not in ours
                    and value.get("/Type") == pikepdf.Name.Page):
                return b"null"  # another page of the letters' document
            numbers[key] = next(count)
            queue.append((owner, value))
        return b"%d 0 R" % numbers[key]

    plain: list[tuple[int, bytes]] = []  # numbered objects, for the object streams
    streams: list[tuple[int, bytes]] = []
    kids: list[int] = []
    box = None
    for item in items:
        if isinstance(item, pikepdf.Page):
            owner = document(item)
            reference(owner, item.obj)
            kids.append(numbers[(owner, item.obj.objgen)])
            box = item.mediabox
        elif isinstance(item, Copy):
            kids.append(next(count))
            plain.append((kids[-1], base.copies[item.index] + b" /Parent %d 0 R >>"
                          % base.pages))
        elif item is None:
            if box is None:
                raise ValueError("a blank page with no page of another document before it")
            kids.append(next(count))
            plain.append((kids[-1], b"<< /Type /Page /Parent %d 0 R /MediaBox [ 0 0 %s %s ]"
                          b" /Resources << >> >>" % (base.pages, _direct(box[2], _no_refs),
                                                     _direct(box[3], _no_refs))))
        else:
            kids.append(base.kids[item])
    done = 0
    while done < len(queue):  # writing an object queues those it refers to
        owner, obj = queue[done]
        done += 1
        number = numbers[(owner, obj.objgen)]
        refer = functools.partial(reference, owner)
        if isinstance(obj, pikepdf.Stream):
            raw = obj.read_raw_bytes()
            entries = dict(obj.stream_dict.items())
            entries["/Length"] = len(raw)
            streams.append((number, _dictionary(entries, refer) + b"\nstream\n" + raw
                            + b"\nendstream"))
        elif (owner, obj.objgen) in ours:
            entries = dict(obj.items())
            for key in INHERITED:
                if key not in entries and (found := _inherited(obj, key)) is not None:
                    entries[key] = found
            entries["/Parent"] = _Number(base.pages)
            plain.append((number, _dictionary(entries, refer)))
        else:
            plain.append((number, _direct(obj, refer)))
    plain.append((base.pages, b"<< /Type /Pages /Count %d /Kids [ %s ] >>" % (
        len(kids), b" ".join(b"%d 0 R" % kid for kid in kids))))
    return _appended(base, plain, streams, count)


def _no_refs(value: pikepdf.Object) -> bytes:
    raise ValueError("a page size that refers to another object")


def _appended(base: Base, plain: list[tuple[int, bytes]], streams: list[tuple[int, bytes]],
              count: Iterator[int]) -> bytes:
    """The update: the streams, the other objects in object streams, and a
    cross-reference stream pointing back to the base's."""
    glue = b"" if base.data.endswith(b"\n") else b"\n"
    start = len(base.data) + len(glue)
    update = io.BytesIO()
    # Where each object is: (1, offset, 0) written as it is; (2, object stream, index).
    where: dict[int, tuple[int, int, int]] = {}

    def put(number: int, text: bytes) -> None:
        where[number] = (1, start + update.tell(), 0)
        update.write(b"%d 0 obj\n%s\nendobj\n" % (number, text))

    for number, text in streams:
        put(number, text)
    for first in range(0, len(plain), PER_OBJECT_STREAM):
        chunk = plain[first:first + PER_OBJECT_STREAM]
        holder = next(count)
        header, body = [], bytearray()
        for index, (number, text) in enumerate(chunk):
            header.append(b"%d %d" % (number, len(body)))
            body += text + b"\n"
            where[number] = (2, holder, index)
        head = b" ".join(header) + b"\n"
        data = zlib.compress(head + bytes(body))
        put(holder, b"<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\n"
            b"stream\n%s\nendstream" % (len(chunk), len(head), len(data), data))
    written = update.getvalue()
    xref = next(count)
    where[xref] = (1, start + len(written), 0)
    index: list[int] = []
    rows = bytearray()
    for number in sorted(where):
        if index and index[-2] + index[-1] == number:
            index[-1] += 1
        else:
            index += [number, 1]
        kind, field, other = where[number]
        rows += bytes([kind]) + field.to_bytes(4, "big") + other.to_bytes(2, "big")
    rows_data = zlib.compress(bytes(rows))
    second_id = hashlib.md5(written, usedforsecurity=False).hexdigest().encode()
    info = b" /Info %d 0 R" % base.info if base.info is not None else b""
    trailer = (
        b"<< /Type /XRef /Size %d /Root %d 0 R%s /ID [ <%s> <%s> ] /Prev %d /W [ 1 4 2 ]"
        b" /Index [ %s ] /Filter /FlateDecode /Length %d >>" % (
            xref + 1, base.root, info, base.first_id.hex().encode(), second_id,
            base.start_xref, b" ".join(b"%d" % n for n in index), len(rows_data))
    )
    return b"".join([
        base.data, glue, written,
        b"%d 0 obj\n%s\nstream\n%s\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n"
        % (xref, trailer, rows_data, where[xref][1]),
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


def as_written(value: pikepdf.Object) -> bytes | None:
    """A dictionary's or an array's text, when it refers to no other object (a
    font's widths, a box); None when it may. A reference in it would be written
    "n g R" (and a string that only looks like one sends it the long way)."""
    text = value.unparse(resolved=True)
    return None if REFERENCE.search(text) else text


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
        text = as_written(value)
        if text is not None:
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
