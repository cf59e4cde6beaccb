"""A build killed at any moment never damages the last good output; bad output folders."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import EPOCH, REPO, copy_project
from pypdf import PdfReader

from pipeline.cli import main
from pipeline.files import write_atomically

Point = Callable[[Path, float], bool]  # (project, seconds since start) -> kill now?


def _start(root: Path) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH)}
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "-C", str(root), "-q", "build", "-j", "1"],
        cwd=REPO, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the kill takes any workers too
    )


def _kill_when(root: Path, point: Point, timeout_s: float = 120) -> bool:
    """Run a build and SIGKILL it when `point` says so; True if it was killed in time."""
    process = _start(root)
    started = time.perf_counter()
    try:
        while process.poll() is None:
            if point(root, time.perf_counter() - started):
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
                return True
            if time.perf_counter() - started > timeout_s:
                raise AssertionError("the build did not finish")
            time.sleep(0.002)
        return False
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        assert process.stderr is not None
        process.stderr.close()


def _after(seconds: float) -> Point:
    return lambda root, elapsed: elapsed >= seconds


def _parts_cached(count: int) -> Point:
    def point(root: Path, elapsed: float) -> bool:
        return len(list((root / "output" / ".cache" / "parts").glob("*/*"))) >= count
    return point


def _temporary_of(name: str) -> Point:
    return lambda root, elapsed: any((root / "output").glob(f".{name}.*.tmp"))


def _replaced(path: Path) -> Point:
    inode = path.stat().st_ino
    return lambda root, elapsed: path.stat().st_ino != inode


def _edit(root: Path, words: str) -> None:
    chapter = root / "chapters" / "03-gamma.md"
    chapter.write_text(chapter.read_text(encoding="utf-8") + f"\n{words}\n", encoding="utf-8")


def test_killed_builds_keep_the_last_good_pdf(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "p", "basic")
    first = subprocess.run(
        [sys.executable, "-m", "pipeline", "-C", str(root), "-q", "build", "-j", "1"],
        cwd=REPO, env={**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH)}, capture_output=True,
        timeout=300, check=False)
    assert first.returncode == 0, first.stderr
    guide = root / "output" / "guide.pdf"
    good = guide.read_bytes()
    parts_before = len(list((root / "output" / ".cache" / "parts").glob("*/*")))

    _edit(root, "A new closing paragraph changes this chapter's pages.")
    points = {
        "starting up": _after(0.4),
        "typesetting": _parts_cached(parts_before + 1),
        "writing the PDF": _temporary_of("guide.pdf"),
        "just after the PDF moved into place": _replaced(guide),
    }
    seen = {}
    for name, point in points.items():
        killed = _kill_when(root, point)
        data = guide.read_bytes()
        seen[name] = (killed, data)
        assert len(PdfReader(guide).pages) > 0, name  # a whole PDF, whichever it is
        if name == "writing the PDF":
            assert list((root / "output").glob(".guide.pdf.*.tmp"))  # left by the kill

    finished = subprocess.run(
        [sys.executable, "-m", "pipeline", "-C", str(root), "-q", "build", "-j", "1"],
        cwd=REPO, env={**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH)}, capture_output=True,
        timeout=300, check=False)
    assert finished.returncode == 0, finished.stderr
    new = guide.read_bytes()
    assert new != good
    for name, (_, data) in seen.items():
        # Never anything half-written: the last good build, or (killed after the
        # move into place) the new one whole.
        assert data in (good, new), name
    # Killed before the PDF was moved into place: the last good build is untouched.
    assert seen["starting up"] == (True, good)
    assert seen["typesetting"] == (True, good)
    assert seen["writing the PDF"][0]
    assert not list((root / "output").glob(".*.tmp"))  # the next build swept up


def test_write_is_all_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out" / "report.json"
    write_atomically(target, b"old")

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(Exception, match="cannot write: No space left on device"):
        write_atomically(target, b"new and longer")
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]


def _run(root: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    status = main(["-C", str(root), "-q", "build", "-j", "1", *extra])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, err


def test_read_only_output_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_project(tmp_path / "p", "basic")
    (root / "output").mkdir()
    real = tempfile.mkstemp

    def read_only(*args: object, **kwargs: object) -> tuple[int, str]:
        folder = Path(str(kwargs.get("dir")))
        if folder.is_relative_to(root / "output"):
            raise PermissionError(errno.EROFS, "Read-only file system")
        return real(*args, **kwargs)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    monkeypatch.chdir(root)
    status, err = _run(root, capsys)
    assert status == 1
    assert "output/.cache/" in err and ": cannot write: Read-only file system " \
        "(the disk is read-only: write elsewhere with -o)" in err
    assert not (root / "output" / "guide.pdf").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders anyway")
def test_read_only_output_folder_for_real(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_project(tmp_path / "p", "basic")
    (root / "output").mkdir(mode=0o555)
    try:
        status, err = _run(root, capsys)
    finally:
        (root / "output").chmod(0o755)
    assert status == 1
    assert "cannot write: Permission denied" in err


def test_output_folder_that_is_a_file_or_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_project(tmp_path / "p", "basic")
    (root / "output").write_text("not a folder")
    monkeypatch.chdir(root)
    status, err = _run(root, capsys)
    assert status == 1
    assert err.splitlines()[0] == (
        "output: is a file, not a folder (move the file away, or write somewhere else)")

    status, err = _run(root, capsys, "-o", str(root / "no-such-folder" / "guide.pdf"))
    assert status == 1
    assert err.splitlines()[0].startswith("--output: folder '")
    assert "no-such-folder' does not exist (create it first" in err
