"""Fuzzing: any chapter either converts and typesets, or ends in a BookletError.

Chapters are generated from a grammar of what the guide uses (headings,
lists, tables, footnotes, call-outs, links, images, definition lists,
write-lines, quotes, raw HTML good and bad) mixed with random Unicode.
Anything but success or the project's own error (a traceback, a hang) fails.

Reproducible in CI (derandomized: the same examples every run) and within
a minute; BOOKLET_FUZZ_EXAMPLES=N runs N times as many, and
BOOKLET_FUZZ_SEED=S explores other examples (a fixed seed, not derandomized).
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from conftest import BOOKS, copy_project
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

from pipeline.config import load_config
from pipeline.convert import convert
from pipeline.fonts import shipped_faces
from pipeline.lint import lint_chapter
from pipeline.model import BookletError, Config
from pipeline.sources import read_chapter
from pipeline.templates import Templates
from pipeline.typeset import typeset

SCALE = int(os.environ.get("BOOKLET_FUZZ_EXAMPLES", "1"))
SEED = os.environ.get("BOOKLET_FUZZ_SEED")
FRONT = "---\ntitle: Fuzzed\nlast_reviewed: 2026-10-01\n---\n\n"
EXAMPLE_LIMIT_S = 60


def fuzz_settings(examples: int):  # type: ignore[no-untyped-def]
    def apply(test):  # type: ignore[no-untyped-def]
        configured = settings(
            max_examples=examples * SCALE, deadline=None, derandomize=SEED is None,
            database=None, print_blob=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                   HealthCheck.function_scoped_fixture],
        )(test)
        return seed(int(SEED))(configured) if SEED is not None else configured
    return apply


# --- the grammar ------------------------------------------------------------------------

unicode_text = st.text(  # control characters: see test_any_bytes_read_or_say_why
    st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)
word = st.sampled_from(
    ["care", "team", "skin", "wound", "dressing", "pain", "HER2+", "5 mg", "½", "café", "naïve",
     "’s", "“quoted”", "—", "…", "e.g.", "ulcerating", "metastasis", "x²", "→", "🎗️", "ß",
     "Ωmega", "עברית", "العربية", "中文", "   ", "\t", "*", "_", "#", "|", "[", "]", "<", ">",
     "&amp;", "&", "\\", "`", "{", "}", ":", "!!!", "[^1]", "http://", "---", "\u200b",
     "\u00ad", "\ufeff", "\u202e", "a" * 60])
text = st.lists(st.one_of(word, word, word, unicode_text), min_size=1, max_size=12).map(" ".join)
RAW_HTML = [
    "<b>bold</b>", "<sup>2</sup>", "<span class='x'>s</span>", "<br>", "<abbr title='t'>T</abbr>",
    "<script>alert(1)</script>", "<iframe src='https://x.org'></iframe>",
    "<img src='file:///etc/passwd' onerror='x()'>", "<a href='javascript:x()'>j</a>",
    "<style>@import url(file:///etc/passwd);</style>", "<object data='x'></object>",
    "<link rel='attachment' href='file:///etc/passwd'>", "<div><div><p>nested</p></div></div>",
    "<table><tr><td>raw</td></tr></table>", "<!-- booklet-ignore: raw-html -->", "<", "</p>",
    "<svg><circle r='1'/></svg>", "<p style='background:url(https://x.org/t.png)'>s</p>",
]
# Targets that are errors (a missing image, a file: link...) are rarer in the
# grammar that is typeset, so that most of its examples get that far.
GOOD_LINKS = ["https://example.org/a", "https://example.org/b?c=1&d=é", "mailto:a@b.c", "#first"]
BAD_LINKS = ["javascript:alert(1)", "file:///etc/passwd", "../../x.md", "other.md", "#nope"]
GOOD_IMAGES = ["../images/diagram.png"]
BAD_IMAGES = ["../images/missing.png", "https://x.org/a.png", "../../../etc/passwd",
              "data:image/png;base64,AAAA"]


def grammar(hostile: bool) -> st.SearchStrategy[str]:
    """Chapter bodies; `hostile` ones ask for bad targets as often as good ones."""
    links = st.sampled_from(GOOD_LINKS + (BAD_LINKS if hostile else []))
    images = st.sampled_from(GOOD_IMAGES * (1 if hostile else 4) + (BAD_IMAGES if hostile else []))
    inline = st.one_of(
        text, text, text,
        st.builds("*{}*".format, text), st.builds("**{}**".format, text),
        st.builds("`{}`".format, text),
        st.builds("[{}]({})".format, text, links),
        st.builds("<{}>".format, st.sampled_from(GOOD_LINKS[:2])),
        st.builds("![{}]({})".format, text, images),
        st.builds("{}[^{}]".format, text, st.sampled_from(["1", "2", "x"])),
        st.sampled_from(RAW_HTML),
    )
    line = st.lists(inline, min_size=1, max_size=5).map(" ".join)
    paragraph = st.lists(line, min_size=1, max_size=3).map("\n".join)
    list_items = st.lists(st.tuples(st.integers(0, 12 if hostile else 9), line),
                          min_size=1, max_size=6)
    cells = st.lists(st.lists(text.map(lambda t: t.replace("|", "/")), min_size=1, max_size=4),
                     min_size=0, max_size=6)
    blocks = [
        paragraph, paragraph, paragraph,
        st.builds("## {}".format, text), st.builds("### {}".format, text),
        st.builds("#### {}".format, text),
        st.builds(_list, list_items, st.booleans()),
        st.builds(_table, cells, st.integers(1, 4)),
        st.builds("> {}".format, line),
        st.builds(lambda n, t: "> " * n + t, st.integers(1, 12 if hostile else 9), line),
        st.builds('!!! {} "{}"\n    {}'.format, st.sampled_from(
            ["talk", "key", "note", "warning", "tip", "other"]), text, line),
        st.builds("!!! talk\n    {}".format, line),
        st.builds("[^{}]: {}".format, st.sampled_from(["1", "2", "y"]), line),
        st.builds("{}\n:   {}".format, text, line),
        st.builds("[write-lines: {}]".format, st.integers(0, 200)),
        st.builds("```\n{}\n```".format, text),
        st.just("---"),
        st.sampled_from(RAW_HTML),
        unicode_text,
    ]
    if hostile:
        blocks.append(st.builds("# {}".format, text))
    return st.lists(st.one_of(*blocks), min_size=1, max_size=8).map("\n\n".join)


def _list(items: list[tuple[int, str]], ordered: bool) -> str:
    """Depths go only one level deeper at a time, as Markdown nests them."""
    marker = "1." if ordered else "-"
    lines, previous = [], -1
    for depth, item in items:
        previous = min(depth, previous + 1)
        lines.append("    " * previous + f"{marker} {item}")
    return "\n".join(lines)


def _table(rows: list[list[str]], columns: int) -> str:
    head = "| " + " | ".join(f"h{i}" for i in range(columns)) + " |"
    return "\n".join([head, "|" + "---|" * columns,
                      *("| " + " | ".join(row[:columns]) + " |" for row in rows)])


# --- the properties ---------------------------------------------------------------------


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"an example ran for over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Config, Templates]:
    root = copy_project(tmp_path_factory.mktemp("fuzz"), None)
    shutil.copytree(BOOKS / "basic" / "images", root / "images")
    config = (BOOKS / "basic" / "booklet.toml").read_text(encoding="utf-8")
    config = config.replace('["01-alpha.md", "02-beta.md", "03-gamma.md"]', '["01-x.md"]')
    (root / "booklet.toml").write_text(config, encoding="utf-8")
    (root / "chapters").mkdir()
    loaded = load_config(root)
    return root, loaded, Templates(loaded, shipped_faces(root / "styles" / "fonts"))


def _kind(err: BookletError) -> str:
    """What stopped an example, for the statistics (--hypothesis-show-statistics)."""
    return err.problems[0].message.split("'")[0].split(":")[0][:40]


def _chapter(root: Path, body: str, raw: bytes | None = None):  # type: ignore[no-untyped-def]
    path = root / "chapters" / "01-x.md"
    path.write_bytes(raw if raw is not None else (FRONT + body).encode("utf-8"))
    return read_chapter(path, "x", root)


@fuzz_settings(examples=300)
@given(body=grammar(hostile=True))
def test_conversion_succeeds_or_says_why(book: tuple[Path, Config, Templates], body: str
                                         ) -> None:
    root, config, _ = book
    with time_limit(EXAMPLE_LIMIT_S):
        try:
            converted = convert(_chapter(root, body), root)
            lint_chapter(converted, config)
            event("converted")
        except BookletError as err:
            assert err.problems and all(p.path == "chapters/01-x.md" for p in err.problems)
            event(f"refused: {_kind(err)}")


@fuzz_settings(examples=40)
@given(raw=st.binary(max_size=300), body=st.text(max_size=200))
def test_any_bytes_read_or_say_why(book: tuple[Path, Config, Templates], raw: bytes, body: str
                                   ) -> None:
    root, _, _ = book
    with time_limit(EXAMPLE_LIMIT_S):
        for data in (raw, FRONT.encode() + raw, (FRONT + body).encode("utf-8", "surrogatepass")):
            with suppress(BookletError):
                convert(_chapter(root, "", data), root)


@fuzz_settings(examples=40)
@given(body=grammar(hostile=False))
def test_typesetting_succeeds_or_says_why(book: tuple[Path, Config, Templates], body: str
                                          ) -> None:
    root, _, templates = book
    with time_limit(EXAMPLE_LIMIT_S):
        try:
            converted = convert(_chapter(root, body), root)
            rendered = typeset(templates.chapter(converted, [converted]), root,
                               whole_fonts=False)
            assert rendered.page_count >= 1
            event("typeset")
        except BookletError as err:
            assert err.problems
            event(f"refused: {_kind(err)}")
