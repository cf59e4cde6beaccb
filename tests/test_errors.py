"""Bad input ends the build with exit 1 and `path:line: message`, never a traceback."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.cli import main


def run(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    status = main(["-C", str(root), "build"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, [line for line in err.splitlines() if line.strip()]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(needle)


Project = Callable[[str | None], Path]


def test_unknown_config_key(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    root = project("basic")
    edit(root / "booklet.toml", 'subject = "Fixture"', 'subjet = "Fixture"')
    status, lines = run(root, capsys)
    assert status == 1
    line = line_of(root / "booklet.toml", "subjet")
    assert lines[0] == (
        f"booklet.toml:{line}: unknown key 'book.subjet' (did you mean 'subject'?)"
    )
    assert lines[-1] == "booklet: 1 problem; nothing was written"


def test_malformed_toml(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    root = project("basic")
    edit(root / "booklet.toml", 'author = "Test Author"', 'author = "Test Author')
    status, lines = run(root, capsys)
    assert status == 1
    line = line_of(root / "booklet.toml", "author =")
    assert lines[0].startswith(f"booklet.toml:{line}: malformed TOML")


def test_wrong_type_and_missing_key(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    root = project("basic")
    edit(root / "booklet.toml", "last_reviewed = 2026-10-15", 'last_reviewed = "soon"')
    edit(root / "booklet.toml", 'edition = "Test edition"\n', "")
    status, lines = run(root, capsys)
    assert status == 1
    line = line_of(root / "booklet.toml", "last_reviewed")
    assert f"booklet.toml:{line}: 'book.last_reviewed' must be a date like 2026-11-01, " \
        "not text 'soon'" in lines
    assert any(re.match(r"booklet.toml:\d+: missing key 'book.edition'", x) for x in lines)


def test_malformed_front_matter(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    root = project("basic")
    chapter = root / "chapters" / "02-beta.md"
    edit(chapter, "title: Beta chapter", "title: [Beta chapter")
    status, lines = run(root, capsys)
    assert status == 1
    assert re.match(r"chapters/02-beta\.md:\d+: malformed front matter", lines[0])


def test_front_matter_key_errors(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    root = project("basic")
    chapter = root / "chapters" / "02-beta.md"
    edit(chapter, "last_reviewed: 2026-10-01", "last_reviewd: 2026-10-01")
    status, lines = run(root, capsys)
    assert status == 1
    line = line_of(chapter, "last_reviewd")
    assert (
        f"chapters/02-beta.md:{line}: unknown front matter key 'last_reviewd' "
        "(did you mean 'last_reviewed'?)" in lines
    )
    assert any("front matter has no 'last_reviewed'" in x for x in lines)


def test_missing_chapter_file(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    root = project("basic")
    edit(root / "booklet.toml", '"02-beta.md"', '"02-betta.md"')
    status, lines = run(root, capsys)
    assert status == 1
    line = line_of(root / "booklet.toml", "02-betta.md")
    assert lines[0] == (
        f"booklet.toml:{line}: chapter file 'chapters/02-betta.md' not found "
        "(did you mean '02-beta.md'?)"
    )


def test_duplicate_chapter_slug(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    root = project("basic")
    (root / "chapters" / "04-beta.md").write_text(
        (root / "chapters" / "02-beta.md").read_text(encoding="utf-8"), encoding="utf-8"
    )
    edit(root / "booklet.toml", '"03-gamma.md"]', '"03-gamma.md", "04-beta.md"]')
    status, lines = run(root, capsys)
    assert status == 1
    assert re.match(r"booklet.toml:\d+: duplicate chapter slug 'beta'", lines[0])


def test_missing_image(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    root = project("basic")
    chapter = root / "chapters" / "01-alpha.md"
    edit(chapter, "../images/diagram.png", "../images/diagrm.png")
    status, lines = run(root, capsys)
    assert status == 1
    line = line_of(chapter, "diagrm.png")
    assert lines[0].startswith(
        f"chapters/01-alpha.md:{line}: missing image '../images/diagrm.png'"
    )


def test_link_to_missing_heading(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    root = project("basic")
    chapter = root / "chapters" / "02-beta.md"
    edit(chapter, "01-alpha.md#table-section", "01-alpha.md#tables-section")
    status, lines = run(root, capsys)
    assert status == 1
    line = line_of(chapter, "#tables-section")
    assert lines[0].startswith(
        f"chapters/02-beta.md:{line}: link '01-alpha.md#tables-section' points at a heading "
        "that does not exist"
    )
    assert "#table-section" in lines[0]  # the hint lists the real ones


def test_several_problems_are_all_reported(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project("basic")
    edit(root / "chapters" / "01-alpha.md", "../images/diagram.png", "../images/nope.png")
    edit(root / "chapters" / "03-gamma.md", "](https://example.org/gamma)", "](ftp://x/y)")
    status, lines = run(root, capsys)
    assert status == 1
    assert len(lines) == 3, lines
    assert lines[0].startswith("chapters/01-alpha.md:")
    assert "missing image" in lines[0]
    assert lines[1].startswith("chapters/03-gamma.md:")
    assert "unsupported scheme" in lines[1]
    assert lines[2] == "booklet: 2 problems; nothing was written"


def test_failed_build_keeps_the_previous_pdf(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project("basic")
    output = root / "output" / "guide.pdf"
    output.parent.mkdir(parents=True)
    output.write_bytes(b"%PDF-1.7 the last good build")
    edit(root / "booklet.toml", 'subject = "Fixture"', 'subjet = "Fixture"')
    status, _ = run(root, capsys)
    assert status == 1
    assert output.read_bytes() == b"%PDF-1.7 the last good build"
    assert [p.name for p in output.parent.iterdir() if p.is_file()] == ["guide.pdf"]


def test_no_config_here(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, lines = run(tmp_path, capsys)
    assert status == 1
    assert lines[0].startswith("booklet.toml: no booklet.toml here")


def test_a_missing_font_file_is_named_from_the_project(
        project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    root = project("basic")
    (root / "styles" / "fonts" / "AtkinsonHyperlegible-Italic.ttf").unlink()
    status, lines = run(root, capsys)
    assert status == 1
    assert lines[0].startswith("styles/fonts/AtkinsonHyperlegible-Italic.ttf: the font file "
                               "AtkinsonHyperlegible-Italic.ttf is missing (put the fonts")
    assert lines[-1] == "booklet: 1 problem; nothing was written"
    assert not (root / "output" / "guide.pdf").exists()
