"""Glossary terms: linked from their first use in each chapter, and back."""

from __future__ import annotations

import xml.etree.ElementTree as etree
from collections import Counter
from pathlib import Path

import pikepdf
import pytest
from conftest import Built, copy_project

from pipeline import glossary
from pipeline.cli import main
from pipeline.model import GlossaryTerm


def term(text: str) -> GlossaryTerm:
    return GlossaryTerm(text, f"g--term-{glossary.slug(text)}", glossary.names_of(text), 1)


def test_names_of_a_term() -> None:
    assert glossary.names_of("Electrochemotherapy (ECT)") == ("Electrochemotherapy", "ECT")
    assert glossary.names_of("Cutaneous, subcutaneous") == ("Cutaneous", "subcutaneous")
    assert glossary.names_of("Biopsy") == ("Biopsy",)


def test_only_the_first_use_in_running_text_is_linked() -> None:
    tree = etree.fromstring(
        "<div><h2>Biopsy</h2><p>A <a href='x'>biopsy</a> link; then <b>Biopsies</b> are"
        " done. A biopsy again. Electrochemotherapy, or ECT; the sect is not ect.</p>"
        "<p><code>ECT</code> and ECT.</p></div>"
    )
    terms = [term("Biopsy"), term("Electrochemotherapy (ECT)")]
    uses = glossary.link_first_uses(tree, terms, "ch")
    links = [(a.text, a.get("href"), a.get("id")) for a in tree.iter("a") if a.get("class")]
    assert links == [
        ("Biopsies", "#g--term-biopsy", "ch--term-biopsy"),
        ("Electrochemotherapy", "#g--term-electrochemotherapy-ect",
         "ch--term-electrochemotherapy-ect"),
    ]
    assert [use.term for use in uses] == ["g--term-biopsy", "g--term-electrochemotherapy-ect"]
    text = "".join(tree.itertext())
    assert text.startswith("BiopsyA biopsy link; then Biopsies are done. A biopsy again.")
    assert text.endswith("the sect is not ect.ECT and ECT.")


def _links(pdf: pikepdf.Pdf) -> list[tuple[int, str, int]]:
    """(page, description, target page) of every internal link."""
    pages = {page.objgen: index for index, page in enumerate(pdf.pages)}
    return [
        (index, str(annot.get("/Contents", "")), pages[annot.Dest[0].objgen])
        for index, page in enumerate(pdf.pages)
        for annot in page.obj.get("/Annots", [])
        if "/Dest" in annot
    ]


def test_terms_link_to_the_glossary_and_back(starter: Built) -> None:
    where = {p.part: range(p.first_page, p.first_page + p.page_count)
             for p in starter.report.placements}
    skin, entries = where["skin-metastasis"], where["glossary"]
    with pikepdf.open(starter.pdf) as pdf:
        links = _links(pdf)
    to_entries = [(page, text, target) for page, text, target in links
                  if page in skin and target in entries]
    assert {text.lower() for _, text, _ in to_entries} >= {"biopsy", "cellulitis"}
    for _, text, target in to_entries:
        assert text.lower().rstrip("s") in starter.pages[target].text.lower(), text
    back = [(page, text, target) for page, text, target in links
            if page in entries and target in skin]
    assert back and all(text == "Skin metastasis and ulcerating wounds" for _, text, _ in back)
    # Each term is linked once per chapter (a link broken over two lines is two rectangles).
    assert max(Counter(text.lower() for _, text, _ in to_entries).values()) <= 2


def test_a_link_to_a_missing_entry_names_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_project(tmp_path / "project", "starter")
    chapter = root / "chapters" / "04-questions.md"
    text = chapter.read_text(encoding="utf-8")
    chapter.write_text(text + "\nAsk about [a scan](05-glossary.md#scan).\n",
                       encoding="utf-8")
    line = len((text + "\n").splitlines()) + 1
    assert main(["-C", str(root), "build"]) == 1
    err = capsys.readouterr().err
    assert f"chapters/04-questions.md:{line}: " in err
    assert "the glossary has no entry for it" in err and "Traceback" not in err
    # A link to an entry that exists is fine, and lands on it.
    chapter.write_text(text + "\nAsk about a [biopsy](05-glossary.md#biopsy).\n",
                       encoding="utf-8")
    assert main(["-C", str(root), "build"]) == 0
