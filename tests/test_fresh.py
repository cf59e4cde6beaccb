"""`booklet build` with nothing changed answers from the last build's record."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from conftest import copy_project

from pipeline import fresh
from pipeline.cli import main


def run(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main(["-C", str(root), "build", *args])
    return status, capsys.readouterr().err


def test_nothing_changed_means_no_build(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    root = copy_project(tmp_path / "project")
    status, first = run(root, capsys)
    assert status == 0 and "typeset" in first
    pdf = root / "output" / "guide.pdf"
    built = pdf.stat().st_mtime_ns, pdf.read_bytes()

    status, second = run(root, capsys)
    assert status == 0
    assert "nothing changed since the last build" in second and "typeset" not in second
    assert "output/guide.pdf: 12 pages" in second  # the summary, again
    assert (pdf.stat().st_mtime_ns, pdf.read_bytes()) == built

    # Another option is another build.
    status, strict = run(root, capsys, "--strict")
    assert "nothing changed" not in strict

    # An edit, a changed or missing output, a broken record: build again.
    chapter = root / "chapters" / "02-beta.md"
    chapter.write_text(chapter.read_text(encoding="utf-8") + "\nOne more line.\n",
                       encoding="utf-8")
    assert "nothing changed" not in run(root, capsys)[1]
    assert "nothing changed" in run(root, capsys)[1]
    pdf.write_bytes(pdf.read_bytes() + b"\n")
    assert "nothing changed" not in run(root, capsys)[1]
    (root / "output" / "check.json").unlink()
    assert "nothing changed" not in run(root, capsys)[1]
    for record in (root / "output" / ".cache" / "fresh").glob("*.json"):
        record.write_text("{not json", encoding="utf-8")
    status, text = run(root, capsys)
    assert status == 0 and "nothing changed" not in text
    assert (root / "output" / "check.json").is_file()


def test_the_digest_covers_files_code_options_and_today(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    today = date(2026, 11, 26)
    base = fresh.inputs_digest(root, {"strict": False}, today)
    assert fresh.inputs_digest(root, {"strict": False}, today) == base
    assert fresh.inputs_digest(root, {"strict": True}, today) != base
    assert fresh.inputs_digest(root, {"strict": False}, date(2026, 11, 27)) != base
    (root / "images" / "new.png").write_bytes(b"not really a png")
    changed = fresh.inputs_digest(root, {"strict": False}, today)
    assert changed != base
    (root / "output").mkdir()
    (root / "output" / "guide.pdf").write_bytes(b"%PDF")
    (root / ".hidden").write_text("x", encoding="utf-8")
    assert fresh.inputs_digest(root, {"strict": False}, today) == changed
