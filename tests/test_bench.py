"""The benchmark runs (a smoke test at a small size; it never asserts a time)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.bench import main, reworded
from bench.synthetic import write_book
from pipeline.build import build


def test_synthetic_book_is_deterministic_and_builds(tmp_path: Path) -> None:
    first = write_book(tmp_path / "one", chapters=2, paragraphs=3)
    second = write_book(tmp_path / "two", chapters=2, paragraphs=3)
    for name in ("01-topic-1.md", "02-topic-2.md"):
        assert (first / "chapters" / name).read_bytes() == (
            second / "chapters" / name).read_bytes()
    report = build(first, source_date_epoch=1)
    assert not report.rejected, [str(f) for f in report.findings if f.severity == "error"]
    assert report.pages >= 8


def test_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert main(["--chapters", "2", "--paragraphs", "3", "--runs", "1", "--no-big",
                 "--no-copies", "--output", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    book = data["book"]
    assert set(book) >= {"a", "b", "c", "d", "e", "e_added", "f", "g_handout"}
    assert book["c"]["extra"]["cache"]["misses"] > 0  # the empty cache was really empty
    assert book["d"]["extra"]["fresh"]  # nothing changed: nothing built
    assert not book["e"]["extra"]["fresh"] and book["e"]["extra"]["cache"]["misses"] >= 1
    assert book["e"]["extra"]["cache"]["hits"] >= 1
    assert book["e_added"]["extra"]["cache"]["misses"] >= 1


def test_the_paragraph_edit_changes_one_word_and_is_new_each_time(tmp_path: Path) -> None:
    chapter = sorted((write_book(tmp_path, chapters=3, paragraphs=3) / "chapters").glob("*.md"))[1]
    text = chapter.read_text(encoding="utf-8")
    edits = [reworded(text, n) for n in range(3)]
    assert len(set(edits)) == 3 and text not in edits
    for edited in edits:
        changed = [(a, b) for a, b in zip(text.split("\n"), edited.split("\n"), strict=True)
                   if a != b]
        assert len(changed) == 1  # one paragraph...
        before, after = (line.split(" ") for line in changed[0])
        assert len(before) == len(after)
        assert sum(x != y for x, y in zip(before, after, strict=True)) == 1  # ...one word
