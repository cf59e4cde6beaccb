"""Tagged parts -> one tagged book: structure trees and links through the merge.

WeasyPrint tags each part it typesets (a structure tree of H1-H3, P, L/LI,
Table/TH/TD, Figure with /Alt, Link), but a merge keeps the pages and drops
the trees. `graft_structure` puts every part's structure elements, in page
order, under one Document element of the merged book: each element's /Pg
points at the merged page, each page's /StructParents and each annotation's
/StructParent are shifted past the earlier parts', and the parent tree maps
them back. Page furniture laid over the pages is marked as an artifact
(`as_artifact`), so every mark on a page is either tagged or an artifact.

Links between parts cannot be resolved inside one part, so the typesetter
writes each internal link as a placeholder URI that carries its target and its
text (`model.placeholder`); `resolve_links` turns them into explicit destinations
once the book's page map is known, keeping the annotation (and so its tag).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import pikepdf

from pipeline.model import PLACEHOLDER, Anchor, placeholder_parts


def as_artifact(content: bytes) -> bytes:
    """A content stream whose every mark is an artifact (running heads, folios)."""
    return b"/Artifact BMC\n" + content + b"\nEMC\n"


def resolve_links(pdf: pikepdf.Pdf, anchors: Mapping[str, Anchor]) -> None:
    """Placeholder links -> links to a place in this PDF, described by their text.

    Every target is known: the build checked each link against the book's
    anchors, and a handout keeps only links to its own.
    """
    for page in pdf.pages:
        annots = page.obj.get("/Annots")
        if annots is None:
            continue
        for annot in annots:
            uri = str(annot.get("/A", {}).get("/URI", "")) if "/A" in annot else ""
            if not uri.startswith(PLACEHOLDER):
                continue
            target, text = placeholder_parts(uri)
            anchor = anchors[target]
            del annot["/A"]
            destination = pdf.pages[anchor.page].obj
            annot.Dest = pikepdf.Array([destination, pikepdf.Name.XYZ, anchor.x_pt,
                                        anchor.y_pt, 0])
            annot.Contents = pikepdf.String(text or "Link to another part of the guide")


@dataclass(frozen=True)
class TaggedPart:
    first_page: int  # where its first page is in the merged PDF
    pdf: pikepdf.Pdf  # the part, open, whose pages were copied into the merged PDF


def graft_structure(pdf: pikepdf.Pdf, parts: Sequence[TaggedPart], language: str) -> bool:
    """One structure tree for the merged `pdf`, from the trees of the parts it was made of.

    The parts' pages must have been copied into `pdf` from the same open
    `TaggedPart.pdf`: QPDF keeps one map of copied objects per source, so the
    elements' /Pg and OBJR references land on the merged pages and annotations
    rather than on new copies. Returns False (and changes nothing) when no
    part is tagged.
    """
    document = pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.StructElem, S=pikepdf.Name.Document, K=pikepdf.Array(),
        Lang=pikepdf.String(language),
    ))
    nums = pikepdf.Array()
    offset = 0
    tagged = False
    for part in parts:
        tree = part.pdf.Root.get("/StructTreeRoot")
        if tree is None:
            continue
        tagged = True
        offset = _graft_part(pdf, part.pdf, tree, part.first_page, document, nums, offset)
    if not tagged:
        return False
    root = pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.StructTreeRoot,
        K=pikepdf.Array([document]),
        ParentTree=pdf.make_indirect(pikepdf.Dictionary(Nums=nums)),
        ParentTreeNextKey=offset,
    ))
    document.P = root
    pdf.Root.StructTreeRoot = root
    pdf.Root.MarkInfo = pikepdf.Dictionary(Marked=True)
    scope_table_headers(pdf)
    return True


def _graft_part(
    pdf: pikepdf.Pdf,
    source: pikepdf.Pdf,
    tree: pikepdf.Dictionary,
    first_page: int,
    document: pikepdf.Dictionary,
    nums: pikepdf.Array,
    offset: int,
) -> int:
    tops = [kid for doc in _kids(tree) for kid in _kids(doc)]
    for top in tops:  # not the part's own root: it is replaced by `document`
        del top["/P"]
    entries = list(_number_tree(tree.get("/ParentTree")))
    copied = pdf.copy_foreign(source.make_indirect(pikepdf.Array([
        pikepdf.Array(tops), pikepdf.Array([value for _, value in entries]),
    ])))
    new_tops, values = copied[0], copied[1]
    for top in new_tops:
        top.P = document
        document.K.append(top)
    for index, page in enumerate(source.pages):
        merged = pdf.pages[first_page + index].obj
        if "/StructParents" in page.obj:
            merged.StructParents = int(page.obj.StructParents) + offset
            merged.Tabs = pikepdf.Name.S
        for position, annot in enumerate(page.obj.get("/Annots", [])):
            if "/StructParent" in annot:
                merged.Annots[position].StructParent = int(annot.StructParent) + offset
    for (key, _), value in zip(entries, values, strict=True):
        nums.append(key + offset)
        nums.append(value)
    return offset + max((key for key, _ in entries), default=-1) + 1


def _kids(element: pikepdf.Object) -> list[pikepdf.Object]:
    kids = element.get("/K")
    if kids is None:
        return []
    if isinstance(kids, pikepdf.Array):
        return [kid for kid in kids if isinstance(kid, pikepdf.Dictionary)]
    return [kids] if isinstance(kids, pikepdf.Dictionary) else []


def _walk(elements: list[pikepdf.Object]) -> Iterator[pikepdf.Object]:
    seen: set[tuple[int, int]] = set()
    stack = list(elements)
    while stack:
        element = stack.pop()
        if element.is_indirect:
            if element.objgen in seen:
                continue
            seen.add(element.objgen)
        yield element
        stack.extend(_kids(element))


def _number_tree(node: pikepdf.Object | None) -> Iterator[tuple[int, pikepdf.Object]]:
    if node is None:
        return
    numbers = node.get("/Nums", [])
    for index in range(0, len(numbers), 2):
        yield int(numbers[index]), numbers[index + 1]
    for kid in node.get("/Kids", []):
        yield from _number_tree(kid)


def scope_table_headers(pdf: pikepdf.Pdf) -> None:
    """Say that each table header cell heads its column (Markdown has no row headers).

    WeasyPrint links each data cell to its headers (/Headers); a checker, or an
    older screen reader, may look for /Scope on the header cell instead. The
    walk does not look inside elements that hold text (paragraphs, headings,
    spans, links...: most of a book's elements), which never hold a table.
    """
    tree = pdf.Root.get("/StructTreeRoot")
    stack = _kids(tree) if tree is not None else []
    while stack:
        element = stack.pop()
        kind = element.get("/S")
        if kind == "/TH":
            if "/Scope" not in element.get("/A", {}):
                attributes = element.get("/A", pikepdf.Dictionary(O=pikepdf.Name.Table))
                attributes.Scope = pikepdf.Name.Column
                element.A = attributes
        elif kind not in TEXT_ELEMENTS:
            stack.extend(_kids(element))


# Structure elements that hold text and never a table.
TEXT_ELEMENTS = frozenset({"/P", "/H1", "/H2", "/H3", "/H4", "/H5", "/H6", "/Span", "/Link",
                           "/Lbl", "/Code", "/Quote", "/Note", "/Reference", "/Figure",
                           "/Caption", "/BibEntry", "/Formula"})


# --- reading a tagged PDF back (for preflight and tests) ----------------------------

PAINTING = frozenset({"Tj", "TJ", "'", '"', "Do", "sh", "f", "F", "f*", "B", "B*", "b", "b*",
                      "S", "s", "BI", "INLINE IMAGE"})


@dataclass(frozen=True)
class TagProblem:
    page: int | None  # 0-based page index, or None for the whole document
    message: str


def structure_elements(pdf: pikepdf.Pdf) -> list[pikepdf.Object]:
    """The structure elements in reading order (depth first), without the root."""
    tree = pdf.Root.get("/StructTreeRoot")
    if tree is None:
        return []
    ordered: list[pikepdf.Object] = []
    stack = list(reversed(_kids(tree)))
    while stack:
        element = stack.pop()
        if element.get("/Type") in ("/OBJR", "/MCR"):
            continue
        ordered.append(element)
        stack.extend(reversed(_kids(element)))
    return ordered


def accessibility_problems(
    pdf: pikepdf.Pdf, count_marks: Callable[[pikepdf.Page], int] | None = None
) -> list[TagProblem]:
    """What keeps this PDF from being read aloud properly, as far as a program can tell.

    A structure tree, marked as tagged; a language and a title shown in the title
    bar; every mark on every page tagged or an artifact; heading levels that
    never skip; alternative text on every figure; a description on every link.
    `count_marks` counts a page's marks that are neither (untagged_marks; the
    preflight passes one that remembers pages it counted before).
    """
    count = count_marks or untagged_marks
    problems: list[TagProblem] = []
    if "/StructTreeRoot" not in pdf.Root:
        return [TagProblem(None, "the PDF is not tagged (no structure tree)")]
    if not bool(pdf.Root.get("/MarkInfo", {}).get("/Marked", False)):
        problems.append(TagProblem(None, "the PDF does not say it is tagged (MarkInfo)"))
    if not str(pdf.Root.get("/Lang", "")).strip():
        problems.append(TagProblem(None, "the PDF has no language (/Lang)"))
    if not bool(pdf.Root.get("/ViewerPreferences", {}).get("/DisplayDocTitle", False)):
        problems.append(TagProblem(None, "viewers are not asked to show the title"))
    pages = {page.objgen: index for index, page in enumerate(pdf.pages)}
    previous = 0
    for element in structure_elements(pdf):
        kind = str(element.get("/S", ""))
        page = pages.get(element.Pg.objgen) if "/Pg" in element else None
        if kind in ("/H1", "/H2", "/H3", "/H4", "/H5", "/H6"):
            level = int(kind[2])
            if level > previous + 1:
                problems.append(TagProblem(page, f"heading level {level} follows level "
                                                 f"{previous} (a level is skipped)"))
            previous = level
        elif kind == "/Figure" and not str(element.get("/Alt", "")).strip():
            problems.append(TagProblem(page, "a figure has no alternative text"))
    for index, page in enumerate(pdf.pages):
        for annot in page.obj.get("/Annots", []):
            if annot.get("/Subtype") == "/Link" and not str(annot.get("/Contents", "")).strip():
                problems.append(TagProblem(index, "a link has no description (/Contents)"))
        untagged = count(page)
        if untagged:
            problems.append(TagProblem(index, f"{untagged} marks are neither tagged nor "
                                              "artifacts"))
    return problems


def untagged_marks(page: pikepdf.Page) -> int:
    """Painting operators outside any marked content with an MCID or an /Artifact tag.

    Read from the content's bytes (`_untagged_marks_read`, four times faster)
    where the content holds only what that reads, as WeasyPrint's does;
    otherwise from the content parsed into objects by pikepdf.
    """
    contents = page.obj.get("/Contents")
    streams = contents if isinstance(contents, pikepdf.Array) else [contents]
    data = b"\n".join(s.read_bytes() for s in streams if isinstance(s, pikepdf.Stream))
    read = _untagged_marks_read(data)
    return _untagged_marks_parsed(page) if read is None else read


def _untagged_marks_parsed(page: pikepdf.Page) -> int:
    stack: list[bool] = []  # for each open marked-content sequence: does it cover its marks?
    count = 0
    wanted = " ".join(sorted(PAINTING - {"INLINE IMAGE"} | {"BDC", "BMC", "EMC"}))
    for operands, operator in pikepdf.parse_content_stream(page, wanted):
        op = str(operator)
        if op in ("BDC", "BMC"):
            tag = str(operands[0])
            covers = tag == "/Artifact" or (
                op == "BDC" and isinstance(operands[1], pikepdf.Dictionary)
                and "/MCID" in operands[1]
            )
            stack.append(covers or (bool(stack) and stack[-1]))
        elif op == "EMC":
            if stack:
                stack.pop()
        elif op in PAINTING and not (stack and stack[-1]):
            count += 1
    return count


# A content stream as _untagged_marks_read reads it: each operator (group 2) with
# its operands before it (group 1): an array without arrays in it (a TJ's, most
# of a page's bytes), a hex string, a number, a name, a bracket of a dictionary
# or of an array. (Possessive: nothing is tried again.)
_REGULAR = rb"[^\s/\[\]<>(){}%]"
_OPERAND = (rb"\[[^\[\]]*+\]|<[0-9A-Fa-f\s]*+>|[-+.0-9]" + _REGULAR + rb"*+|/" + _REGULAR
            + rb"*+|\[|\]|<<|>>")
_STEP = re.compile(rb"((?:\s*+(?:" + _OPERAND + rb"))*+\s*+)([A-Za-z'\"]" + _REGULAR + rb"*+)")
_UNREAD = re.compile(rb"[(){}%]")  # literal strings, comments, PostScript: parsed instead
# A marked-content operator's operands: a tag, then (BDC) a property list, written
# out as a dictionary without dictionaries, arrays or strings in it, or named.
_NAME = rb"/[^\s/\[\]<>(){}%#]*"
_MARK = re.compile(rb"\s*(" + _NAME + rb")\s*(?:<<([^<>\[\]]*)>>|(" + _NAME + rb"))?\s*")
_WORD = re.compile(_NAME + rb"|" + _REGULAR + rb"+")
_PAINTING_BYTES = frozenset(op.encode() for op in PAINTING - {"INLINE IMAGE"})


def _untagged_marks_read(data: bytes) -> int | None:
    """untagged_marks over a content stream's bytes, by one regular expression; or
    None if the stream holds what this does not read: a literal string or a
    comment (either may hold any word), an inline image (binary data), a mark
    whose operands are not as _MARK says, anything after the last operator.
    """
    if _UNREAD.search(data):
        return None
    stack: list[bool] = []
    count = 0
    read = 0  # bytes read: every byte, if nothing was passed over
    for operands, operator in _STEP.findall(data):
        read += len(operands) + len(operator)
        if operator in _PAINTING_BYTES:
            if not (stack and stack[-1]):
                count += 1
        elif operator == b"EMC":
            if stack:
                stack.pop()
        elif operator in (b"BDC", b"BMC"):
            mark = _MARK.fullmatch(operands)
            if mark is None:
                return None
            tag, properties, named = mark.groups()
            if (operator == b"BDC") != (properties is not None or named is not None):
                return None  # BMC takes a tag alone, BDC a tag and its properties
            keys = _keys(properties) if properties is not None else ()
            if keys is None:
                return None
            covers = tag == b"/Artifact" or b"/MCID" in keys
            stack.append(covers or (bool(stack) and stack[-1]))
        elif operator == b"BI":
            return None
    if read != len(data.rstrip()):
        return None  # something between the operators that is not read above
    return count


def _keys(dictionary: bytes) -> list[bytes] | None:
    """The keys of a dictionary's contents (between << and >>) of names and words
    alone; None if it is not key, value, key, value... with names for keys."""
    words = _WORD.findall(dictionary)
    keys = words[0::2]
    if len(words) % 2 or not all(key.startswith(b"/") for key in keys):
        return None
    return keys
