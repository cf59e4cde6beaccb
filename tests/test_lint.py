"""Lint: each source check, with its place and name, and the ways to silence it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from test_mojibake import garble

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.lint import lint, reading_grade

Project = Callable[[str | None], Path]
FINDING = re.compile(r"^[^:]+(:\d+(:\d+)?)?: (error|warning): .+ \[[a-z-]+\]$")

CLEAN_CHAPTER = """---
title: Delta chapter
last_reviewed: 2026-10-01
sources:
  - "A small study, as summarised in the author's guide"
---

## A section

Short sentences help. They are easy to read.

!!! talk
    Ask your care team.
"""


def write(root: Path, body: str, front: str = "") -> Path:
    text = CLEAN_CHAPTER.replace("---\n\n## A section", f"{front}---\n\n## A section")
    path = root / "chapters" / "04-delta.md"
    path.write_text(text + body, encoding="utf-8")
    config = root / "booklet.toml"
    order = config.read_text(encoding="utf-8")
    order = order.replace('"03-gamma.md"]', '"03-gamma.md", "04-delta.md"]')
    config.write_text(order, encoding="utf-8")
    return path


def findings(root: Path) -> list[tuple[int | None, int | None, str, str]]:
    result = lint(load_config(root), [root / "chapters" / "04-delta.md"])
    return [(f.line, f.col, f.severity, f.check) for f in result.findings]


def test_a_clean_chapter_has_no_findings(project: Project) -> None:
    root = project("basic")
    write(root, "")
    assert findings(root) == []


def test_the_starter_guide_is_clean() -> None:
    from conftest import REPO

    result = lint(load_config(REPO))
    assert [str(f) for f in result.findings] == []
    assert all(grade <= 9 for grade in result.grades.values())


def test_mojibake_with_line_column_and_repair(project: Project) -> None:
    root = project("basic")
    write(root, "\nIt" + garble("’", "cp1252") + "s " + garble("café", "cp874") + ".\n")
    result = lint(load_config(root), [root / "chapters" / "04-delta.md"])
    messages = [(f.line, f.col, f.message) for f in result.findings]
    assert messages == [
        (15, 3, "garbled text 'â€™' (UTF-8 read as Windows-1252): should be '’'"),
        (15, 11, "garbled text 'รฉ' (UTF-8 read as Thai cp874): should be 'é'"),
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("\n#### Too deep\n", (15, 1, "warning", "heading-level")),
        ("\nSome <span class='x'>raw</span> HTML.\n", (15, 6, "warning", "raw-html")),
        ("\nA claim. From:\n", (15, 10, "warning", "lost-source")),
        ("\n![](../images/diagram.png)\n", (15, None, "error", "alt-text")),
        ("\n[gone](#nowhere)\n", (15, None, "error", "link")),
        ("\n" + "word " * 40 + "end.\n", (15, 1, "warning", "long-sentence")),
        ("\n## A section\n", (15, 1, "warning", "duplicate-heading")),
    ],
)
def test_each_check(project: Project, body: str, expected: tuple[object, ...]) -> None:
    root = project("basic")
    write(root, body)
    assert findings(root) == [expected]


def test_decorative_images_need_no_alt_text(project: Project) -> None:
    root = project("basic")
    write(root, "\n![](../images/diagram.png){: .decorative }\n")
    assert findings(root) == []


def test_content_chapters_need_sources_and_a_care_team_callout(project: Project) -> None:
    root = project("basic")
    path = write(root, "")
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"sources:\n  - .*\n", "", text)
    text = text.replace("!!! talk\n    Ask your care team.\n", "")
    path.write_text(text, encoding="utf-8")
    assert sorted(c for *_, c in findings(root)) == ["care-team", "sources"]
    path.write_text(text.replace("title: Delta", "kind: about\ntitle: Delta"), encoding="utf-8")
    assert findings(root) == []


def test_front_matter_problems_are_findings(project: Project) -> None:
    root = project("basic")
    write(root, "", front="last_reviewd: 2026-01-01\n")
    result = lint(load_config(root), [root / "chapters" / "04-delta.md"])
    assert [(f.line, f.check) for f in result.findings] == [(6, "front-matter")]
    assert "did you mean 'last_reviewed'?" in result.findings[0].message


def test_a_comment_silences_one_place_only(project: Project) -> None:
    root = project("basic")
    write(
        root,
        "\n<!-- booklet-ignore: raw-html -->\nOne <b>bold</b> word.\n\nTwo <i>words</i>.\n",
    )
    assert findings(root) == [(18, 5, "warning", "raw-html")]


def test_a_comment_for_another_check_silences_nothing(project: Project) -> None:
    root = project("basic")
    write(root, "\nOne <b>bold</b> word. <!-- booklet-ignore: mojibake -->\n")
    assert findings(root) == [(15, 5, "warning", "raw-html")]


def test_cli_lint_format_strict_and_exit_codes(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project("basic")
    write(root, "\nSome <span>raw</span> HTML.\n")
    assert main(["-C", str(root), "lint", str(root / "chapters" / "04-delta.md")]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == (
        "chapters/04-delta.md:15:6: warning: raw HTML <span> in Markdown: write it in "
        "Markdown instead [raw-html]"
    )
    assert lines[-1].startswith("lint: 0 errors, 1 warning in 1 chapters; reading grade:")
    assert main(["-C", str(root), "lint", "--strict", str(root / "chapters/04-delta.md")]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert all(FINDING.match(line) for line in lines[:-1])
    assert ": error: raw HTML" in lines[0]


def test_check_json_has_the_same_findings(project: Project) -> None:
    from conftest import TODAY

    from pipeline.build import build

    root = project("basic")
    write(root, "\nSome <span>raw</span> HTML.\n")
    report = build(root, source_date_epoch=1, today=TODAY)
    data = json.loads((root / "output" / "check.json").read_text(encoding="utf-8"))
    assert data["warnings"] == report.warnings
    assert [f["check"] for f in data["findings"]] == [f.check for f in report.findings]
    assert "raw-html" in [f["check"] for f in data["findings"]]
    assert data["grades"]["chapters/04-delta.md"] < 9


def test_check_reports_the_longest_sentences(project: Project) -> None:
    from conftest import TODAY

    from pipeline.build import build

    root = project("basic")
    long = "Each " + " ".join(["word"] * 40) + "."
    write(root, f"\nA short one. {long} Another short one.\n")
    chapter = root / "chapters" / "04-delta.md"
    line = chapter.read_text(encoding="utf-8").split("\n").index(
        f"A short one. {long} Another short one.") + 1
    report = build(root, source_date_epoch=1, today=TODAY)
    assert report.longest["chapters/04-delta.md"][0] == (line, 41)
    data = json.loads((root / "output" / "check.json").read_text(encoding="utf-8"))
    assert data["longest_sentences"]["chapters/04-delta.md"][0] == [line, 41]


def test_reading_grade_counts_words_sentences_and_syllables(tmp_path: Path) -> None:
    plain = "The cat sat on the mat. The dog ran to the big red barn."
    # 14 words in 2 sentences, one syllable each: 0.39 x 7 + 11.8 x 1 - 15.59 = -1.06
    assert reading_grade(plain, tmp_path) == -1.1
    # A sentence of two words or fewer is not counted as one; its words are.
    assert reading_grade(plain + " Yes, yes.", tmp_path) == round(
        0.39 * 8 + 11.8 - 15.59, 1)
    assert reading_grade(plain + " Yes, it did.", tmp_path) == round(
        0.39 * 5.7 + 11.8 - 15.59, 1)
    # Longer words (pyphen's hyphenation points, plus one) raise the grade.
    longer = plain.replace("cat", "caterpillar").replace("dog", "hippopotamus")
    assert reading_grade(longer, tmp_path) > reading_grade(plain, tmp_path) + 1
    assert reading_grade("Ça va. ...", tmp_path) == round(0.39 * 2 + 11.8 - 15.59, 1)
