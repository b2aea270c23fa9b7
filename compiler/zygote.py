"""A warm template for PDF workers: one process imports WeasyPrint and warms its caches
once, then forks each worker from itself.

Starting a worker as a fresh ``python -m reportc.workers`` costs each one Python's
start-up, reportc's imports and WeasyPrint's (about 0.65 s of CPU), and with ``--jobs
2`` on two cores that is paid twice while the parent binds the data. The zygote pays it
once; a worker forked from it is ready in milliseconds and shares the warm pages
copy-on-write. It is started before the parent binds anything, and it never holds a
thread of its own. The ``reportc`` command forks it from itself first of all, while it
has imported only the standard library and the (small) workers module and holds no
thread (:meth:`Zygote.fork`: the zygote skips Python's start-up); anywhere else it is a fresh
``python -m reportc.workers MEMORY FD`` process (:meth:`Zygote.start`), since a caller
may already hold DuckDB and vl-convert threads, which must not be forked.

The protocol, over a Unix socket pair: the parent sends one byte with three file
descriptors (the worker's task pipe, its result pipe, its stderr) and the zygote
answers ``P`` and the new worker's pid; when a worker exits, the zygote (its parent)
reaps it and sends ``X``, the pid and the exit code (negative: the signal), so the pool
can say why a worker died exactly as it does for one it started itself. The parent may
also send ``W``, a length and what to warm up with (:meth:`Zygote.warm`; the stylesheets
the last build's PDFs used): the zygote hands it to its warm-up before it forks another
worker.

Each zygote gets a scratch folder of its own, made and removed by the parent: the
zygote's and its workers' temporary files (WeasyPrint's copies of the project's fonts)
go there, so nothing is left behind when the zygote is stopped with SIGKILL or a worker
is killed for its time or memory.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import IO, Any, NoReturn, Protocol

#: one message from the zygote: kind (P: forked, X: exited), pid, exit code
_MESSAGE = struct.Struct("!cii")
#: the module a zygote runs (its ``worker_main``), started or forked
WORKERS = "reportc.workers"
#: a warm-up message's length prefix, and the most the zygote reads of one: small
#: enough to fit in the socket's buffer, so sending it never waits for the zygote
_LENGTH = struct.Struct("!I")
MAX_WARM_BYTES = 64 * 1024


def available() -> bool:
    """Whether workers can be forked from a zygote here (POSIX, with fd passing)."""
    return hasattr(os, "fork") and hasattr(socket, "send_fds") and hasattr(socket, "AF_UNIX")


class _Process(Protocol):
    """What the handle needs of the zygote process (``Popen``'s names)."""

    def poll(self) -> int | None: ...

    def kill(self) -> None: ...

    def wait(self, timeout: float | None = None) -> int: ...


class Zygote:
    """The parent's handle on a zygote process."""

    def __init__(
        self, process: _Process, sock: socket.socket, memory_mb: int | None, scratch: str
    ) -> None:
        self.process = process
        self.sock = sock
        #: the address-space limit its workers run under (MB; None: none)
        self.memory_mb = memory_mb
        #: the folder its and its workers' temporary files go to (removed by close)
        self.scratch = scratch
        self.exits: dict[int, int] = {}
        self.pending: deque[ForkedWorker] = deque()
        self.broken = False

    @classmethod
    def start(cls, memory_mb: int | None) -> Zygote | None:
        """Start one (it warms up on its own from now); None where it cannot work."""
        if not available():
            return None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        scratch = tempfile.mkdtemp(prefix="reportc-pdf-")
        try:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    WORKERS,
                    str(memory_mb or 0),
                    str(theirs.fileno()),
                    scratch,
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                # its own last words (Ctrl-C while it warms up, say) are no one's business:
                # each worker it forks writes to a file of its own, read if it dies
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            ours.close()
            shutil.rmtree(scratch, ignore_errors=True)
            return None
        finally:
            theirs.close()
        return cls(process, ours, memory_mb or None, scratch)

    @classmethod
    def fork(cls, memory_mb: int | None) -> Zygote | None:
        """Start one by forking this process (the console command, first of all); None
        where it cannot. The workers' module is imported here first: its imports
        are this process's too, so the zygote inherits them instead of repeating them,
        and goes straight to importing WeasyPrint. The fork happens only while this
        process holds no thread, native ones included. The child keeps only the socket
        (every other descriptor it inherited is closed, its stdio goes to /dev/null) and
        runs its ``worker_main``, as :meth:`start`'s zygote does."""
        if not available():
            return None
        worker_main = importlib.import_module(WORKERS).worker_main
        if _threads() != 1:
            return None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        scratch = tempfile.mkdtemp(prefix="reportc-pdf-")
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            shutil.rmtree(scratch, ignore_errors=True)
            return None
        if pid == 0:  # pragma: no cover - the child: it never returns
            _become_zygote(theirs.detach(), memory_mb, scratch, worker_main)
        theirs.close()
        return cls(_Child(pid), ours, memory_mb or None, scratch)

    def warm(self, payload: bytes) -> None:
        """Give the zygote more to warm up with before it forks the next worker (what,
        its ``worker_main`` decides; :mod:`reportc.workers`: the stylesheets the last
        build's PDFs used). Too big a payload, or a zygote that is gone: nothing sent."""
        if self.broken or not payload or len(payload) > MAX_WARM_BYTES:
            return
        try:
            self.sock.sendall(b"W" + _LENGTH.pack(len(payload)) + payload)
        except OSError:
            self.broken = True

    def read(self, timeout: float | None) -> bool:
        """Read one message (waiting up to ``timeout``); False if none came."""
        if self.broken:
            return False
        try:
            if not select.select([self.sock], [], [], timeout)[0]:
                return False
        except OSError:
            self.broken = True
            return False
        data = _read_exactly(self.sock, _MESSAGE.size)
        if data is None:  # the zygote closed its socket, or it broke
            self.broken = True
            return False
        kind, pid, code = _MESSAGE.unpack(data)
        if kind == b"P" and self.pending:
            self.pending.popleft().pid = pid
        elif kind == b"X":
            self.exits[pid] = code
        return True

    def spawn(self) -> ForkedWorker | None:
        """A worker to be forked as soon as the zygote is warm (this does not wait for
        it: a task written to it now is read then), or None if the zygote cannot give
        one (the pool then starts a worker the plain way)."""
        if self.broken or self.process.poll() is not None:
            return None
        task_r, task_w = os.pipe()
        result_r, result_w = os.pipe()
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - the worker's; closed with it
        try:
            socket.send_fds(self.sock, [b"F"], [task_r, result_w, stderr.fileno()])
        except OSError:
            self.broken = True
            for fd in (task_w, result_r):
                os.close(fd)
            stderr.close()
            return None
        finally:
            os.close(task_r)
            os.close(result_w)
        worker = ForkedWorker(os.fdopen(task_w, "wb"), os.fdopen(result_r, "rb"), stderr, self)
        self.pending.append(worker)
        return worker

    def close(self) -> None:
        """Stop the zygote (a build that did not need it may close it while it warms up)
        and remove its scratch folder; workers it forked end on their own when their task
        pipes close (the pool has waited for them by now)."""
        with contextlib.suppress(OSError):
            self.sock.close()
        self.broken = True
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self) -> Zygote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ForkedWorker:
    """A worker forked by the zygote, with the part of ``Popen``'s interface the pool
    uses (``stdin``, ``stdout``, ``poll``, ``kill``, ``wait``, ``returncode``). Its
    ``pid`` is None until the zygote has forked it."""

    def __init__(self, stdin: IO[bytes], stdout: IO[bytes], stderr: IO[bytes], zygote: Zygote):
        self.pid: int | None = None
        self.stdin: IO[bytes] | None = stdin
        self.stdout: IO[bytes] | None = stdout
        self.stderr = stderr
        self.zygote = zygote
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            while self.zygote.read(0):
                pass
            if self.pid is not None and self.pid in self.zygote.exits:
                self.returncode = self.zygote.exits.pop(self.pid)
            elif self.zygote.broken and (self.pid is None or not _alive(self.pid)):
                self.returncode = -1  # never forked, or its exit went unreported
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None and self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0)
            if self.zygote.broken:
                time.sleep(0.01)
            else:
                self.zygote.read(0.1 if left is None else min(left, 0.1))
        assert self.returncode is not None
        return self.returncode


class _Child:
    """A forked zygote, as a ``Popen``-like handle (it is this process's child)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else: gone, code unknown
                self.returncode = -1
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"zygote {self.pid}", timeout or 0)
            time.sleep(0.005)
        assert self.returncode is not None
        return self.returncode


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ------------------------------------------------------------------ in the zygote


def _threads() -> int:
    """How many threads this process has, native ones included where the system says."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _become_zygote(
    fd: int, memory_mb: int | None, scratch: str, worker_main: Callable[[int, int, str], None]
) -> NoReturn:  # pragma: no cover
    """The forked child: keep only the socket, then warm up and serve forks."""
    code = 0
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(devnull, target)
        os.closerange(3, fd)
        os.closerange(fd + 1, _max_fd())
        worker_main(memory_mb or 0, fd, scratch)
    except BaseException:  # Ctrl-C while warming, or anything: the parent copes
        code = 1
    finally:
        os._exit(code)


def _max_fd() -> int:
    try:
        return max(256, min(os.sysconf("SC_OPEN_MAX"), 1 << 16))
    except (OSError, ValueError):
        return 1024


def _reaper(sock: socket.socket) -> Any:
    def reap(signum: int, frame: Any) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            with contextlib.suppress(OSError):
                sock.sendall(_MESSAGE.pack(b"X", pid, os.waitstatus_to_exitcode(status)))

    return reap


def _fork_worker(sock: socket.socket, fds: list[int], serve: Callable[[], None]) -> int:
    """Fork one worker on the given pipes; in the child, serve tasks and exit."""
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        sock.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        serve()
    except BaseException:  # the worker's last word, for the pool's message
        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(code)


def serve_forks(
    fd: int,
    serve: Callable[[], None],
    warm: Callable[[bytes], bool],
    warm_up: Callable[[], None],
) -> None:  # pragma: no cover - zygote
    """The zygote's loop: warm up, then fork a worker running ``serve`` on the pipes each
    request passes, until the parent closes the socket.

    The first warm-up is ``warm`` with the parent's warm-up message if it is already
    there (it does what ``warm_up`` does and more), else ``warm_up``. A message that
    comes later is kept until a worker is to be forked whose task has not come yet:
    ``warm`` runs then (once), on time no one is waiting for; a worker whose task is
    ready is forked at once."""
    sock = socket.socket(fileno=fd)
    signal.signal(signal.SIGCHLD, _reaper(sock))
    if not _first_warm_up(sock, warm, warm_up):
        return  # not a message of ours: stop (the pool starts plain workers)
    held: bytes | None = None
    while True:
        try:
            message, fds, _flags, _addr = socket.recv_fds(sock, 1, 3)
        except OSError:
            return
        if not message:
            return  # the parent let go; the workers end when their task pipes close
        if message == b"W" and not fds:
            held = _read_warm(sock)
            if held is None:
                return  # not a message of ours: stop (the pool starts plain workers)
            continue
        if len(fds) != 3:
            for extra in fds:
                os.close(extra)
            continue
        if held and not select.select([fds[0]], [], [], 0)[0]:
            _warmed(warm, held)
            held = None
        pid = _fork_worker(sock, fds, serve)
        for passed in fds:
            os.close(passed)
        sock.sendall(_MESSAGE.pack(b"P", pid, 0))


def _warmed(warm: Callable[[bytes], bool], payload: bytes) -> bool:  # pragma: no cover
    """``warm(payload)``; False if it did nothing or failed (a head start is optional)."""
    try:
        return warm(payload)
    except Exception:
        return False


def _first_warm_up(
    sock: socket.socket, warm: Callable[[bytes], bool], warm_up: Callable[[], None]
) -> bool:  # pragma: no cover - zygote
    """``warm`` with the warm-up message if it is next and already here, else (or if it
    did nothing) ``warm_up``; False, without warming, if that message is garbled."""
    held = _read_warm(sock) if _warm_is_next(sock) else b""
    if held is None:
        return False
    if not (held and _warmed(warm, held)):
        warm_up()
    return True


def _warm_is_next(sock: socket.socket) -> bool:  # pragma: no cover - zygote
    """Whether the next message is a warm-up message already here (its ``W`` is read)."""
    try:
        if sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b"W":
            return False
        sock.recv(1)
    except OSError:  # nothing yet (BlockingIOError), or the parent is gone
        return False
    return True


def _read_warm(sock: socket.socket) -> bytes | None:  # pragma: no cover - zygote
    """A warm-up message's payload after its ``W``; None if it is cut short or too big."""
    size = _read_exactly(sock, _LENGTH.size)
    if size is None:
        return None
    (length,) = _LENGTH.unpack(size)
    return _read_exactly(sock, length) if length <= MAX_WARM_BYTES else None


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    """``size`` bytes from the socket; None if it closes or fails first."""
    data = bytearray()
    while len(data) < size:
        try:
            chunk = sock.recv(min(size - len(data), 1 << 16))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return bytes(data)
