"""booklet import: pasted text in, a clean chapter out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from test_mojibake import garble

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.importer import import_file
from pipeline.lint import lint

Project = Callable[[str | None], Path]

PASTED = """Caring for your skin
====================

• Keep the area clean and
dry, and check it every day
o Look for redness
o Look for new spots
• Tell your nurse about changes®
1) First step
2) Second step

This paragraph was wrapped
by an email program at a
short width.

From:
"""

EXPECTED_BODY = """- Keep the area clean and dry, and check it every day
    - Look for redness
    - Look for new spots
- Tell your nurse about changes®

1. First step
2. Second step

This paragraph was wrapped by an email program at a short width.

From:
"""


def test_a_windows_1252_paste(project: Project, tmp_path: Path) -> None:
    root = project("basic")
    source = tmp_path / "paste.txt"
    source.write_bytes(PASTED.replace("•", "\u2022").encode("cp1252"))
    result = import_file(source, root)
    assert result.target == root / "chapters" / "04-caring-for-your-skin.md"
    assert result.encoding == "cp1252"
    text = result.target.read_text(encoding="utf-8")
    assert text.startswith('---\ntitle: "Caring for your skin"\n')
    assert "\nlast_reviewed" not in text  # left for the author
    assert text.split("---\n", 2)[2].strip() == EXPECTED_BODY.strip()
    assert (result.list_items, result.lost_sources) == (6, 1)


@pytest.mark.parametrize("code_page", ["cp1252", "cp874", "cp1251", "mac_roman"])
def test_mojibake_is_repaired_on_import(project: Project, tmp_path: Path, code_page: str) -> None:
    root = project("basic")
    source = tmp_path / "notes.md"
    clean = "# Wound care\n\nIt’s “fine” – really • ok…\n"
    source.write_text(garble(clean, code_page), encoding="utf-8")
    result = import_file(source, root)
    body = result.target.read_text(encoding="utf-8").split("---\n", 2)[2].strip()
    assert body == "It’s “fine” – really • ok…"
    assert result.repaired == 6  # ’ “ ” – • …


@pytest.mark.parametrize(
    ("encoding", "raw"),
    [
        ("UTF-8 with BOM", "\ufeff# Title\n\nCafé ™\n".encode()),
        ("UTF-16", "# Title\n\nCafé ™\n".encode("utf-16")),
        ("UTF-8", "# Title\n\nCafé ™\n".encode()),
    ],
)
def test_unicode_encodings(project: Project, tmp_path: Path, encoding: str, raw: bytes) -> None:
    root = project("basic")
    source = tmp_path / "in.txt"
    source.write_bytes(raw)
    result = import_file(source, root)
    assert result.encoding == encoding
    assert result.target.read_text(encoding="utf-8").endswith("---\n\nCafé ™\n")


def test_html(project: Project, tmp_path: Path) -> None:
    root = project("basic")
    source = tmp_path / "page.html"
    source.write_text(
        "<html><body><h1>Skin</h1><p>Check <b>new</b> spots.</p>"
        "<ul><li>One</li><li>Two</li></ul><script>alert(1)</script></body></html>",
        encoding="utf-8",
    )
    result = import_file(source, root)
    text = result.target.read_text(encoding="utf-8")
    assert 'title: "Skin"' in text
    assert "Check **new** spots." in text
    assert "- One\n- Two" in text
    assert "alert" not in text


def test_never_overwrites_without_force(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project("basic")
    source = tmp_path / "beta.txt"
    source.write_text("# Beta\n\nNew text.\n", encoding="utf-8")
    target = root / "chapters" / "02-beta.md"
    before = target.read_bytes()
    args = ["-C", str(root), "import", str(source), "--to", str(target)]
    assert main(args) == 1
    assert "chapters/02-beta.md: already exists (pass --force to replace it)" in (
        capsys.readouterr().err
    )
    assert target.read_bytes() == before
    assert main([*args, "--force"]) == 0
    assert "New text." in target.read_text(encoding="utf-8")


def test_lint_reports_what_the_author_must_finish(project: Project, tmp_path: Path) -> None:
    root = project("basic")
    source = tmp_path / "paste.txt"
    source.write_text(PASTED, encoding="utf-8")
    result = import_file(source, root)
    found = lint(load_config(root), [result.target]).findings
    assert [(f.check, f.severity) for f in found] == [
        ("front-matter", "error"),  # last_reviewed is missing
        ("lost-source", "warning"),  # the "From:" with nothing after it
    ]
