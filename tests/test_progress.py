"""Progress: an updating line on a terminal, plain lines elsewhere, never in the output."""

from __future__ import annotations

import io
from pathlib import Path

from conftest import Built, build_book, copy_project

from pipeline.progress import Progress


def test_plain_lines_without_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(stream)
    assert not progress.tty  # a StringIO is not a terminal, as CI's stderr is not
    progress.stage("typeset")
    for done, name in enumerate(["alpha", "beta", "back"], 1):
        progress.advance("typeset", done, 3, name)
    progress.clear()
    assert stream.getvalue() == (
        "typeset alpha (1/3)\ntypeset beta (2/3)\ntypeset back (3/3)\n"
    )


def test_plain_lines_can_be_sparse() -> None:
    stream = io.StringIO()
    progress = Progress(stream)
    for done in range(1, 26):
        progress.advance("copies", done, 25, noun="requests", every=10)
    assert stream.getvalue().splitlines() == [
        "copies (10/25)", "copies (20/25)", "copies (25/25)"
    ]


def test_one_updating_line_on_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(stream, tty=True)
    progress.clear()  # nothing shown yet: nothing to erase
    assert stream.getvalue() == ""
    progress.stage("convert")
    progress.advance("typeset", 3, 12, "skin-metastasis")
    progress.clear()
    assert stream.getvalue() == (
        "\r\x1b[Kbooklet: convert…"
        "\r\x1b[Kbooklet: typeset 3/12 parts: skin-metastasis"
        "\r\x1b[K"
    )
    assert "\n" not in stream.getvalue()


def test_silent_without_a_stream() -> None:
    progress = Progress()
    progress.stage("read")
    progress.advance("typeset", 1, 1, "alpha")
    progress.clear()  # nothing to write to, nothing fails


def test_a_build_reports_every_part_and_writes_the_same_bytes(
    tmp_path: Path, basic: Built
) -> None:
    root = copy_project(tmp_path / "p", "basic")
    stream = io.StringIO()
    built = build_book(root, progress=Progress(stream), jobs=2)
    lines = stream.getvalue().splitlines()
    body = sorted(line for line in lines if line.endswith("/4)"))
    assert [line.split()[1] for line in body] == ["alpha", "back", "beta", "gamma"]
    assert sorted(line.split()[-1] for line in body) == ["(1/4)", "(2/4)", "(3/4)", "(4/4)"]
    # The front matter beside the body's furniture, then the front matter's furniture.
    assert sorted(line.split()[1] for line in lines if line.endswith("/2)")) == [
        "front", "furniture"]
    assert "typeset furniture (1/1)" in lines
    # Shown, never kept: the same sources give the same bytes with or without progress.
    assert built.pdf.read_bytes() == basic.pdf.read_bytes()
