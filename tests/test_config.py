"""booklet.toml and chapter front matter."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from conftest import REPO

from pipeline.config import load_config
from pipeline.model import BookletError
from pipeline.sources import load_chapters, read_chapter, slug_of


def test_the_starter_config_loads() -> None:
    config = load_config(REPO)
    assert config.language == "en-US"
    assert config.layout.page.name == "letter"
    assert round(config.layout.page.width_pt) == 612
    assert round(config.layout.page.height_pt) == 792
    assert config.last_reviewed == date(2026, 11, 1)
    assert config.chapter_files[2] == "03-skin-metastasis.md"
    assert "example.org" in config.copies_url  # an obvious placeholder


def write_config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "booklet.toml").write_text(text, encoding="utf-8")
    return tmp_path


MINIMAL = """
[book]
title = "T"
author = "A"
edition = "E"
language = "en-GB"
last_reviewed = 2026-01-02

[copies]
text = "Ask"
url = "https://example.org"

[chapters]
order = ["a.md"]
"""


def test_defaults(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, MINIMAL))
    assert config.layout.page.name == "letter"
    assert config.layout.base_size_pt == 12
    assert config.subtitle == ""


@pytest.mark.parametrize(
    ("change", "message", "line"),
    [
        (('language = "en-GB"', 'language = "English"'), "is not a language tag", 6),
        (("[chapters]", "[layout]\npage_size = \"b5\"\n[chapters]"), "unknown page_size", 14),
        (("[chapters]", "[layot]\n[chapters]"), "unknown table or key 'layot'", 13),
        (('title = "T"', "title = 3"), "'book.title' must be text in quotes, not int 3", 3),
        (('order = ["a.md"]', 'order = "a.md"'), "'chapters.order' must be a list", 14),
        (('order = ["a.md"]', "order = []"), "no chapters in [chapters] order", 14),
        (("[chapters]", "[layout]\nbase_size_pt = 0\n[chapters]"), "must be above 0", 14),
    ],
)
def test_config_errors_name_the_line(
    tmp_path: Path, change: tuple[str, str], message: str, line: int
) -> None:
    root = write_config(tmp_path, MINIMAL.replace(*change))
    with pytest.raises(BookletError) as caught:
        load_config(root)
    problem = caught.value.problems[0]
    assert message in problem.message
    assert problem.line == line
    assert problem.path == "booklet.toml"


def test_slugs() -> None:
    assert slug_of(Path("03-skin-metastasis.md")) == "skin-metastasis"
    assert slug_of(Path("10_Glossary.md")) == "glossary"
    assert slug_of(Path("about.md")) == "about"


def chapter_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chapters" / "x.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_front_matter_is_read(tmp_path: Path) -> None:
    path = chapter_file(
        tmp_path,
        "---\ntitle: Skin\nlast_reviewed: 2026-03-04\nsummary: S\nhandout: true\n"
        "sources:\n  - One\n  - text: Two\n    url: https://example.org\n---\n\nBody\n",
    )
    chapter = read_chapter(path, "x", tmp_path)
    assert chapter.title == "Skin"
    assert chapter.last_reviewed == date(2026, 3, 4)
    assert chapter.handout is True
    assert [(s.text, s.url) for s in chapter.sources] == [
        ("One", None), ("Two", "https://example.org")
    ]
    assert chapter.body_line == 11
    assert chapter.body.strip() == "Body"


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("no front matter\n", "no front matter", 1),
        ("---\ntitle: T\n", "front matter is not closed", 1),
        ("---\ntitle: T\nlast_reviewed: soon\n---\n", "'last_reviewed' must be a date", 3),
        ("---\ntitle: T\nlast_reviewed: 2026-01-01\nsumary: x\n---\n", "unknown front matter", 4),
        ("---\ntitle: T\n  bad: [\n---\n", "malformed front matter", 3),
        ("---\ntitle: !!python/object:os.system x\nlast_reviewed: 2026-01-01\n---\n",
         "malformed front matter", 2),
    ],
)
def test_front_matter_errors(tmp_path: Path, text: str, message: str, line: int) -> None:
    path = chapter_file(tmp_path, text)
    with pytest.raises(BookletError) as caught:
        read_chapter(path, "x", tmp_path)
    problem = caught.value.problems[0]
    assert message in problem.message
    assert (problem.path, problem.line) == ("chapters/x.md", line)


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = chapter_file(tmp_path, "")
    path.write_bytes(b"---\ntitle: T\nlast_reviewed: 2026-01-01\n---\n\ncaf\xe9\n")
    with pytest.raises(BookletError) as caught:
        read_chapter(path, "x", tmp_path)
    assert caught.value.problems[0].line == 6


def test_chapter_outside_the_project(tmp_path: Path) -> None:
    root = write_config(tmp_path, MINIMAL.replace('"a.md"', '"../../etc/passwd"'))
    with pytest.raises(BookletError) as caught:
        load_chapters(load_config(root))
    assert "outside the project" in caught.value.problems[0].message
