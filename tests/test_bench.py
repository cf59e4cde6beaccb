"""The benchmark runs (a smoke test at a small size; it never asserts a time)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.bench import main
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
    assert set(book) >= {"a", "b", "c", "d", "e", "f", "g_handout"}
    assert book["c"]["extra"]["cache"]["misses"] > 0  # the empty cache was really empty
    assert book["d"]["extra"]["fresh"]  # nothing changed: nothing built
    assert not book["e"]["extra"]["fresh"] and book["e"]["extra"]["cache"]["misses"] >= 1
    assert book["e"]["extra"]["cache"]["hits"] >= 1
