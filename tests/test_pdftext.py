"""Reading printed lines back from a PDF (pdfium), where pdfium's own lines mislead."""

from __future__ import annotations

from pathlib import Path

import pikepdf

from pipeline.pdftext import read_pages


def one_page(path: Path, content: bytes) -> Path:
    """A Letter page that shows `content` (a content stream) in Helvetica as /F1."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(612, 792))
    font = pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica))
    page = pdf.pages[0]
    page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    page.obj.Contents = pdf.make_stream(content)
    pdf.save(path)
    return path


def test_a_folio_under_a_contents_number_is_a_line_of_its_own(tmp_path: Path) -> None:
    # pdfium reads these as one line, "Section 1 of topic 25 97v".
    pdf = one_page(tmp_path / "contents.pdf", b"BT /F1 12 Tf 88 81 Td (Section 1 of topic 25) Tj ET"
                   b" BT /F1 12 Tf 550 81 Td (97) Tj ET BT /F1 12 Tf 557 39 Td (v) Tj ET")
    (page,) = read_pages(pdf)
    assert [line.text for line in page.lines] == ["Section 1 of topic 25 97", "v"]
    assert page.folio == "v"
    number, folio = page.lines
    assert round(number.right, 1) == round(550 + 12 * 1.112, 1)  # two digits of 0.556 em
    assert folio.y < 40


def test_a_word_hyphenated_over_two_lines_stays_one_line(tmp_path: Path) -> None:
    pdf = one_page(tmp_path / "hyphen.pdf", b"BT /F1 12 Tf 72 300 Td (Words before a conver-) Tj"
                   b" 0 -17 Td (sation and after) Tj ET")
    (page,) = read_pages(pdf)
    assert [line.text for line in page.lines] == ["Words before a conver\ufffesation and after"]


def test_a_page_digest_sees_a_changed_number_and_a_changed_object_behind_a_reference() -> None:
    from pipeline.pdftext import page_digests

    def digest(widths: list[int], descent: int) -> str:
        pdf = pikepdf.new()
        page = pdf.add_blank_page()
        descriptor = pdf.make_indirect(pikepdf.Dictionary(Descent=descent))
        font = pdf.make_indirect(pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.TrueType, BaseFont=pikepdf.Name.X,
            FirstChar=32, Widths=pikepdf.Array(widths),
            # An array whose text is the same whatever the object it refers to holds.
            Extra=pikepdf.Array([descriptor, 1]),
        ))
        page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
        return page_digests(pdf)[0]

    same = digest([500, 600], -200)
    assert digest([500, 600], -200) == same
    assert digest([500, 601], -200) != same  # a number in an array of numbers
    assert digest([500, 600], -201) != same  # an object an array refers to
