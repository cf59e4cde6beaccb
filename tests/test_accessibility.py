"""The book is tagged for screen readers, through the merge of its parts."""

from __future__ import annotations

import re
from pathlib import Path

import pikepdf
import pypdfium2
import pytest
from conftest import Built, build_book, copy_project, pdfua_findings

from pipeline import tags


def elements(pdf: pikepdf.Pdf) -> list[pikepdf.Object]:
    return tags.structure_elements(pdf)


def kinds(pdf: pikepdf.Pdf) -> list[str]:
    return [str(element.get("/S")) for element in elements(pdf)]


def test_one_structure_tree_covers_every_part(basic: Built) -> None:
    with pikepdf.open(basic.pdf) as pdf:
        assert bool(pdf.Root.MarkInfo.Marked)
        (document,) = pdf.Root.StructTreeRoot.K
        assert document.S == "/Document"
        pages_with_elements = {
            element.Pg.objgen for element in elements(pdf) if "/Pg" in element
        }
        for index, page in enumerate(pdf.pages):
            text = pikepdf.unparse_content_stream(pikepdf.parse_content_stream(page, "BDC"))
            if b"/MCID" in text:
                assert page.objgen in pages_with_elements, f"page {index} has no elements"


def test_parent_tree_maps_every_marked_content_back_to_its_element(basic: Built) -> None:
    with pikepdf.open(basic.pdf) as pdf:
        tree = pdf.Root.StructTreeRoot
        nums = tree.ParentTree.Nums
        parents = {int(nums[i]): nums[i + 1] for i in range(0, len(nums), 2)}
        assert int(tree.ParentTreeNextKey) == max(parents) + 1
        checked = 0
        for page in pdf.pages:
            mcids = [
                int(operands[1].MCID)
                for operands, _ in pikepdf.parse_content_stream(page, "BDC")
                if isinstance(operands[1], pikepdf.Dictionary) and "/MCID" in operands[1]
            ]
            if not mcids:
                assert "/StructParents" not in page.obj
                continue
            owners = parents[int(page.obj.StructParents)]
            for mcid in mcids:
                owner = owners[mcid]
                assert owner.Pg.objgen == page.objgen
                assert mcid in [int(k) for k in owner.K if isinstance(k, int)] or (
                    int(owner.K) == mcid if isinstance(owner.K, int) else False
                )
                checked += 1
            for annot in page.obj.get("/Annots", []):
                if "/StructParent" in annot:
                    link = parents[int(annot.StructParent)]
                    assert link.S == "/Link"
                    assert any(kid.get("/Obj") == annot for kid in link.K
                               if isinstance(kid, pikepdf.Dictionary))
        assert checked > 200


def test_headings_lists_tables_and_figures(basic: Built) -> None:
    with pikepdf.open(basic.pdf) as pdf:
        found = kinds(pdf)
        headings = [int(kind[2]) for kind in found if kind in ("/H1", "/H2", "/H3")]
        assert headings.count(1) >= 3  # one per chapter, at least
        assert 2 in headings and 3 in headings
        assert all(b <= a + 1 for a, b in zip([0, *headings], headings, strict=False))
        assert found.count("/LI") >= 4 and "/L" in found
        cells = [e for e in elements(pdf) if e.get("/S") in ("/TH", "/TD")]
        headers = [e for e in cells if e.S == "/TH"]
        assert [str(h.A.Scope) for h in headers] == ["/Column"] * len(headers) != []
        assert all(len(e.A.Headers) == 1 for e in cells if e.S == "/TD")
        (figure,) = [e for e in elements(pdf) if e.get("/S") == "/Figure"]
        assert str(figure.Alt) == "A teal circle in a box"


def test_running_heads_and_folios_are_artifacts(basic: Built) -> None:
    with pikepdf.open(basic.pdf) as pdf:
        for page in pdf.pages:
            assert tags.untagged_marks(page) == 0
        # The furniture is there, and it is an artifact.
        last = pikepdf.unparse_content_stream(pikepdf.parse_content_stream(pdf.pages[-2]))
        assert b"/Artifact BMC" in last


def test_untagged_marks_are_found() -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.pages[0].obj.Contents = pdf.make_stream(
        b"0 0 1 1 re f /P <</MCID 0>> BDC 0 0 1 1 re f EMC /Artifact BMC 0 0 1 1 re f EMC"
    )
    assert tags.untagged_marks(pdf.pages[0]) == 1
    problems = [p.message for p in tags.accessibility_problems(pdf)]
    assert problems == ["the PDF is not tagged (no structure tree)"]


# Content streams and their untagged marks, as pikepdf's parse counts them.
STREAMS = [
    b"0 0 1 1 re f /P <</MCID 0>> BDC 0 0 1 1 re f EMC /Artifact BMC 0 0 1 1 re f EMC",
    b"/Span<</MCID 3>>BDC BT /f1 12 Tf [<0BDC> -20 <00EF>] TJ <0A0B>Tj ET EMC S",
    b"/P <</Lang /en /MCID 1>> BDC /Span <</X 2>> BDC f EMC EMC",  # inside a tagged mark
    b"/P <</X 2>> BDC f /Artifact BMC f* B EMC b* EMC",
    b"/P /Props1 BDC 0 0 m 1 1 l S EMC /Im1 Do",  # properties by name: no MCID seen
    b"/Artifact /Props1 BDC f EMC sh",
    b"q 1 0 0 1 72 72 cm [3 2] 0 d 0.5 w 0 0 m 10 10 l s Q\n F",
    b"/Span <</MCID 0 /ActualText <FEFF0041>>> BDC f EMC",  # a hex string: parsed
    b"BT (a string) Tj ET",  # a literal string: parsed
    b"% a comment with f in it\n f",
    b"/P <</MCID 0 /A <</O /Layout>>>> BDC f EMC",  # a nested dictionary: parsed
    b"/P <</MCID 0>> BDC BI /W 1 /H 1 /BPC 8 /CS /G ID \x00 EI EMC f",  # inline image
    b"/P BDC f EMC",  # a BDC without its properties
    b"1 /Artifact /P BDC f EMC",  # an operand too many
    b"/Art#69fact BMC f EMC",  # an escaped name
    b"EMC EMC f /P <</MCID 0>> BDC f",  # unbalanced
    b"f 1 2",  # operands after the last operator
]


@pytest.mark.parametrize("content", STREAMS)
def test_untagged_marks_read_from_bytes_count_as_the_parsed_stream(content: bytes) -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    page = pdf.pages[0]
    page.obj.Contents = pdf.make_stream(content)
    try:
        parsed = tags._untagged_marks_parsed(page)
    except (pikepdf.PdfError, IndexError):  # (a BDC without its properties)
        parsed = None
    read = tags._untagged_marks_read(content)
    assert read is None or read == parsed
    if parsed is not None:
        assert tags.untagged_marks(page) == parsed


def test_untagged_marks_of_weasyprint_pages_are_read_from_bytes(basic: Built) -> None:
    with pikepdf.open(basic.pdf) as pdf:
        for page in pdf.pages:
            contents = page.obj.Contents
            streams = contents if isinstance(contents, pikepdf.Array) else [contents]
            data = b"\n".join(stream.read_bytes() for stream in streams)
            assert tags._untagged_marks_read(data) == tags._untagged_marks_parsed(page)
        # The same page with its tags taken off: its marks are counted, the same.
        page = pdf.pages[len(pdf.pages) // 2]
        contents = page.obj.Contents
        streams = contents if isinstance(contents, pikepdf.Array) else [contents]
        data = b"\n".join(stream.read_bytes() for stream in streams)
        untagged = re.sub(rb"/\w+\s*<<\s*/MCID\s+\d+\s*>>\s*BDC", b"/X BMC", data)
        assert untagged != data
        page.obj.Contents = pdf.make_stream(untagged)
        assert tags._untagged_marks_read(untagged) == tags._untagged_marks_parsed(page) > 10


def test_links_are_described_by_their_text(basic: Built) -> None:
    with pikepdf.open(basic.pdf) as pdf:
        described = [
            str(annot.Contents)
            for page in pdf.pages
            for annot in page.obj.get("/Annots", [])
            if annot.get("/Subtype") == "/Link"
        ]
    assert "Alpha chapter" in described  # a contents line, without its page number
    assert all(text.strip() and "booklet-link" not in text for text in described)


def test_title_language_and_pdfua_claim(basic: Built) -> None:
    with pikepdf.open(basic.pdf) as pdf:
        assert str(pdf.Root.Lang) == "en-US"
        assert bool(pdf.Root.ViewerPreferences.DisplayDocTitle)
        meta = pdf.open_metadata()
        assert meta["pdfuaid:part"] == "1"
        assert meta["dc:title"] == str(pdf.docinfo.Title) == "Fixture Book"


def test_the_preflight_checks_tagging(basic: Built) -> None:
    assert not [f for f in basic.report.findings if f.check == "accessibility"]
    with pikepdf.open(basic.pdf) as pdf:
        del pdf.Root.StructTreeRoot.K[0].K[0]  # one part's first element
        pdf.Root.Lang = ""
        problems = [p.message for p in tags.accessibility_problems(pdf)]
    assert "the PDF has no language (/Lang)" in problems


def test_the_starter_guide_passes_the_pdfua_checker(starter: Built) -> None:
    assert pdfua_findings(starter.pdf) == []


def test_a_decorative_image_is_an_artifact(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    chapter = root / "chapters" / "01-alpha.md"
    chapter.write_text(
        chapter.read_text(encoding="utf-8")
        + "\nAn ornament: ![](../images/diagram.png){: .decorative }\n",
        encoding="utf-8",
    )
    built = build_book(root)
    with pikepdf.open(built.pdf) as pdf:
        figures = [e for e in elements(pdf) if e.get("/S") == "/Figure"]
        assert [str(f.Alt) for f in figures] == ["A teal circle in a box"]
        assert tags.accessibility_problems(pdf) == []
    # The ornament is drawn all the same (as a background): a teal circle on its page.
    index = next(i for i, page in enumerate(built.pages) if "An ornament" in page.text)
    image = pypdfium2.PdfDocument(built.pdf)[index].render(scale=0.5).to_pil().convert("RGB")
    teal = sum(1 for r, g, b in image.get_flattened_data() if g > r + 40 and b > r + 40)
    assert teal > 2000


@pytest.mark.parametrize("level", [3])
def test_a_skipped_heading_level_is_reported(basic: Built, level: int) -> None:
    with pikepdf.open(basic.pdf) as pdf:
        first = next(e for e in elements(pdf) if e.get("/S") == "/H2")
        first.S = pikepdf.Name(f"/H{level + 1}")
        problems = [p.message for p in tags.accessibility_problems(pdf)]
    assert any("a level is skipped" in message for message in problems)
