"""Live preview: saved sources -> an incremental build -> the pages, on 127.0.0.1.

`booklet preview` builds the book once, then watches what the book is made
from (booklet.toml, chapters/, styles/, images) and builds again after each
save, through the same incremental build as `booklet build` (the part cache
makes a one-chapter edit cheap). Each build becomes a Snapshot: the PDF whose
pages are shown, and the problems that stopped the build or rejected the
PDF. A failed build keeps the last good pages on the page, marked as out of
date under the `path:line: message` of each problem: never silently.

The page is served by a small HTTP server on 127.0.0.1 (loopback only):

    /                 the page: inline CSS and script, nothing loaded from elsewhere
    /status           JSON: build generation, pages, error text or null, build time
    /page/<n>.png     page n of the shown PDF, rendered on first request, kept per PDF
    /guide.pdf        the shown PDF

Anything else is 404, and a request whose Host header is not a loopback name
is refused (403), so a web page elsewhere cannot reach the server through DNS
rebinding. The page asks for /status twice a second and updates itself when a
build has finished.

pdfium is not thread-safe, not even across documents, and the build's
preflight uses it: one lock keeps page rendering (in the server's threads)
and building (in the watching thread) apart.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import logging
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pypdfium2 as pdfium
import watchfiles

from pipeline.build import build
from pipeline.model import BookletError, BuildReport, Problem
from pipeline.progress import Progress

log = logging.getLogger("booklet")

HOST = "127.0.0.1"
RENDER_SCALE = 1.5  # PDF points to image pixels: 108 dpi, sharp enough on a screen
POLL_MS = 500  # how often the page asks whether a build has finished

# What the book is made from, below the project folder.
SOURCE_FOLDERS = ("chapters", "styles", "images")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")
NOT_SOURCES = ("output", "tests", "bench", "pipeline")


@dataclass(frozen=True)
class Snapshot:
    """What the page shows after a build: its outcome and the PDF whose pages are shown."""

    generation: int = 0  # builds finished; 0 while the first one runs
    version: str = ""  # names the shown PDF in page addresses; new for every new PDF
    title: str = ""
    pages: tuple[tuple[float, float], ...] = ()  # width and height of each page, in points
    problems: tuple[str, ...] = ()  # `path:line: message`; none when the build was good
    rejected: bool = False  # the PDF was built but failed its checks: its pages are shown
    stale: bool = False  # the pages are from an earlier build than the problems
    warnings: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    seconds: float = 0.0
    finished: str = ""  # the time of day the build finished

    @property
    def error(self) -> str | None:
        return "\n".join(self.problems) if self.problems else None

    def status(self, building: bool) -> dict[str, object]:
        return {
            "generation": self.generation,
            "building": building,
            "pages": len(self.pages),
            "error": self.error,
            "problems": list(self.problems),
            "rejected": self.rejected,
            "stale": self.stale,
            "warnings": len(self.warnings),
            "changed": list(self.changed),
            "seconds": round(self.seconds, 3) if self.generation else None,
            "finished": self.finished or None,
            "version": self.version,
        }


class Preview:
    """The book being previewed: rebuild() after a change; the server reads the snapshot."""

    def __init__(self, root: Path, edition: str | None = None, jobs: int | None = None,
                 source_date_epoch: int | None = None, today: date | None = None,
                 progress: Progress | None = None) -> None:
        self.root = root.resolve()
        self.edition = edition
        self.jobs = jobs
        self.source_date_epoch = source_date_epoch
        self.today = today
        self.progress = progress or Progress()
        self.snapshot = Snapshot()  # replaced whole, never changed: safe to read anywhere
        self._pdf_lock = threading.Lock()  # pdfium: one call at a time in this process
        self._building = threading.Event()
        self._document: pdfium.PdfDocument | None = None
        self._pdf = b""
        self._images: dict[int, bytes] = {}  # page number -> PNG, for the shown PDF
        self._run = secrets.token_hex(4)  # page addresses of another run never match

    @property
    def building(self) -> bool:
        return self._building.is_set()

    def rebuild(self, changed: Iterable[str] = ()) -> Snapshot:
        """Build the book again; the new snapshot is what the page shows from now on."""
        changed = tuple(changed)
        started = time.perf_counter()
        self._building.set()
        try:
            with self._pdf_lock:
                try:
                    report = build(self.root, jobs=self.jobs,
                                   source_date_epoch=self.source_date_epoch, today=self.today,
                                   edition=self.edition, progress=self.progress)
                except BookletError as err:
                    snapshot = self._failed(err.problems, changed, started)
                else:
                    snapshot = self._built(report, changed, started)
                self.snapshot = snapshot
        finally:
            self._building.clear()
        return snapshot

    def _built(self, report: BuildReport, changed: tuple[str, ...], started: float) -> Snapshot:
        # An imposed edition is previewed in reading order, as its linear PDF.
        path = report.extras[0] if report.extras else report.output
        pdf = path.read_bytes()
        old = self.snapshot
        if pdf != self._pdf or self._document is None:
            self._open(pdf)
            version = f"{self._run}-{old.generation + 1}"
        else:
            version = old.version
        assert self._document is not None
        sizes = tuple(self._document.get_page_size(i) for i in range(len(self._document)))
        title = self._document.get_metadata_dict().get("Title", "")
        return Snapshot(
            generation=old.generation + 1,
            version=version,
            title=title,
            pages=sizes,
            problems=tuple(str(f) for f in report.findings if f.severity == "error"),
            rejected=report.rejected,
            warnings=tuple(str(f) for f in report.findings if f.severity == "warning"),
            changed=changed,
            seconds=time.perf_counter() - started,
            finished=time.strftime("%H:%M:%S"),
        )

    def _failed(self, problems: Iterable[Problem], changed: tuple[str, ...], started: float
                ) -> Snapshot:
        old = self.snapshot
        shown = sorted(problems, key=lambda p: (p.path, p.line or 0))
        return Snapshot(
            generation=old.generation + 1,
            version=old.version,
            title=old.title,
            pages=old.pages,
            problems=tuple(str(p) for p in shown),
            stale=bool(old.pages),
            changed=changed,
            seconds=time.perf_counter() - started,
            finished=time.strftime("%H:%M:%S"),
        )

    def _open(self, pdf: bytes) -> None:
        """Show this PDF from now on (called with the lock held)."""
        if self._document is not None:
            self._document.close()
        self._document = pdfium.PdfDocument(pdf)
        self._pdf = pdf
        self._images = {}

    def pdf(self) -> bytes:
        return self._pdf

    def page_image(self, number: int) -> bytes | None:
        """Page `number` (from 1) of the shown PDF as a PNG; None when there is no such page."""
        with self._pdf_lock:
            document = self._document
            if document is None or not 1 <= number <= len(document):
                return None
            if number not in self._images:
                page = document[number - 1]
                try:
                    bitmap = page.render(scale=RENDER_SCALE)
                    try:
                        out = io.BytesIO()
                        bitmap.to_pil().save(out, format="PNG", compress_level=1)
                    finally:
                        bitmap.close()
                finally:
                    page.close()
                self._images[number] = out.getvalue()
            return self._images[number]

    def close(self) -> None:
        with self._pdf_lock:
            if self._document is not None:
                self._document.close()
                self._document = None

    def serve(self, port: int) -> PreviewServer:
        """A server for this preview on 127.0.0.1:port (0: any free port); not yet started."""
        try:
            return PreviewServer((HOST, port), self)
        except OSError as err:
            raise BookletError.at(
                "--port", None, f"cannot listen on {HOST}:{port}: {err.strerror or err}",
                "pick another port with --port N",
            ) from None


# --- watching ----------------------------------------------------------------------


class SourceFilter(watchfiles.DefaultFilter):
    """Changes to what the book is made from; not to output/, editor swap files and such."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def __call__(self, change: watchfiles.Change, path: str) -> bool:
        try:
            relative = Path(path).relative_to(self.root)
        except ValueError:
            return False
        parts = relative.parts
        if not parts or parts[0] in NOT_SOURCES or not super().__call__(change, str(relative)):
            return False
        return (
            relative == Path("booklet.toml")
            or parts[0] in SOURCE_FOLDERS
            or relative.suffix.lower() in IMAGE_SUFFIXES
        )


def watch(preview: Preview, on_build: Callable[[Snapshot], None],
          stop: threading.Event | None = None) -> None:
    """Build, then build again after every save, until `stop` is set (or Ctrl-C, raised).

    The watching starts before the first build, and saves made during a build are
    collected meanwhile and start the next one: no save is missed.
    """
    changes_seen = watchfiles.watch(
        preview.root, watch_filter=SourceFilter(preview.root), debounce=1000, step=100,
        stop_event=stop, raise_interrupt=True, rust_timeout=500, yield_on_timeout=True,
    )
    built = False
    for changes in changes_seen:  # an empty set every half second without a change
        if not built:
            on_build(preview.rebuild())
            built = True
        elif changes:
            on_build(preview.rebuild(changed_names(changes, preview.root)))


def changed_names(changes: Iterable[tuple[watchfiles.Change, str]], root: Path) -> list[str]:
    """The files that changed, as the author knows them; editors' temporary files left out."""
    changes = list(changes)
    added = {path for change, path in changes if change == watchfiles.Change.added}
    names = set()
    for _, path in changes:
        relative = Path(path).relative_to(root)
        come_and_gone = path in added and not Path(path).exists()  # saved through a temp file
        if not relative.name.startswith(".") and not come_and_gone:
            names.add(relative.as_posix())
    return sorted(names)


def describe(snapshot: Snapshot) -> str:
    """One line for the terminal: what changed, what came of it, how long it took."""
    what = ""
    if snapshot.changed:
        names = list(snapshot.changed)
        if len(names) > 3:
            names = [*names[:3], f"{len(names) - 3} more"]
        what = f"{', '.join(names)} changed -> "
    if snapshot.problems and not snapshot.rejected:
        return (f"{what}build stopped after {snapshot.seconds:.1f} s: "
                f"{_count(len(snapshot.problems), 'problem')}, shown on the page")
    verb = "built" if snapshot.generation == 1 else "rebuilt"
    pages = _count(len(snapshot.pages), "page")
    if snapshot.warnings:
        pages += f", {_count(len(snapshot.warnings), 'warning')}"
    line = f"{what}{verb} in {snapshot.seconds:.1f} s ({pages})"
    if snapshot.rejected:
        line += f": the PDF failed its checks ({_count(len(snapshot.problems), 'error')})"
    return line


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def run(root: Path, port: int, edition: str | None, jobs: int | None,
        source_date_epoch: int | None, progress: Progress) -> int:
    """`booklet preview`: serve, build, watch and rebuild until Ctrl-C (or a TERM signal)."""
    preview = Preview(root, edition, jobs, source_date_epoch, progress=progress)
    server = preview.serve(port)
    thread = threading.Thread(target=server.serve_forever, name="preview-server", daemon=True)
    # Ctrl-C stops the preview even when it was started where SIGINT is ignored (in
    # the background of a script), and so does `kill`.
    interrupt = signal.signal(signal.SIGINT, signal.default_int_handler)
    terminate = signal.signal(signal.SIGTERM, signal.default_int_handler)
    thread.start()
    try:
        print(f"preview: {server.url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        watch(preview, _announce)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
        preview.close()
        progress.clear()
        signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGTERM, terminate)
    print("preview: stopped", file=sys.stderr)
    return 0


def _announce(snapshot: Snapshot) -> None:
    line = describe(snapshot)
    if snapshot.problems:
        log.error("%s", line)
        for problem in snapshot.problems:
            log.error("  %s", problem)
    else:
        log.info("%s", line)


# --- serving -----------------------------------------------------------------------


class PreviewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], preview: Preview) -> None:
        self.preview = preview
        super().__init__(address, _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"


# The names this machine's loopback goes by, with any port. Anything else in the
# Host header means a page from elsewhere found its way here (DNS rebinding).
_LOOPBACK_HOST = re.compile(r"(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?", re.IGNORECASE)
_PAGE = re.compile(r"/page/([1-9][0-9]{0,5})\.png")


class _Handler(BaseHTTPRequestHandler):
    server: PreviewServer

    def version_string(self) -> str:
        return "booklet-preview"

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the terminal is for builds."""

    def _answer(self, body: bool) -> None:
        if not _LOOPBACK_HOST.fullmatch(self.headers.get("Host", "").strip()):
            self._send(403, "text/plain; charset=utf-8", b"not a loopback host name\n", body)
            return
        # The raw path, never decoded: no %2e%2e or other spelling reaches a file.
        path = self.path.partition("?")[0] if self.path.startswith("/") else ""
        preview = self.server.preview
        if path == "/":
            page = render_page(preview.snapshot, preview.building).encode("utf-8")
            self._send(200, "text/html; charset=utf-8", page, body)
        elif path == "/status":
            status = json.dumps(preview.snapshot.status(preview.building)).encode("utf-8")
            self._send(200, "application/json", status, body)
        elif path == "/guide.pdf" and preview.pdf():
            self._send(200, "application/pdf", preview.pdf(), body)
        elif (match := _PAGE.fullmatch(path)) and (image := preview.page_image(int(match[1]))):
            self._send(200, "image/png", image, body)
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n", body)

    def _send(self, code: int, kind: str, data: bytes, body: bool) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy", _CSP)
        self.end_headers()
        if body:
            self.wfile.write(data)


# --- the page ----------------------------------------------------------------------

_STYLE = """
body { margin: 0; font: 16px/1.45 system-ui, sans-serif; background: #e8e6e1; color: #1d1d1d; }
#report { position: sticky; top: 0; z-index: 1; max-height: 60vh; overflow: auto; }
header { position: relative; background: #fff; padding: .6rem 1rem;
  border-bottom: 1px solid #ccc; }
header h1 { font-size: 1.05rem; margin: 0; }
header p { margin: .2rem 0 0; color: #444; }
.building header::after { content: "Building…"; position: absolute; right: 1rem; top: .7rem;
  color: #7a4b00; font-weight: 600; }
.offline header::after { content: "The preview has stopped."; position: absolute; right: 1rem;
  top: .7rem; color: #a00; font-weight: 600; }
#problems { margin: 0 auto; max-width: 60rem; padding: 1rem 1.2rem; background: #fff1f0;
  border: 3px solid #b3261e; border-radius: 6px; }
#problems h2 { margin: 0 0 .5rem; font-size: 1.2rem; color: #8c1d18; }
#problems pre { white-space: pre-wrap; font-size: 1rem; margin: 0 0 .5rem; }
details { margin: .3rem 0 0; } details pre { white-space: pre-wrap; font-size: .85rem; }
#pages { display: flex; flex-direction: column; align-items: center; gap: 1.2rem;
  padding: 1.2rem 0 3rem; }
#pages figure { margin: 0; text-align: center; }
#pages img { display: block; max-width: min(100vw - 2rem, 920px); height: auto;
  background: #fff; box-shadow: 0 1px 4px rgba(0, 0, 0, .3); }
#pages figcaption { font-size: .8rem; color: #555; }
#pages.stale img { opacity: .35; filter: grayscale(1); }
#pages.stale::before { content: "Out of date: the pages of the last good build";
  font-weight: 600; color: #8c1d18; }
"""

_SCRIPT = """
"use strict";
let generation = Number(document.body.dataset.generation);
async function refresh() {
  const answer = await fetch("/", {cache: "no-store"});
  const next = new DOMParser().parseFromString(await answer.text(), "text/html");
  document.getElementById("report").replaceWith(next.getElementById("report"));
  const pages = document.getElementById("pages");
  const fresh = next.getElementById("pages");
  pages.className = fresh.className;
  const figures = Array.from(fresh.children);
  figures.forEach((figure, i) => {
    const old = pages.children[i];
    if (!old) pages.append(figure);
    else if (old.dataset.key !== figure.dataset.key) old.replaceWith(figure);
  });
  while (pages.children.length > figures.length) pages.lastElementChild.remove();
  document.title = next.title;
  generation = Number(next.body.dataset.generation);
}
async function poll() {
  try {
    const status = await (await fetch("/status", {cache: "no-store"})).json();
    document.body.classList.remove("offline");
    document.body.classList.toggle("building", status.building);
    if (status.generation !== generation) await refresh();
  } catch (error) {
    document.body.classList.add("offline");
  }
  setTimeout(poll, POLL_MS);
}
setTimeout(poll, POLL_MS);
""".replace("POLL_MS", str(POLL_MS))


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# Only this page's own style and script run; images and requests go to this server only.
_CSP = (
    f"default-src 'none'; img-src 'self' data:; connect-src 'self'; style-src {_sha256(_STYLE)}; "
    f"script-src {_sha256(_SCRIPT)}; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


def render_page(snapshot: Snapshot, building: bool) -> str:
    """The whole page for one snapshot; the script swaps in the next one when it comes."""
    e = html.escape
    title = snapshot.title or "booklet"
    if snapshot.generation == 0:
        summary = "Building the book…"
    else:
        summary = f"Build {snapshot.generation}, {snapshot.finished}, {snapshot.seconds:.1f} s"
        if snapshot.changed:
            summary += ", after a change to " + ", ".join(snapshot.changed)
        summary += f": {len(snapshot.pages)} pages"
    report = [f'<div id="report"><header><h1>{e(title)}: preview</h1><p>{e(summary)}</p>']
    if snapshot.warnings:
        report.append(f"<details><summary>{_count(len(snapshot.warnings), 'warning')}"
                      f"</summary><pre>{e(chr(10).join(snapshot.warnings))}</pre></details>")
    report.append("</header>")
    if snapshot.problems:
        count = len(snapshot.problems)
        if snapshot.rejected:
            heading = f"The PDF failed its checks: {_count(count, 'error')}"
            after = "The pages below are this build's, kept aside in output/rejected/."
        else:
            heading = f"The build stopped: {_count(count, 'problem')}"
            after = ("The pages below are from the last good build, before this change."
                     if snapshot.stale else "There are no pages to show yet.")
        report.append(f'<section id="problems" role="alert"><h2>{e(heading)}</h2>'
                      f"<pre>{e(chr(10).join(snapshot.problems))}</pre><p>{e(after)}</p>"
                      "</section>")
    report.append("</div>")
    figures = []
    for number, (width_pt, height_pt) in enumerate(snapshot.pages, 1):
        key = f"{snapshot.version}-{number}"
        figures.append(
            f'<figure data-key="{e(key)}"><img loading="lazy" alt="Page {number}" '
            f'src="/page/{number}.png?v={e(snapshot.version)}" '
            f'width="{round(width_pt * RENDER_SCALE)}" height="{round(height_pt * RENDER_SCALE)}">'
            f"<figcaption>{number}</figcaption></figure>"
        )
    stale = ' class="stale"' if snapshot.stale else ""
    body_class = ' class="building"' if building else ""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'  # no request for /favicon.ico
        f"<title>{e(title)}: preview</title><style>{_STYLE}</style></head>"
        f'<body data-generation="{snapshot.generation}"{body_class}>'
        + "".join(report)
        + f'<main id="pages"{stale}>{"".join(figures)}</main>'
        + f"<script>{_SCRIPT}</script></body></html>\n"
    )
