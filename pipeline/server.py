"""The workers' server: a process that imports WeasyPrint once, then forks each worker.

Started as early as a command knows it will typeset (`start`), before this
process imports the rest of the pipeline, so that the two load side by side.
Only the standard library here (its multiprocessing: a few hundredths of a
second).

The server is kept warm between commands (on Linux, with Python 3.11,
whose fork server it follows: `_kept_warm`): the author rebuilds
after every edit, and loading WeasyPrint took most of a second of each
rebuild. It runs the loop of Python's own fork server
(multiprocessing.forkserver), started detached from the command, listening
on a socket in a folder only this user can enter (`folder`); once idle, it
also loads the rest of the pipeline (LATER). A build or a batch of copies
then runs in a process it forks (`forward`), with everything loaded. The
server exits once no command has asked for it for IDLE_SECONDS and no
process of it is running; or once its socket is removed (`booklet stop`) and
none is. A server is
for one version of the pipeline, of Python and its packages, and of the
environment variables the typesetter reads as it loads (`_key`): a change
starts a new server, and the old one idles out. BOOKLET_SERVER=off (the
tests' setting) starts a server for each command instead, which exits with
it, as Python's forkserver does.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import io
import multiprocessing
import multiprocessing.context
import os
import selectors
import signal
import socket
import sys
import time
from multiprocessing import (
    forkserver,
    popen_forkserver,
    process,
    reduction,
    resource_tracker,
    spawn,
    util,
)
from pathlib import Path

PRELOAD = ["pipeline.libraries", "pipeline.typeset"]
# The rest of what a command loads, loaded by the server once it is idle (`serve`).
LATER = ["pipeline.cli", "pipeline.build", "pipeline.assemble", "pipeline.check",
         "pipeline.furniture", "pipeline.copies", "pipeline.handouts"]
IDLE_SECONDS = 30 * 60  # an author's pause between two edits, and more
# Environment variables read by the typesetter's C libraries when the server
# loads them (fonts, text shaping, locale, time zone), or by Python itself.
# (Those read from os.environ are handed to each worker as it starts.)
_ENVIRONMENT_PREFIXES = ("FONTCONFIG", "FC_", "PANGO", "CAIRO", "HB_", "G_", "XDG_DATA",
                         "LANG", "LC_", "TZ", "PYTHON")


def context() -> multiprocessing.context.BaseContext:
    """Workers forked from a server process that has WeasyPrint imported already.

    The server kept warm between commands when there is one (it is started
    if need be), else one started for this command.
    """
    if _kept_warm():
        address = _ensure()
        if address is not None:
            return _KeptContext(address)
    chosen = multiprocessing.get_context("forkserver")
    chosen.set_forkserver_preload(PRELOAD)
    return chosen


def start(jobs: int | None = None) -> None:
    """Start the server now, if `jobs` workers (None: one per core) would use it.

    It loads WeasyPrint in the background; a no-op if it runs already.
    """
    if (jobs or default_jobs()) > 1:  # one job runs in the command's own process
        chosen = context()
        if not isinstance(chosen, _KeptContext):
            forkserver.ensure_running()


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def take_environment(environment: dict[str, str]) -> None:
    """In a process the server forked: the environment of the command it works for.

    (Its os.environ is the server's, which another command may have started.)
    """
    if os.environ != environment:
        os.environ.clear()
        os.environ.update(environment)


# --- the server kept warm --------------------------------------------------------


def folder() -> Path:
    """This user's folder for servers' sockets: made private, or refused if it is not."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "booklet" if runtime else Path(f"/tmp/booklet-{os.getuid()}")
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = base.lstat()
    if found.st_uid != os.getuid() or found.st_mode & 0o077 or not base.is_dir():
        raise PermissionError(f"{base} is not a private folder of this user")
    return base


def running() -> list[int]:
    """The process ids of every server kept warm for this user."""
    pids: list[int] = []
    with contextlib.suppress(OSError):
        for record in sorted(folder().glob("*.pid")):
            pids += [int(pid) for pid in record.read_text().split() if alive(int(pid))]
    return pids


def stop(wait: float = 0.0) -> int:
    """Stop every server kept warm for this user; how many there were.

    Its socket is removed at once (no new command reaches it); the server
    then exits once no process of it is running.
    With `wait`, wait up to that many seconds for them to be gone.
    """
    stopped: list[int] = []
    with contextlib.suppress(OSError):
        for record in folder().glob("*.pid"):
            with contextlib.suppress(OSError, ValueError):
                stopped += [int(pid) for pid in record.read_text().split()]
            _tidy(record.with_suffix(".sock"), None)
    deadline = time.monotonic() + wait
    while any(alive(pid) for pid in stopped) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in stopped:  # started by this process: not left as a zombie
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    return len(stopped)


def _kept_warm() -> bool:
    # The server's loop and the way a command asks it for a process follow
    # multiprocessing's fork server as Python 3.11 has it (its protocol is
    # not public, and changes in later versions): elsewhere, a server for
    # each command, as Python does.
    return (sys.platform == "linux" and sys.version_info[:2] == (3, 11)
            and os.environ.get("BOOKLET_SERVER", "").lower() not in ("off", "0", "no", "false"))


def _key() -> str:
    """Everything the server's loaded code depends on."""
    from pipeline import code_fingerprint

    digest = hashlib.sha256(code_fingerprint().encode())
    digest.update(f"{sys.executable}\0{sys.version}\0{sys.flags}".encode())
    for entry in sys.path:  # installed packages, by name and version
        if entry.endswith("-packages") and os.path.isdir(entry):
            digest.update("\0".join(sorted(os.listdir(entry))).encode())
    for name in sorted(os.environ):
        if name.startswith(_ENVIRONMENT_PREFIXES):
            digest.update(f"\0{name}={os.environ[name]}".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:24]


def _ensure(launch: bool = True) -> Path | None:
    """The socket of this pipeline's server kept warm: started now if none runs.

    None if it cannot be (no private folder, no socket): the command then
    starts a server of its own, as Python does; or if none runs and not `launch`.
    """
    try:
        base = folder()
        key = _key()
        address = base / f"{key}.sock"
        record = base / f"{key}.pid"
        with open(base / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _serving(address, record):
                os.utime(address)  # asked for now: not idle
                return address
            if not launch:
                return None
            _launch(address, record, base / f"{key}.log")
            return address
    except OSError:
        return None


def _serving(address: Path, record: Path) -> bool:
    try:
        pids = [int(pid) for pid in record.read_text().split()]
    except (OSError, ValueError):
        return False
    return address.exists() and len(pids) == 1 and alive(pids[0])


def alive(pid: int) -> bool:
    """Whether process `pid` runs (anyone's; a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (a server this process started, now gone) is not alive
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _launch(address: Path, record: Path, log: Path) -> None:
    """Start a server at `address`, detached from this command."""
    address.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX)
    try:
        listener.bind(str(address))
        os.chmod(address, 0o600)
        listener.listen()
        paths = [entry for entry in sys.path if entry]
        serve = (f"import sys; sys.path[:0] = {paths!r}\n"
                 "from pipeline.server import serve\n"
                 f"serve({listener.fileno()}, {_idle_seconds()})")
        record.write_text(f"{_spawn([serve], [listener.fileno()], log)}\n")
    finally:
        listener.close()


def _spawn(code: list[str], fds: list[int], log: Path) -> int:
    """Start `python -c code` in a session of its own, holding `fds` and no terminal."""
    for fd in fds:
        os.set_inheritable(fd, True)
    try:
        executable = spawn.get_executable()
        arguments = [executable, *util._args_from_interpreter_flags(), "-c", *code]
        return os.posix_spawn(executable, arguments, os.environ, setsid=True, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
        ])
    finally:
        for fd in fds:
            os.set_inheritable(fd, False)


def _idle_seconds() -> float:
    try:
        return float(os.environ.get("BOOKLET_SERVER_IDLE", IDLE_SECONDS))
    except ValueError:
        return IDLE_SECONDS


def serve(listener: int, idle: float) -> None:
    """The server's process: load what workers need, then fork them on request.

    Once nothing of it runs, it loads the rest of the pipeline (LATER), a
    module at a time between requests: a command forwarded to it (`forward`)
    then starts with everything loaded, and so does a worker's preflight job.
    """
    for module in PRELOAD:
        with contextlib.suppress(ImportError):  # a worker will say what is wrong
            __import__(module)
    _serve_forever(listener, list(LATER), idle)


def _serve_forever(listener_fd: int, later: list[str], idle: float) -> None:
    """multiprocessing.forkserver.main's loop (Python 3.11), which loads `later`
    when idle, and returns once it is not wanted (`_wanted`) and none of its
    processes runs: then or on SIGTERM, it removes its socket and records."""
    sig_r, sig_w = os.pipe()
    os.set_blocking(sig_r, False)
    os.set_blocking(sig_w, False)
    handlers = {signal.SIGCHLD: lambda *_: None, signal.SIGINT: signal.SIG_IGN,
                signal.SIGTERM: lambda *_: sys.exit(0)}
    old_handlers = {sig: signal.signal(sig, value) for sig, value in handlers.items()}
    signal.set_wakeup_fd(sig_w)
    pid_to_fd: dict[int, int] = {}  # each child's status pipe to its client
    with socket.socket(socket.AF_UNIX, fileno=listener_fd) as listener, \
            selectors.DefaultSelector() as selector:
        address = Path(listener.getsockname())
        ours, ready = os.stat(address).st_ino, time.time()
        forkserver._forkserver._forkserver_address = str(address)
        for readable in (listener, sig_r):
            selector.register(readable, selectors.EVENT_READ)
        try:
            while pid_to_fd or _wanted(address, ours, ready, idle):
                loading = bool(later) and not pid_to_fd
                ready_now = [key.fileobj for key, _ in
                             selector.select(0.05 if loading else min(1.0, idle / 4))]
                if not ready_now and loading:
                    with contextlib.suppress(Exception):
                        importlib.import_module(later.pop(0))
                if sig_r in ready_now:
                    os.read(sig_r, 65536)
                    _report_exits(pid_to_fd)
                if listener in ready_now:
                    _fork_one(listener, selector, pid_to_fd, (sig_r, sig_w), old_handlers)
        finally:
            _tidy(address, ours)


def _wanted(address: Path, ours: int, ready: float, idle: float) -> bool:
    """Whether the server at `address` (its socket's inode: `ours`) is still wanted.

    Not once its socket is removed (stopped) or another server's has taken
    its place; nor once no command has asked for it (the socket's time) for
    `idle` seconds since it was `ready`.
    """
    try:
        found = os.stat(address)
    except FileNotFoundError:
        return False
    return found.st_ino == ours and time.time() - max(found.st_mtime, ready) < idle


def _fork_one(listener: socket.socket, selector: selectors.BaseSelector,
              pid_to_fd: dict[int, int], signal_pipe: tuple[int, int],
              old_handlers: dict[signal.Signals, object]) -> None:
    """Fork the process a client asks for (as multiprocessing.forkserver.main does)."""
    with listener.accept()[0] as connection:
        fds = reduction.recvfds(connection, forkserver.MAXFDS_TO_SEND + 1)
    child_r, child_w, *fds = fds
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            listener.close()
            selector.close()
            unused = [child_w, *signal_pipe, *pid_to_fd.values()]
            code = forkserver._serve_one(child_r, fds, unused, old_handlers)
        except Exception:
            sys.excepthook(*sys.exc_info())
            sys.stderr.flush()
        finally:
            os._exit(code)
    with contextlib.suppress(BrokenPipeError):  # the client is gone
        forkserver.write_signed(child_w, pid)
    pid_to_fd[pid] = child_w
    os.close(child_r)
    for fd in fds:
        os.close(fd)


def _report_exits(pid_to_fd: dict[int, int]) -> None:
    """Each child that exited: its exit code, to its client."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        child_w = pid_to_fd.pop(pid, None)
        if child_w is not None:
            with contextlib.suppress(BrokenPipeError):
                forkserver.write_signed(child_w, os.waitstatus_to_exitcode(status))
            os.close(child_w)


def forward(argv: list[str], jobs: int | None) -> int | None:
    """Run the command `argv` in a process forked by the server kept warm; its exit status.

    None (run it here) when there is no such server running already, or the
    command is to run in one process, or it was forwarded already. The
    forwarded command has this one's standard streams, folder and environment;
    Ctrl-C here is passed on to it.
    """
    if (not _kept_warm() or os.environ.get(_FORWARDED) or (jobs or default_jobs()) <= 1):
        return None
    address = _ensure(launch=False)
    if address is None:
        return None
    command = _KeptContext(address).Process(
        target=_run_forwarded, name="booklet",
        args=(argv, dict(os.environ), _Fd(0), _Fd(1), _Fd(2)))
    command.start()
    while True:
        try:
            command.join()
            break
        except KeyboardInterrupt:
            with contextlib.suppress(ProcessLookupError):
                os.kill(command.pid, signal.SIGINT)  # type: ignore[arg-type]
    code = command.exitcode or 0
    return code if code >= 0 else 128 - code  # killed by a signal: as a shell says it


_FORWARDED = "BOOKLET_FORWARDED"


class _Fd:
    """A file descriptor of this process, handed to the forwarded command (see forward)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[object, tuple[object]]:
        return _detached, (reduction.DupFd(self.fd),)


def _detached(duplicate: popen_forkserver._DupFd) -> int:
    return duplicate.detach()


def _run_forwarded(argv: list[str], environment: dict[str, str], *streams: int) -> None:
    """In a process forked by the server: the command, as if run where it was typed.

    (multiprocessing has moved it to the command's folder already.)
    """
    for number, fd in enumerate(streams):
        os.dup2(fd, number)
        os.close(fd)
    take_environment({**environment, _FORWARDED: "1"})
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 (the process's own, for its life)
    sys.stdout = open(1, "w", buffering=1 if os.isatty(1) else -1,  # noqa: SIM115
                      encoding=sys.stdout.encoding, errors=sys.stdout.errors, closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding=sys.stderr.encoding,  # noqa: SIM115
                      errors="backslashreplace", closefd=False)
    from pipeline.cli import entry

    # (Every pool of workers it started is shut down by now, its workers gone:
    # multiprocessing's way out waits for this process's children first.)
    sys.exit(entry(argv))


def _tidy(address: Path, ours: int | None) -> None:
    """Remove a server's files, unless another server has taken its place (`ours`:
    the inode of its socket; None: whichever server it is)."""
    try:
        if ours is not None and os.stat(address).st_ino != ours:
            return
        address.unlink()
    except FileNotFoundError:
        if ours is not None:
            return  # stopped: `stop` tidied
    for name in (".pid", ".lock"):
        address.with_suffix(name).unlink(missing_ok=True)
    log = address.with_suffix(".log")
    with contextlib.suppress(FileNotFoundError):
        if log.stat().st_size == 0:  # kept if the server said something (it failed)
            log.unlink()


class _KeptPopen(popen_forkserver.Popen):
    """A worker forked by the server kept warm (see popen_forkserver.Popen._launch)."""

    def _launch(self, process_obj: process.BaseProcess) -> None:
        prep_data = spawn.get_preparation_data(process_obj.name)
        buf = io.BytesIO()
        multiprocessing.context.set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            multiprocessing.context.set_spawning_popen(None)
        address = process_obj.address  # type: ignore[attr-defined]
        self.sentinel, w = _connect(address, self._fds)  # type: ignore[attr-defined]
        _parent_w = os.dup(w)
        self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


def _connect(address: Path, fds: list[int]) -> tuple[int, int]:
    """Ask the server for a new process (forkserver.ForkServer.connect_to_new_process)."""
    resource_tracker.ensure_running()
    with socket.socket(socket.AF_UNIX) as client:
        try:
            client.connect(str(address))
        except OSError:  # stopped since (or idled out): start another
            address = _ensure() or address
            client.connect(str(address))
        parent_r, child_w = os.pipe()
        child_r, parent_w = os.pipe()
        # The worker's own "alive" fd is of use only to a fork server of its own.
        unused = os.open(os.devnull, os.O_RDONLY)
        try:
            reduction.sendfds(client, [child_r, child_w, unused, resource_tracker.getfd(),
                                       *fds])
            return parent_r, parent_w
        except BaseException:
            os.close(parent_r)
            os.close(parent_w)
            raise
        finally:
            os.close(child_r)
            os.close(child_w)
            os.close(unused)


class _KeptProcess(process.BaseProcess):
    _start_method = "forkserver"
    address: Path

    @staticmethod
    def _Popen(process_obj: process.BaseProcess) -> popen_forkserver.Popen:
        return _KeptPopen(process_obj)


class _KeptContext(multiprocessing.context.ForkServerContext):
    """Python's forkserver context, with workers forked by the server at `address`."""

    def __init__(self, address: Path) -> None:
        super().__init__()
        self.address = address

    def Process(self, *args: object, **kwargs: object) -> _KeptProcess:  # type: ignore[override]
        made = _KeptProcess(*args, **kwargs)  # type: ignore[arg-type]
        made.address = self.address
        return made
