"""Part -> cache key -> a RenderedPart typeset before (output/.cache/parts/).

A part's typesetting depends only on its HTML document and the files that
document reads (the stylesheet, the fonts, images), plus the typesetter's
version and options: never on where the part lands in the book, because
folios and running heads are laid over the pages afterwards. So the key is
a hash of exactly those, and an edit to one chapter re-typesets that chapter
only, whatever it does to the page count.

Entries are plain data (a JSON header and the PDF bytes) behind a checksum:
a corrupt or truncated entry is detected, deleted and typeset again, never
trusted. Nothing personal is ever cached (cover letters and labels bypass it).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pipeline import code_fingerprint
from pipeline.files import write_atomically
from pipeline.model import PROJECT_URL, Anchor, Part, PendingLink, RenderedPart

T = TypeVar("T")
FORMAT = b"booklet-part-cache 1"
URL_RE = re.compile(re.escape(PROJECT_URL) + r"""([^"'()\s<>]+)""")


class PartCache:
    """Typeset parts by everything that makes them; for one build (files are read once)."""

    def __init__(self, root: Path, engine: str) -> None:
        self.root = root.resolve()
        self.folder = self.root / "output" / ".cache" / "parts"
        self.engine = engine  # the typesetter and its version
        self.hits = 0
        self.misses = 0
        self._file_hashes: dict[Path, str] = {}
        self._files_at: dict[str, Path | None] = {}  # a project URL's file, if it is one
        self._style_files: list[Path] | None = None

    def key(self, part: Part, options: dict[str, object]) -> str:
        digest = hashlib.sha256()
        for piece in (FORMAT.decode(), code_fingerprint(), self.engine,
                      json.dumps(options, sort_keys=True), str(part.tagged), str(part.slots),
                      part.html):
            digest.update(piece.encode("utf-8", "surrogatepass"))
            digest.update(b"\0")
        for path in self._read_files(part):
            digest.update(str(path.relative_to(self.root)).encode())
            digest.update(self._hash(path).encode())
        return digest.hexdigest()

    def _read_files(self, part: Part) -> list[Path]:
        """The project files a document reads: its stylesheet, fonts and images."""
        files = {path for match in URL_RE.finditer(part.html)
                 if (path := self._file_at(match.group(1))) is not None}
        # Stylesheets may name more files (url(...)): count every style file too.
        if self._style_files is None:
            styles = self.root / "styles"
            # A symlink out of the project is never read (the fetcher refuses it too).
            self._style_files = [
                p for p in styles.rglob("*")
                if p.is_file() and p.resolve().is_relative_to(self.root)
            ] if styles.is_dir() else []
        files.update(self._style_files)
        return sorted(files)

    def _file_at(self, relative: str) -> Path | None:
        """The project file a URL names (found once per build: the parts share most)."""
        if relative not in self._files_at:
            path = (self.root / relative).resolve()
            self._files_at[relative] = (
                path if path.is_relative_to(self.root) and path.is_file() else None)
        return self._files_at[relative]

    def _hash(self, path: Path) -> str:
        if path not in self._file_hashes:
            self._file_hashes[path] = hashlib.sha256(path.read_bytes()).hexdigest()
        return self._file_hashes[path]

    def get(self, key: str) -> RenderedPart | None:
        path = self.folder / key[:2] / key
        try:
            data = path.read_bytes()
        except OSError:
            self.misses += 1
            return None
        part = _decode(data)
        if part is None:  # corrupt: never trusted, typeset again
            path.unlink(missing_ok=True)
            self.misses += 1
            return None
        self.hits += 1
        return part

    def put(self, key: str, part: RenderedPart) -> None:
        write_atomically(self.folder / key[:2] / key, _encode(part))


def _encode(part: RenderedPart) -> bytes:
    header = json.dumps({
        "name": part.name,
        "page_count": part.page_count,
        "anchors": [asdict(a) for a in part.anchors],
        "pending_links": [asdict(link) for link in part.pending_links],
        "warnings": list(part.warnings),
    }).encode()
    payload = header + b"\n" + part.pdf
    return FORMAT + b"\n" + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def _decode(data: bytes) -> RenderedPart | None:
    try:
        magic, checksum, payload = data.split(b"\n", 2)
        if magic != FORMAT or hashlib.sha256(payload).hexdigest().encode() != checksum:
            return None
        header, pdf = payload.split(b"\n", 1)
        meta = json.loads(header)
        return RenderedPart(
            name=str(meta["name"]),
            pdf=pdf,
            page_count=int(meta["page_count"]),
            anchors=tuple(Anchor(**a) for a in meta["anchors"]),
            pending_links=tuple(
                PendingLink(link["page"], tuple(link["rect_pt"]), link["target"])
                for link in meta["pending_links"]
            ),
            warnings=tuple(meta["warnings"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


BLOB_FORMAT = b"booklet-blob 1"


class BlobCache:
    """Bytes by key (output/.cache/<kind>/), behind a checksum like the parts."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, key: str) -> bytes | None:
        path = self.folder / key
        try:
            magic, checksum, payload = path.read_bytes().split(b"\n", 2)
        except (OSError, ValueError):
            return None
        if magic != BLOB_FORMAT or hashlib.sha256(payload).hexdigest().encode() != checksum:
            path.unlink(missing_ok=True)  # corrupt: never trusted
            return None
        return payload

    def put(self, key: str, data: bytes) -> None:
        checksum = hashlib.sha256(data).hexdigest().encode()
        write_atomically(self.folder / key, BLOB_FORMAT + b"\n" + checksum + b"\n" + data)

    def load(self, key: str) -> object | None:
        """A value kept with `keep`; None if absent, damaged, or not one this code can read."""
        data = self.get(key)
        if data is None:
            return None
        try:
            return pickle.loads(data)
        except Exception:  # an entry of another version of the pipeline
            return None

    def keep(self, key: str, value: object) -> None:
        self.put(key, pickle.dumps(value))


@dataclass
class Memo:
    """Answers by key (a content's digest, say): the last run's, kept in one cache
    entry, and this run's, which replace them (the keys of older runs are gone)."""

    name: str
    before: dict[str, Any]
    now: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, cache: BlobCache | None, name: str) -> Memo:
        kept = cache.load(name) if cache is not None else None
        return cls(name, kept if isinstance(kept, dict) else {})

    def answer(self, key: str, work: Callable[[], T]) -> T:
        self.now[key] = self.before[key] if key in self.before else work()
        return self.now[key]

    def keep(self, cache: BlobCache | None) -> None:
        if cache is not None and self.now != self.before:
            cache.keep(self.name, self.now)


def file_digest(path: Path | None) -> str | None:
    """The sha256 of a file's bytes; None if there is no such file to read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path is not None else None
    except OSError:
        return None


def hyphenation_patterns(language: str, root: Path) -> None:
    """Pyphen's patterns for `language` (a name pyphen knows), read once per process.

    Pyphen reads a language's patterns from their text: an eighth of a
    second for English, most of what a worker's first part costs more than
    the next. Unpickled, they take a hundredth. They are kept in
    output/.cache/hyphenation/, by the file's bytes and pyphen's version, and
    put where pyphen keeps the patterns it has read (`pyphen.hdcache`), where
    WeasyPrint and lint's syllable count find them.
    """
    import pyphen

    path = pyphen.LANGUAGES[language]
    if path in pyphen.hdcache:
        return
    key = hashlib.sha256(
        f"{pyphen.__version__}\0{path}\0{file_digest(path)}".encode()).hexdigest()
    cache = BlobCache(root / "output" / ".cache" / "hyphenation")
    patterns = cache.load(key)
    if not isinstance(patterns, pyphen.HyphDict):
        patterns = pyphen.HyphDict(path)
        cache.keep(key, patterns)
    pyphen.hdcache[path] = patterns


def clean(root: Path) -> list[str]:
    """Empty the cache (typeset parts and trimmed fonts); say what was removed."""
    folder = root.resolve() / "output" / ".cache"
    if not folder.is_dir():
        return []
    removed = [str(p.relative_to(root.resolve())) for p in folder.iterdir()]
    shutil.rmtree(folder)
    return removed
