"""The part cache: each input invalidates exactly what it should; corrupt entries are rebuilt."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import EPOCH, TODAY

from pipeline.build import build
from pipeline.cache import BlobCache
from pipeline.cli import main
from pipeline.model import BuildReport

Project = Callable[[str | None], Path]
PARTS = 7  # three chapters, the back cover, the front matter, two runs of furniture


def again(root: Path) -> BuildReport:
    return build(root, source_date_epoch=EPOCH, today=TODAY)


def add_to_beta(root: Path, sentence: str) -> None:
    """An edit that moves no page: a sentence under beta's short section."""
    chapter = root / "chapters" / "02-beta.md"
    chapter.write_text(chapter.read_text(encoding="utf-8").replace(
        "## Short section", f"## Short section\n\n{sentence}"), encoding="utf-8")


def entries(root: Path) -> set[Path]:
    return set((root / "output" / ".cache" / "parts").rglob("*/*"))


def test_a_second_build_typesets_nothing_and_is_identical(project: Project) -> None:
    root = project("basic")
    first = again(root)
    pdf = first.output.read_bytes()
    assert (first.cache_hits, first.cache_misses) == (0, PARTS)
    second = again(root)
    assert (second.cache_hits, second.cache_misses) == (PARTS, 0)
    assert second.output.read_bytes() == pdf


def test_an_edit_retypesets_only_its_chapter(project: Project) -> None:
    root = project("basic")
    again(root)
    add_to_beta(root, "One more sentence.")
    report = again(root)
    # Beta itself; the front matter and furniture only if the pages moved.
    assert report.cache_misses == 1
    assert report.cache_hits == PARTS - 1


def test_an_edit_that_changes_page_counts_keeps_later_chapters(project: Project) -> None:
    root = project("basic")
    again(root)
    chapter = root / "chapters" / "01-alpha.md"
    long_text = "\n\n".join(["More text for the alpha chapter, a whole page of it."] * 40)
    chapter.write_text(chapter.read_text(encoding="utf-8") + "\n\n" + long_text,
                       encoding="utf-8")
    before = again(root)
    # Alpha, and the contents and the body's folios that moved.
    assert before.cache_misses == 3
    # Beta, gamma, the back cover, and the front matter's folios stay.
    assert before.cache_hits == PARTS - 3


@pytest.mark.parametrize(
    ("change", "misses"),
    [
        (lambda root: (root / "styles" / "book.css").write_text(
            (root / "styles" / "book.css").read_text(encoding="utf-8") + "\n/* x */\n",
            encoding="utf-8"), PARTS),
        (lambda root: (root / "images" / "diagram.png").write_bytes(
            (root / "images" / "diagram.png").read_bytes() + b"\0"), PARTS),
    ],
)
def test_style_and_image_changes_invalidate(project: Project, change: Callable[[Path], object],
                                            misses: int) -> None:
    root = project("basic")
    again(root)
    change(root)
    report = again(root)
    assert report.cache_misses >= 1
    assert report.cache_misses <= misses


def test_a_corrupt_entry_is_rebuilt_not_trusted(project: Project) -> None:
    root = project("basic")
    good = again(root).output.read_bytes()
    for path in entries(root):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])  # truncated, as by a crash
    report = again(root)
    assert (report.cache_hits, report.cache_misses) == (0, PARTS)
    assert report.output.read_bytes() == good
    assert again(root).cache_hits == PARTS


def test_clean_empties_the_cache(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    root = project("basic")
    again(root)
    assert entries(root)
    assert main(["-C", str(root), "clean"]) == 0
    assert not (root / "output" / ".cache").exists()
    assert "the cache is empty" in capsys.readouterr().err


def test_an_unchanged_book_is_not_assembled_again(project: Project) -> None:
    root = project("basic")
    first = again(root)
    pdf = first.output.read_bytes()
    second = again(root)
    assert "assemble" not in second.seconds  # reused: same parts, same plan, same checks
    assert second.output.read_bytes() == pdf
    assert [str(f) for f in second.findings] == [str(f) for f in first.findings]
    first.output.write_bytes(pdf[:-100])  # the output was damaged meanwhile
    third = again(root)
    assert "assemble" in third.seconds
    assert third.output.read_bytes() == pdf


def test_new_pipeline_code_reuses_nothing(project: Project, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    from pipeline import build as build_module
    from pipeline import cache as cache_module

    root = project("basic")
    again(root)
    monkeypatch.setattr(cache_module, "code_fingerprint", lambda: "another version")
    monkeypatch.setattr(build_module, "code_fingerprint", lambda: "another version")
    report = again(root)
    assert (report.cache_hits, report.cache_misses) == (0, PARTS)
    assert "assemble" in report.seconds


def test_cut_fonts_come_from_the_cache_and_a_damaged_one_is_cut_again(project: Project) -> None:
    root = project("basic")
    pdf = again(root).output.read_bytes()
    cut = sorted((root / "output" / ".cache" / "used-glyphs").iterdir())
    assert cut  # one per face the book shows
    for entry in cut:
        entry.write_bytes(entry.read_bytes()[:-10])  # truncated
    (root / "output" / "guide.pdf").unlink()  # so that it is assembled again
    assert again(root).output.read_bytes() == pdf
    store = BlobCache(root / "output" / ".cache" / "used-glyphs")
    assert all(store.get(entry.name) is not None for entry in cut)  # whole again


def _converting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count real conversions (the cache's misses) by chapter slug."""
    from pipeline import convert as convert_module

    done: list[str] = []
    real = convert_module.convert

    def counted(chapter, root, glossary=None):  # type: ignore[no-untyped-def]
        done.append(chapter.slug)
        return real(chapter, root, glossary)

    monkeypatch.setattr(convert_module, "convert", counted)
    return done


def test_converted_chapters_come_from_the_cache_until_an_input_changes(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.config import load_config
    from pipeline.convert import convert_book
    from pipeline.sources import load_chapters

    root = project("basic")

    def converted() -> list[object]:
        return convert_book(load_chapters(load_config(root)), root)

    done = _converting(monkeypatch)
    first = converted()
    assert sorted(done) == ["alpha", "beta", "gamma"]
    done.clear()
    assert converted() == first and done == []  # all from the cache, equal
    chapter = root / "chapters" / "02-beta.md"
    chapter.write_text(chapter.read_text(encoding="utf-8") + "\nOne more line.\n",
                       encoding="utf-8")
    converted()
    assert done == ["beta"]
    done.clear()
    image = root / "images" / "diagram.png"  # alpha uses it
    image.write_bytes(image.read_bytes() + b"\0")
    converted()
    assert done == ["alpha"]
    done.clear()
    for entry in (root / "output" / ".cache" / "converted").iterdir():
        entry.write_bytes(entry.read_bytes()[:-20])  # damaged: converted again, not trusted
    assert converted() != [] and sorted(done) == ["alpha", "beta", "gamma"]


def test_a_chapter_with_a_mistake_is_reported_every_time(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.config import load_config
    from pipeline.convert import convert_book
    from pipeline.model import BookletError
    from pipeline.sources import load_chapters

    root = project("basic")
    chapter = root / "chapters" / "03-gamma.md"
    chapter.write_text(chapter.read_text(encoding="utf-8") + "\n# A second title\n",
                       encoding="utf-8")
    for _ in range(2):
        with pytest.raises(BookletError, match="heading in the chapter body"):
            convert_book(load_chapters(load_config(root)), root)


def test_fonts_are_cut_to_what_the_book_prints_after_conversion(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.build as build_module
    from pipeline.build import Stopwatch, read_book
    from pipeline.fonts import _cmap

    root = project("basic")
    plain = read_book(root, Stopwatch()).fonts
    assert all(ord("Ω") not in _cmap(face.path) for face in plain)  # not in the book
    assert all(ord("é") not in _cmap(face.path) for face in plain)
    text = build_module.book_text
    monkeypatch.setattr(build_module, "book_text", lambda *args: text(*args) + "Ω")
    more = read_book(root, Stopwatch()).fonts
    assert {face.path.parent for face in more}.isdisjoint({f.path.parent for f in plain})
    assert all(ord("Ω") in _cmap(face.path) for face in more)
    assert all(ord("é") not in _cmap(face.path) for face in more)


def test_an_edit_built_from_the_cache_is_the_same_bytes_as_a_fresh_build(
    project: Project,
) -> None:
    """What the cache remembers (parts, the glyphs each page shows, the preflight's
    reading of each page) changes nothing in the PDF of an edited book."""
    root = project("basic")
    again(root)
    add_to_beta(root, "One more sentence, edited.")
    edited = again(root)
    assert edited.cache_hits > 0
    assert list((root / "output" / ".cache" / "used-glyphs").glob("*")) != []
    pdf = edited.output.read_bytes()
    main(["-C", str(root), "clean"])
    fresh = again(root)
    assert fresh.cache_hits == 0
    assert fresh.output.read_bytes() == pdf
    assert [f.message for f in fresh.findings] == [f.message for f in edited.findings]


def test_lint_lints_again_only_the_chapters_an_edit_changed(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.build as build_module
    from pipeline.config import load_config
    from pipeline.convert import convert_book
    from pipeline.sources import load_chapters

    root = project("basic")
    cache = BlobCache(root / "output" / ".cache" / "lint")
    linted: list[str] = []
    real = build_module.lint_chapter

    def counted(converted, config):  # type: ignore[no-untyped-def]
        linted.append(converted.chapter.slug)
        return real(converted, config)

    monkeypatch.setattr(build_module, "lint_chapter", counted)

    def lint(kept: BlobCache | None = cache) -> build_module.Linted:
        config = load_config(root)
        return build_module.lint_book(convert_book(load_chapters(config), root), config, kept)

    first = lint()
    assert sorted(linted) == ["alpha", "beta", "gamma"]
    linted.clear()
    assert lint() == first and linted == []
    # A sentence far over the limit in beta: beta alone is linted again, and warned about.
    add_to_beta(root, " ".join(["word"] * 80) + ".")
    edited = lint()
    assert linted == ["beta"]
    assert edited == lint(None)  # what linting every chapter afresh finds
    assert len(edited.findings) > len(first.findings)
    linted.clear()
    # A lint setting changed: every chapter is linted again.
    toml = root / "booklet.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + "\n[check]\nmax_sentence_words = 12\n",
                    encoding="utf-8")
    assert lint() == lint(None) and sorted(linted) == sorted(["alpha", "beta", "gamma"] * 2)


def test_the_builds_lint_goes_ahead_of_work_held_for_idle_workers(project: Project) -> None:
    """A batch of copies holds its letters for idle workers (`later`); the edition's
    build waits for its lint, so the lint must not queue behind them."""
    from concurrent.futures import Future

    from pipeline.build import Book
    from pipeline.config import load_config

    handed: list[str] = []

    class Recording:
        def submit(self, function, *args):  # type: ignore[no-untyped-def]
            handed.append("submit")
            return Future()

        def later(self, function, *args):  # type: ignore[no-untyped-def]
            handed.append("later")
            return Future()

    book = Book(load_config(project("basic")), [], ())
    book.lint_in_a_worker(Recording())  # type: ignore[arg-type]
    book.lint_in_a_worker(Recording())  # type: ignore[arg-type]
    assert handed == ["submit"]  # at once, and once
