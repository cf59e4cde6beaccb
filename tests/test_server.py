"""The workers' server kept warm between commands (pipeline/server.py).

Each test gets a folder of its own for servers (XDG_RUNTIME_DIR), and stops
what it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EPOCH, REPO, copy_project

from pipeline import server
from pipeline.workers import Workers

pytestmark = pytest.mark.skipif(sys.platform != "linux" or sys.version_info[:2] != (3, 11),
                                reason="kept warm on Linux, with Python 3.11, only")


@pytest.fixture
def kept_warm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("BOOKLET_SERVER", "on")
    yield runtime / "booklet"
    server.stop(wait=10)
    assert server.running() == []


def _children(pid: int) -> bool:
    """Whether `pid` has a process of its own running (a worker of a command)."""
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError, IndexError), \
                        open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        return True
    return False


def _servers(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.sock"))


def test_a_second_command_forks_its_workers_from_the_first_ones_server(kept_warm: Path) -> None:
    with Workers(2) as workers:
        first = {workers.submit(os.getppid).result() for _ in range(4)}
    started = server.running()
    assert len(started) == 1
    with Workers(2) as workers:
        second = {workers.submit(os.getppid).result() for _ in range(4)}
    assert first == second and first <= set(started)  # the same server forked them all
    assert server.running() == started
    assert len(_servers(kept_warm)) == 1


def test_a_worker_has_its_commands_environment_not_the_servers(
        kept_warm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOKLET_TEST_MARK", "first")
    with Workers(2) as workers:
        assert workers.submit(os.getenv, "BOOKLET_TEST_MARK").result() == "first"
    monkeypatch.setenv("BOOKLET_TEST_MARK", "second")
    with Workers(2) as workers:
        assert workers.submit(os.getenv, "BOOKLET_TEST_MARK").result() == "second"
        assert workers.submit(os.getcwd).result() == os.getcwd()
    assert len(_servers(kept_warm)) == 1  # the same server


def test_a_setting_the_typesetter_reads_at_its_start_means_another_server(
        kept_warm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Workers(2) as workers:
        workers.submit(os.getpid).result()
    monkeypatch.setenv("FONTCONFIG_FILE", "/nonexistent/fonts.conf")
    with Workers(2) as workers:
        workers.submit(os.getpid).result()
    assert len(_servers(kept_warm)) == 2


def test_the_command_returns_while_its_server_stays_and_the_output_is_the_same(
        kept_warm: Path, tmp_path: Path) -> None:
    # The server holds none of the command's output pipes: a caller that reads
    # them to the end (as CI does) is not kept waiting for the server.
    built = []
    for name, setting in (("alone", "off"), ("warm", "on"), ("again", "on")):
        root = copy_project(tmp_path / name)
        environment = {**os.environ, "BOOKLET_SERVER": setting,
                       "SOURCE_DATE_EPOCH": str(EPOCH), "PYTHONPATH": str(REPO)}
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "pipeline", "-C", str(root), "-q",
                                 "build"], capture_output=True, text=True, env=environment,
                                timeout=120, check=False)
        assert result.returncode == 0, result.stderr
        assert time.monotonic() - started < 60
        built.append((root / "output" / "guide.pdf").read_bytes())
    assert len(server.running()) == 1  # still there for the next command
    assert built[0] == built[1] == built[2]


def test_stop_ends_the_server_and_the_next_command_starts_another(kept_warm: Path) -> None:
    with Workers(2) as workers:
        before = workers.submit(os.getppid).result()
    assert server.stop(wait=10) == 1
    assert server.running() == [] and _servers(kept_warm) == []
    with Workers(2) as workers:
        after = workers.submit(os.getppid).result()
    assert after != before


def test_an_idle_server_exits_by_itself(kept_warm: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOKLET_SERVER_IDLE", "0.5")
    with Workers(2) as workers:
        workers.submit(os.getpid).result()
    pids = server.running()
    assert len(pids) == 1
    deadline = time.monotonic() + 15
    while server.running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.running() == []
    assert list(kept_warm.iterdir()) == []  # it tidied up after itself


def test_a_server_sent_sigterm_exits_and_tidies_its_folder(kept_warm: Path) -> None:
    with Workers(2) as workers:
        workers.submit(os.getpid).result()
    [pid] = server.running()
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while server.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not server.alive(pid)
    assert list(kept_warm.iterdir()) == []


def test_a_server_is_not_idle_while_a_commands_workers_run(
        kept_warm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOKLET_SERVER_IDLE", "0.2")
    with Workers(2) as workers:
        assert workers.submit(time.sleep, 2.0).result() is None  # outlives the idle time
        assert workers.submit(os.getpid).result()


def test_a_folder_others_can_enter_is_not_used(kept_warm: Path) -> None:
    kept_warm.mkdir(mode=0o700, parents=True)
    kept_warm.chmod(0o777)
    with pytest.raises(PermissionError):
        server.folder()
    with Workers(2) as workers:  # a server of the command's own, as without one kept warm
        assert workers.submit(os.getpid).result()
    assert server.running() == [] and _servers(kept_warm) == []
    kept_warm.chmod(0o700)


def test_a_command_runs_in_a_process_of_the_server_once_one_is_warm(
        kept_warm: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_project(tmp_path / "book")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    command = ["-C", str(root), "build"]
    # None: run it here. No server runs yet (none is started for this), or one
    # job only, or the command was forwarded already.
    assert server.forward(command, None) is None and server.running() == []
    with Workers(2) as workers:  # the first command starts the server
        workers.submit(os.getpid).result()
    assert server.forward(command, 1) is None
    monkeypatch.setenv("BOOKLET_FORWARDED", "1")
    assert server.forward(command, None) is None
    monkeypatch.delenv("BOOKLET_FORWARDED")
    capfd.readouterr()
    # Forwarded: it prints here (on this process's own stderr) and says how it went.
    assert server.forward(command, None) == 0
    said = capfd.readouterr().err
    assert "booklet: 0 errors" in said and "output/guide.pdf" in said
    assert (root / "output" / "guide.pdf").is_file()
    chapter = root / "chapters" / "02-beta.md"
    chapter.write_text(chapter.read_text().replace("title: Beta chapter", "title: [Beta"))
    assert server.forward(command, None) == 1
    assert "chapters/02-beta.md:" in capfd.readouterr().err


def test_every_module_the_server_loads_when_idle_is_there() -> None:
    # The server passes over a module that fails to load (a command loads it
    # then, itself): a misspelt name would cost every command silently.
    from test_startup import loaded_after

    loaded = loaded_after("import " + ", ".join(server.PRELOAD + server.LATER))
    assert set(server.PRELOAD + server.LATER) <= loaded


def test_ctrl_c_stops_a_forwarded_build_and_leaves_the_last_good_pdf(
        kept_warm: Path, tmp_path: Path) -> None:
    from bench.synthetic import write_book

    root = write_book(tmp_path / "book", chapters=6, paragraphs=8)
    environment = {**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "pipeline", "-C", str(root), "build"]
    subprocess.run(command, capture_output=True, env=environment, timeout=180, check=True)
    guide = (root / "output" / "guide.pdf").read_bytes()
    for chapter in (root / "chapters").glob("*.md"):  # every chapter to typeset again
        chapter.write_text(chapter.read_text() + "\nOne more line.\n")
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True,
                          env=environment) as running:
        assert running.stderr is not None
        said = []
        for line in running.stderr:  # progress, as plain lines (not a terminal)
            said.append(line)
            if line.startswith("typeset"):
                break
        running.send_signal(signal.SIGINT)  # Ctrl-C, to the command typed
        said += running.stderr.readlines()
        assert running.wait(timeout=60) == 130, said
    assert not any("Traceback" in line for line in said), said
    assert "booklet: stopped (Ctrl-C)\n" in said
    assert (root / "output" / "guide.pdf").read_bytes() == guide
    server_pid = server.running()[0]
    deadline = time.monotonic() + 20  # its workers, and the command's process, are gone
    while _children(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _children(server_pid)
