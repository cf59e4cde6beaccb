"""Markdown to HTML: ids, links, footnotes, call-outs, worksheets."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from conftest import BOOKS

from pipeline.convert import check_references, convert
from pipeline.model import BookletError, Chapter


def chapter(tmp_path: Path, body: str, slug: str = "skin") -> Chapter:
    path = tmp_path / "chapters" / f"{slug}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\ntitle: T\nlast_reviewed: 2026-01-01\n---\n{body}", encoding="utf-8")
    return Chapter(slug, path, "T", date(2026, 1, 1), body, body_line=5)


def test_heading_ids_are_prefixed_and_recorded_with_lines(tmp_path: Path) -> None:
    result = convert(chapter(tmp_path, "Intro\n\n## What it is\n\ntext\n\n### Detail\n"), tmp_path)
    assert 'id="skin--what-it-is"' in result.html
    assert [(h.level, h.anchor, h.text, h.line) for h in result.headings] == [
        (2, "skin--what-it-is", "What it is", 7),
        (3, "skin--detail", "Detail", 11),
    ]


def test_typographic_quotes_in_heading_text(tmp_path: Path) -> None:
    result = convert(chapter(tmp_path, "## Don't panic\n"), tmp_path)
    assert result.headings[0].text == "Don\u2019t panic"


def test_links_become_book_wide_anchors(tmp_path: Path) -> None:
    body = "## Here\n\n[a](#here) [b](other.md#there) [c](02-other.md) [d](https://x.org/p)\n"
    result = convert(chapter(tmp_path, body), tmp_path)
    assert 'href="#skin--here"' in result.html
    assert 'href="#other--there"' in result.html
    assert 'href="#other"' in result.html
    assert [r.target for r in result.references] == ["skin--here", "other--there", "other"]
    assert 'class="show-url" href="https://x.org/p"' in result.html


def test_missing_link_target_is_reported_with_its_line(tmp_path: Path) -> None:
    result = convert(chapter(tmp_path, "## Here\n\ntext\n\nsee [x](#nowhere)\n"), tmp_path)
    with pytest.raises(BookletError) as caught:
        check_references([result], tmp_path)
    problem = caught.value.problems[0]
    assert (problem.path, problem.line) == ("chapters/skin.md", 9)
    assert "#here" in (problem.hint or "")


def test_footnotes_move_to_where_they_are_cited(tmp_path: Path) -> None:
    body = "A figure.[^1] More.\n\n[^1]: From a small\n    study.\n"
    result = convert(chapter(tmp_path, body), tmp_path)
    assert 'class="footnote"' in result.html
    assert "A figure.<span class=\"footnote\">" in result.html
    assert "From a small study." in result.html  # source newline made a space
    assert "footnote-backref" not in result.html
    assert "<ol>" not in result.html  # no endnote list left behind


def test_callouts_get_their_standard_titles(tmp_path: Path) -> None:
    body = "!!! talk\n    Ask them.\n\n!!! key\n    This.\n\n!!! key \"Own title\"\n    That.\n"
    result = convert(chapter(tmp_path, body), tmp_path)
    assert '<p class="admonition-title">Talk to your care team</p>' in result.html
    assert '<p class="admonition-title">Key point</p>' in result.html
    assert '<p class="admonition-title">Own title</p>' in result.html


def test_write_lines(tmp_path: Path) -> None:
    result = convert(chapter(tmp_path, "Notes:\n\n[write-lines: 3]\n"), tmp_path)
    assert result.html.count('class="write-line"') == 3


def test_definition_lists_tables_and_nested_lists(tmp_path: Path) -> None:
    body = "Term\n:   Meaning.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- x\n    - y\n"
    result = convert(chapter(tmp_path, body), tmp_path)
    assert "<dt>Term</dt>" in result.html and "<dd>" in result.html
    assert "<table>" in result.html
    assert result.html.count("<ul>") == 2


def test_images_must_exist_inside_the_project(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    shutil.copy(BOOKS / "basic" / "images" / "diagram.png", tmp_path / "images" / "a.png")
    ok = convert(chapter(tmp_path, "![Alt](../images/a.png)\n"), tmp_path)
    assert 'src="file:///booklet-project/images/a.png"' in ok.html
    for src, message in [
        ("../images/b.png", "missing image"),
        ("../../outside.png", "outside the project"),
        ("https://x.org/a.png", "not a file in the project"),
    ]:
        with pytest.raises(BookletError) as caught:
            convert(chapter(tmp_path, f"text\n\n![Alt]({src})\n"), tmp_path)
        assert message in caught.value.problems[0].message
        assert caught.value.problems[0].line == 7


def test_a_first_level_heading_in_the_body_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BookletError) as caught:
        convert(chapter(tmp_path, "# Title again\n"), tmp_path)
    assert caught.value.problems[0].line == 5
    assert "'##'" in (caught.value.problems[0].hint or "")
