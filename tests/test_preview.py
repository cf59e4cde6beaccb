"""The live preview: a server on 127.0.0.1 that shows the last build and its problems."""

from __future__ import annotations

import http.client
import io
import json
import os
import queue
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import watchfiles
from conftest import EPOCH, TODAY, copy_project
from pypdf import PdfReader

from pipeline.model import BookletError
from pipeline.preview import (
    Preview,
    PreviewServer,
    Snapshot,
    SourceFilter,
    changed_names,
    describe,
    render_page,
)


@dataclass
class Live:
    root: Path
    preview: Preview
    server: PreviewServer


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> dict[str, object]:
        assert self.headers["Content-Type"] == "application/json"
        return json.loads(self.body)  # type: ignore[no-any-return]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def get(port: int, path: str, host: str | None = "default") -> Answer:
    """GET exactly this path (never normalised), with this Host header (None: none)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            connection.putheader("Host", f"127.0.0.1:{port}" if host == "default" else host)
        connection.endheaders()
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def start(root: Path) -> Live:
    preview = Preview(root, jobs=2, source_date_epoch=EPOCH, today=TODAY)
    server = preview.serve(0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return Live(root, preview, server)


def stop(live: Live) -> None:
    live.server.shutdown()
    live.server.server_close()
    live.preview.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    running = start(copy_project(tmp_path_factory.mktemp("preview") / "p", "basic"))
    running.preview.rebuild()
    yield running
    stop(running)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_listens_on_loopback_and_serves_the_page(live: Live) -> None:
    assert live.server.server_address[0] == "127.0.0.1"
    answer = get(live.server.port, "/")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    page = answer.text
    assert "<title>Fixture Book: preview</title>" in page
    assert 'data-generation="1"' in page
    assert page.count('<img loading="lazy"') == 12
    assert 'alt="Page 1"' in page and 'alt="Page 12"' in page
    assert "://" not in page  # nothing is loaded from anywhere else
    assert 'id="problems"' not in page


def test_status(live: Live) -> None:
    status = get(live.server.port, "/status").json()
    assert status["generation"] == 1
    assert status["pages"] == 12
    assert status["error"] is None
    assert status["building"] is False
    assert isinstance(status["seconds"], float) and status["seconds"] > 0


def test_pages_as_images_and_the_pdf(live: Live) -> None:
    first = get(live.server.port, "/page/1.png?v=whatever")
    assert first.status == 200 and first.headers["Content-Type"] == "image/png"
    assert png_size(first.body) == (918, 1188)  # Letter at 1.5 px per point
    assert get(live.server.port, "/page/12.png").status == 200
    for missing in ("/page/0.png", "/page/13.png", "/page/01.png", "/page/-1.png",
                    "/page/1.jpg", "/page/99999999999.png"):
        assert get(live.server.port, missing).status == 404, missing
    pdf = get(live.server.port, "/guide.pdf")
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert len(PdfReader(io.BytesIO(pdf.body)).pages) == 12


@pytest.mark.parametrize("host", [
    "evil.example", "evil.example:8000", "127.0.0.1.evil.example", "localhost.evil.example",
    "192.168.1.5", "", None,
])
def test_a_host_that_is_not_loopback_is_refused(live: Live, host: str | None) -> None:
    for path in ("/", "/status", "/page/1.png", "/guide.pdf"):
        answer = get(live.server.port, path, host=host)
        assert answer.status == 403, (host, path)
        assert b"Fixture" not in answer.body and b"generation" not in answer.body


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:8000", "127.0.0.1", "[::1]:8000"])
def test_loopback_names_are_served(live: Live, host: str) -> None:
    assert get(live.server.port, "/status", host=host).status == 200


@pytest.mark.parametrize("path", [
    "/../pyproject.toml", "/page/../../x", "/%2e%2e/booklet.toml", "/%2E%2E%2Fbooklet.toml",
    "/page/%2e%2e/%2e%2e/booklet.toml", "/page/1.png/../../booklet.toml", "/booklet.toml",
    "/chapters/01-alpha.md", "/output/guide.pdf", "//etc/passwd", "/status/../booklet.toml",
    "/guide.pdf/..", "/index.html", "http://127.0.0.1/booklet.toml", "*",
])
def test_nothing_but_the_preview_is_served(live: Live, path: str) -> None:
    answer = get(live.server.port, path)
    assert answer.status == 404, path
    assert answer.body == b"not found\n"


def test_port_in_use(live: Live) -> None:
    with pytest.raises(BookletError, match=r"cannot listen on 127\.0\.0\.1:\d+"):
        live.preview.serve(live.server.port)


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_an_edit_a_mistake_and_its_fix(tmp_path: Path) -> None:
    live = start(copy_project(tmp_path / "p", "basic"))
    port = live.server.port
    try:
        live.preview.rebuild()
        gamma = live.root / "chapters" / "03-gamma.md"
        more = "\n\n".join(f"Zanzibar paragraph {n} about the care team." for n in range(60))
        gamma.write_text(gamma.read_text(encoding="utf-8") + "\n" + more + "\n",
                         encoding="utf-8")
        live.preview.rebuild(["chapters/03-gamma.md"])
        status = get(port, "/status").json()
        assert status["generation"] == 2 and status["error"] is None
        assert status["changed"] == ["chapters/03-gamma.md"]
        assert isinstance(status["pages"], int) and status["pages"] > 12
        edited = PdfReader(io.BytesIO(get(port, "/guide.pdf").body))
        assert len(edited.pages) == status["pages"]
        assert "Zanzibar paragraph 59" in "".join(p.extract_text() for p in edited.pages)
        assert f'alt="Page {status["pages"]}"' in get(port, "/").text

        # A mistake: the page says where and what, over the last good pages marked stale.
        beta = live.root / "chapters" / "02-beta.md"
        replace_in(beta, "last_reviewed: 2026-10-01", "last_reviewd: 2026-10-01")
        live.preview.rebuild(["chapters/02-beta.md"])
        status = get(port, "/status").json()
        message = ("chapters/02-beta.md:3: unknown front matter key 'last_reviewd' "
                   "(did you mean 'last_reviewed'?)")
        assert status["generation"] == 3
        assert isinstance(status["error"], str) and message in status["error"]
        assert status["stale"] is True
        page = get(port, "/").text
        assert 'role="alert"' in page
        assert message.replace("'", "&#x27;") in page
        assert '<main id="pages" class="stale">' in page
        assert "from the last good build" in page
        kept = PdfReader(io.BytesIO(get(port, "/guide.pdf").body))
        assert len(kept.pages) == status["pages"] == len(edited.pages)

        replace_in(beta, "last_reviewd: 2026-10-01", "last_reviewed: 2026-10-01")
        live.preview.rebuild(["chapters/02-beta.md"])
        status = get(port, "/status").json()
        assert status["generation"] == 4
        assert status["error"] is None and status["stale"] is False
        page = get(port, "/").text
        assert 'id="problems"' not in page and 'class="stale"' not in page
    finally:
        stop(live)


def test_what_is_watched(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    accept = SourceFilter(root)
    for name in ("booklet.toml", "chapters/03-skin.md", "styles/book.css",
                 "styles/templates/chapter.html", "images/diagram.png", "figures/chart.svg"):
        assert accept(watchfiles.Change.modified, str(root / name)), name
    for name in ("output/guide.pdf", "output/.cache/parts/x", "chapters/.03-skin.md.swp",
                 "chapters/03-skin.md~", ".git/index", ".venv/lib/x.py", "tests/books/a.png",
                 "notes.txt", "pipeline/build.py"):
        assert not accept(watchfiles.Change.modified, str(root / name)), name
    (root / "chapters").mkdir()
    (root / "chapters" / "03-skin.md").write_text("saved", encoding="utf-8")
    changes = {
        (watchfiles.Change.added, str(root / "chapters" / "sedX1y2Z3")),  # sed -i's temp file
        (watchfiles.Change.deleted, str(root / "chapters" / "sedX1y2Z3")),
        (watchfiles.Change.added, str(root / "chapters" / "03-skin.md")),
        (watchfiles.Change.modified, str(root / "chapters" / ".#03-skin.md")),
    }
    assert changed_names(changes, root) == ["chapters/03-skin.md"]


def test_what_the_terminal_says() -> None:
    first = Snapshot(generation=1, pages=((612, 792),) * 18, seconds=5.61)
    assert describe(first) == "built in 5.6 s (18 pages)"
    edit = replace(first, generation=2, changed=("chapters/03-x.md",), seconds=1.38,
                   warnings=("w",))
    assert describe(edit) == "chapters/03-x.md changed -> rebuilt in 1.4 s (18 pages, 1 warning)"
    many = replace(edit, changed=tuple(f"styles/{n}.css" for n in "abcde"), warnings=())
    assert describe(many).startswith("styles/a.css, styles/b.css, styles/c.css, 2 more changed")
    stopped = replace(edit, problems=("chapters/03-x.md:4: unknown front matter key 'x'",),
                      stale=True, seconds=0.02)
    assert describe(stopped) == ("chapters/03-x.md changed -> build stopped after 0.0 s: "
                                 "1 problem, shown on the page")
    rejected = replace(edit, problems=("output/guide.pdf: error: ... [contents]",),
                       rejected=True, warnings=())
    assert describe(rejected) == ("chapters/03-x.md changed -> rebuilt in 1.4 s (18 pages): "
                                  "the PDF failed its checks (1 error)")
    page = render_page(rejected, building=False)
    assert "The PDF failed its checks: 1 error" in page and 'class="stale"' not in page


def test_booklet_preview_rebuilds_after_a_save(tmp_path: Path) -> None:
    """The command as a user runs it: start, open, save a chapter, see it, Ctrl-C."""
    root = copy_project(tmp_path / "p", "basic")
    environment = {**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH)}
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "-C", str(root), "preview", "--port", "0",
         "-j", "2"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env=environment,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=lambda: [lines.put(line) for line in process.stderr or ()], daemon=True
    )
    reader.start()
    said: list[str] = []

    def wait_for(test: Callable[[], bool], what: str, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while not test():
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError(f"waited for {what}; stderr: {said}")
            time.sleep(0.1)

    def heard(text: str) -> bool:
        while not lines.empty():
            said.append(lines.get())
        return any(text in line for line in said)

    try:
        wait_for(lambda: heard("preview: http://127.0.0.1:"), "the address")
        address = next(x for x in said if "preview: http" in x)
        port = int(re.search(r"127\.0\.0\.1:([0-9]+)/", address)[1])  # type: ignore[index]

        def generation() -> int:
            value = get(port, "/status").json()["generation"]
            assert isinstance(value, int)
            return value

        wait_for(lambda: generation() == 1, "the first build")
        assert "Fixture Book: preview" in get(port, "/").text
        beta = root / "chapters" / "02-beta.md"
        replace_in(beta, "## Short section", "## Edited while watched")
        saved = time.monotonic()
        wait_for(lambda: generation() == 2, "the rebuild after a save", timeout_s=60)
        seen_s = time.monotonic() - saved
        status = get(port, "/status").json()
        assert status["changed"] == ["chapters/02-beta.md"] and status["error"] is None
        text = "".join(p.extract_text() for p in
                       PdfReader(io.BytesIO(get(port, "/guide.pdf").body)).pages)
        assert "Edited while watched" in text
        wait_for(lambda: heard("chapters/02-beta.md changed -> rebuilt in"), "the report")
        assert seen_s < 30, seen_s
        process.send_signal(signal.SIGINT)  # Ctrl-C
        assert process.wait(timeout=30) == 0
        wait_for(lambda: heard("preview: stopped"), "the goodbye", timeout_s=10)
        assert not any("Traceback" in line for line in said), said
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        reader.join(timeout=10)  # the pipe is at its end once the process has gone
        if process.stderr:
            process.stderr.close()
