"""Bytes -> a file on disk, never half-written.

Every output (PDFs, manifests, reports, cache entries, trimmed fonts) is
written to a hidden temporary file in the same folder, flushed to the disk
(fsync), and only then renamed over the target, which on one file system
either happens whole or not at all. A build killed at any moment leaves the
previous file as it was; at worst a hidden `.name.<pid>.<random>.tmp` file
stays behind, and the next write to the same name removes it once the
process that made it is gone.

A folder that cannot be written to (read-only, full, a file where a folder
should be) ends in a BookletError naming it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from pipeline.model import BookletError
from pipeline.server import alive


def write_atomically(path: Path, data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    """Write `data` to `path`: all of it, or (if anything fails) nothing at all.

    `durable=False` skips the fsyncs, for a file rewritten again and again (a
    manifest kept current): still whole or absent after the process is
    killed, but not promised to survive the machine losing power.
    """
    temporary = write_temporary(path, data, mode, durable)
    publish(temporary, path, durable)


def write_temporary(path: Path, data: bytes, mode: int = 0o644, durable: bool = True) -> Path:
    """Write `data` to a new temporary file next to `path` (fsynced if `durable`); its path.

    The caller moves it into place with `publish` (or deletes it).
    """
    folder = path.parent
    make_folder(folder)
    _remove_stale(path)
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp",
                                        dir=folder)
    except OSError as err:
        raise _cannot_write(folder, err) from None
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            if durable:
                os.fsync(stream.fileno())
        temporary.chmod(mode)
    except OSError as err:
        temporary.unlink(missing_ok=True)
        raise _cannot_write(path, err) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def make_folder(folder: Path, mode: int = 0o777) -> None:
    """Create `folder` (and its parents) if need be; a clear error if it cannot be."""
    for ancestor in [folder, *folder.parents]:
        if ancestor.exists() and not ancestor.is_dir():
            raise BookletError.at(_shown(ancestor), None, "is a file, not a folder",
                                  "move the file away, or write somewhere else")
        if ancestor.is_dir():
            break
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=mode)
    except OSError as err:
        raise _cannot_write(folder, err) from None


def publish(temporary: Path, path: Path, durable: bool = True) -> None:
    """Move a finished temporary file into place, and make the move itself durable."""
    try:
        if temporary.parent != path.parent:
            make_folder(path.parent)
        os.replace(temporary, path)
    except OSError as err:
        raise _cannot_write(path, err) from None
    finally:
        temporary.unlink(missing_ok=True)
    if durable:
        _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename is still atomic
    finally:
        os.close(handle)


def _remove_stale(path: Path) -> None:
    """Temporary files for `path` left by a process that no longer runs (killed mid-write)."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        pid = stale.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not alive(int(pid)):
            with contextlib.suppress(OSError):
                stale.unlink()


def _cannot_write(path: Path, err: OSError) -> BookletError:
    reason = err.strerror or str(err)
    hints = {
        errno.EACCES: "make the folder writable, or write elsewhere with -o",
        errno.EPERM: "make the folder writable, or write elsewhere with -o",
        errno.EROFS: "the disk is read-only: write elsewhere with -o",
        errno.ENOSPC: "free some disk space",
        errno.ENOTDIR: "a file is in the way where a folder should be",
    }
    return BookletError.at(_shown(path), None, f"cannot write: {reason}", hints.get(err.errno))


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)
