"""Is the last build still good? Answered before anything heavy is imported.

`booklet build` with nothing changed should take a blink, not a build. The
digest of a build's inputs covers every file of the project a build may read
(all files outside output/, hidden folders, tests/ and bench/), the
pipeline's own code, the pinned dependencies (pyproject.toml), the command's
options, SOURCE_DATE_EPOCH, and today's date (the review-date check depends
on it). An accepted build records that digest with a hash of each file it
wrote and the summary it printed; the next run with the same digest and the
same files prints the summary again instead of building. Anything else (no
record, another digest, an output changed or gone, a record that does not
parse) means: build.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pipeline import code_fingerprint

SKIPPED = frozenset({"output", "tests", "bench", "node_modules", "__pycache__"})
FORMAT = "booklet-fresh 1"


@dataclass(frozen=True)
class Record:
    digest: str
    outputs: dict[str, str]  # path relative to the project -> sha256
    lines: tuple[str, ...]  # what the build printed about itself


def inputs_digest(root: Path, options: Mapping[str, object], today: date) -> str:
    digest = hashlib.sha256(FORMAT.encode())
    digest.update(json.dumps({**options, "today": today.isoformat()}, sort_keys=True,
                             default=str).encode())
    digest.update(code_fingerprint().encode())
    for path in sorted(_files(root)):
        digest.update(f"{path.relative_to(root).as_posix()}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    found = []
    for directory, subfolders, names in os.walk(folder):
        subfolders[:] = [
            name for name in subfolders if not name.startswith(".") and name not in SKIPPED
        ]
        found.extend(Path(directory, name) for name in names if not name.startswith("."))
    return found


def _record_path(root: Path, options: Mapping[str, object]) -> Path:
    key = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode())
    return root / "output" / ".cache" / "fresh" / f"{key.hexdigest()[:16]}.json"


def still_good(root: Path, options: Mapping[str, object], digest: str) -> Record | None:
    """The last accepted build's record, if nothing it depends on has changed."""
    try:
        data = json.loads(_record_path(root, options).read_text(encoding="utf-8"))
        record = Record(str(data["digest"]), dict(data["outputs"]), tuple(data["lines"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if record.digest != digest or not record.outputs:
        return None
    for name, expected in record.outputs.items():
        path = root / name
        if not path.is_file() or _sha256(path) != expected:
            return None
    return record


def remember(root: Path, options: Mapping[str, object], digest: str,
             outputs: Sequence[Path], lines: Sequence[str]) -> None:
    record = {
        "digest": digest,
        "outputs": {path.relative_to(root).as_posix(): _sha256(path) for path in outputs},
        "lines": list(lines),
    }
    target = _record_path(root, options)
    from pipeline.files import write_atomically  # (not loaded before the check: see above)

    write_atomically(target, (json.dumps(record, indent=1) + "\n").encode())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
