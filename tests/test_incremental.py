"""Pages put in front of a saved PDF by an incremental update (pipeline/incremental.py)."""

from __future__ import annotations

import io

import pikepdf
import pypdfium2 as pdfium
import pytest

from pipeline.incremental import Base, Copy, base_of, with_pages


def _document(texts: list[str], size: tuple[int, int] = (300, 400),
              box_on_tree: bool = False) -> pikepdf.Pdf:
    """A document of one page per text, in Helvetica."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica))
    for text in texts:
        page = pdf.add_blank_page(page_size=size)
        page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
        page.obj.Contents = pdf.make_stream(f"BT /F1 12 Tf 20 200 Td ({text}) Tj ET".encode())
    if box_on_tree:  # set once on the page tree, for the pages to inherit
        pdf.Root.Pages.MediaBox = pikepdf.Array([0, 0, *size])
        for page in pdf.pages:
            del page.obj["/MediaBox"]
    return pdf


def with_pages_in_front(base: Base, pages: list[pikepdf.Page], blank_after: bool) -> bytes:
    """`base` with `pages` in front, and a blank page after them if `blank_after`."""
    return with_pages(base, [*pages, *([None] if blank_after else []), *range(len(base.kids))])


def _texts(data: bytes) -> list[str]:
    document = pdfium.PdfDocument(data)
    try:
        return [document[i].get_textpage().get_text_range().strip()
                for i in range(len(document))]
    finally:
        document.close()


def test_the_letter_comes_first_then_a_blank_page_then_the_guide() -> None:
    guide = base_of(_document(["guide one", "guide two", "guide three"]))
    letters = _document(["letter for Ann"], size=(200, 300))
    data = with_pages_in_front(guide, list(letters.pages), blank_after=True)

    assert data.startswith(guide.data)  # appended to, not rewritten
    assert _texts(data) == ["letter for Ann", "", "guide one", "guide two", "guide three"]
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert pdf.check_pdf_syntax() == []
        boxes = [[float(v) for v in page.mediabox] for page in pdf.pages]
        assert boxes[:2] == [[0, 0, 200, 300]] * 2  # the blank is the letter's size
        assert boxes[2:] == [[0, 0, 300, 400]] * 3
        assert pdf.trailer.ID[0] == pikepdf.String(guide.first_id)
    without = with_pages_in_front(guide, list(letters.pages), blank_after=False)
    assert _texts(without) == ["letter for Ann", "guide one", "guide two", "guide three"]


def test_the_same_letter_gives_the_same_bytes_and_another_letter_other_bytes() -> None:
    guide = base_of(_document(["guide"]))
    ann, bob = _document(["Ann"]), _document(["Bob"])
    first = with_pages_in_front(guide, list(ann.pages), blank_after=True)
    assert with_pages_in_front(guide, list(ann.pages), blank_after=True) == first
    other = with_pages_in_front(guide, list(bob.pages), blank_after=True)
    assert other != first
    with pikepdf.open(io.BytesIO(first)) as one, pikepdf.open(io.BytesIO(other)) as two:
        assert one.trailer.ID[1] != two.trailer.ID[1]


def test_nothing_of_another_page_of_the_letters_document_is_written() -> None:
    """A link from one letter to the next must not bring the next into the packet."""
    guide = base_of(_document(["guide"]))
    letters = _document(["letter for Ann", "letter for Bob"])
    ann, bob = letters.pages[0], letters.pages[1]
    ann.obj.Annots = letters.make_indirect(pikepdf.Array([letters.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link,
                           Rect=[0, 0, 10, 10], Dest=[bob.obj, pikepdf.Name.Fit]))]))
    data = with_pages_in_front(guide, [ann], blank_after=False)

    assert _texts(data) == ["letter for Ann", "guide"]
    assert b"Bob" not in data
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert pdf.check_pdf_syntax() == []
        link = pdf.pages[0].Annots[0]
        assert link.Dest[0] is None  # the reference to Bob's page, written as null
        assert len([o for o in pdf.objects if isinstance(o, pikepdf.Dictionary)
                    and o.get("/Type") == pikepdf.Name.Page]) == 2


def test_a_box_the_letter_inherits_from_its_page_tree_goes_with_it() -> None:
    guide = base_of(_document(["guide"]))
    letters = _document(["letter"], size=(250, 350), box_on_tree=True)
    data = with_pages_in_front(guide, list(letters.pages), blank_after=True)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert [float(v) for v in pdf.pages[0].obj.MediaBox] == [0, 0, 250, 350]
        assert [float(v) for v in pdf.pages[1].obj.MediaBox] == [0, 0, 250, 350]
    assert _texts(data) == ["letter", "", "guide"]


def test_a_base_whose_page_tree_is_not_flat_is_refused() -> None:
    pdf = _document(["a", "b"])
    tree = pdf.Root.Pages
    middle = pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Pages, Kids=pikepdf.Array(list(tree.Kids)), Count=2, Parent=tree))
    for kid in middle.Kids:
        kid.Parent = middle
    tree.Kids = pikepdf.Array([middle])
    with pytest.raises(ValueError, match="not flat"):
        base_of(pdf)


def test_letters_of_two_documents_and_copies_of_the_guide() -> None:
    """A print file: letters from documents whose objects have the same numbers,
    each followed by copies of the guide (new pages over the same content)."""
    source = _document(["guide one", "guide two"])
    first = source.pages[0].obj
    first.Annots = source.make_indirect(pikepdf.Array([source.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link,
                           Rect=[0, 0, 10, 10], Dest=[first, pikepdf.Name.Fit]))]))
    guide = base_of(source)
    ann, bob = _document(["letter for Ann"]), _document(["letter for Bob"])
    assert ann.pages[0].obj.objgen == bob.pages[0].obj.objgen  # the same numbers
    items: list[object] = [ann.pages[0], None, *[Copy(0), Copy(1)] * 2,
                           bob.pages[0], None, Copy(0), Copy(1)]
    data = with_pages(guide, items)  # type: ignore[arg-type]

    assert _texts(data) == ["letter for Ann", "", "guide one", "guide two", "guide one",
                            "guide two", "letter for Bob", "", "guide one", "guide two"]
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert pdf.check_pdf_syntax() == []
        copies = [pdf.pages[i].obj for i in (2, 4, 8)]
        assert len({page.objgen for page in copies}) == 3  # each copy a page of its own
        assert len({page.Contents.objgen for page in copies}) == 1  # over the same content
        assert all("/Annots" not in page for page in copies)  # for print: no links
