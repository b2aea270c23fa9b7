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
answers ``P``, the new worker's pid and, where the system has them, a pidfd for it
opened before the zygote could reap it (the pool's ``kill`` then reaches that process
and never a later one given the same pid); when a worker exits, the zygote (its parent)
reaps it and sends ``X``, the pid and the exit code (negative: the signal), so the pool
can say why a worker died exactly as it does for one it started itself. The parent may
also send ``W``, a length and what to warm up with (:meth:`Zygote.warm`; the stylesheets
the last build's PDFs used): the zygote hands it to its warm-up before it forks another
worker. The zygote's side is :mod:`reportc.forkloop`.

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
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from typing import IO, Protocol

from .forkloop import LENGTH, MAX_WARM_BYTES, MESSAGE, become_zygote, read_exactly

#: the module a zygote runs (its ``worker_main``), started or forked
WORKERS = "reportc.workers"


def scratch_folder() -> str:
    """A new folder for PDF workers' temporary files (WeasyPrint's copies of the
    project's fonts): a zygote's, or a pool's plain workers'. Whoever makes it removes
    it, so what a killed worker could not delete goes too."""
    return tempfile.mkdtemp(prefix="reportc-pdf-")


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
        #: workers it has forked, whose pidfds are closed when it is
        self.forked: list[ForkedWorker] = []
        self.broken = False

    @classmethod
    def start(cls, memory_mb: int | None) -> Zygote | None:
        """Start one (it warms up on its own from now); None where it cannot work."""
        if not available():
            return None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        scratch = scratch_folder()
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
        scratch = scratch_folder()
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
            become_zygote(theirs.detach(), memory_mb, scratch, worker_main)
        theirs.close()
        return cls(_Child(pid), ours, memory_mb or None, scratch)

    def warm(self, payload: bytes) -> None:
        """Give the zygote more to warm up with before it forks the next worker (what,
        its ``worker_main`` decides; :mod:`reportc.workers`: the stylesheets the last
        build's PDFs used). Too big a payload, or a zygote that is gone: nothing sent."""
        if self.broken or not payload or len(payload) > MAX_WARM_BYTES:
            return
        try:
            self.sock.sendall(b"W" + LENGTH.pack(len(payload)) + payload)
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
        data, fds = _read_message(self.sock)
        if data is None:  # the zygote closed its socket, or it broke
            self.broken = True
            return False
        kind, pid, code = MESSAGE.unpack(data)
        if kind == b"P" and self.pending:
            worker = self.pending.popleft()
            worker.pid, worker.pidfd = pid, fds.pop() if fds else None
            self.forked.append(worker)
        elif kind == b"X":
            self.exits[pid] = code
        for extra in fds:
            os.close(extra)
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
        for worker in self.forked:
            worker.let_go()
        self.forked.clear()

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
        #: a pidfd for the worker, from the zygote (which opened it before it could reap
        #: the worker): signals go to this process and never to a later one with its pid
        self.pidfd: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            while self.zygote.read(0):
                pass
            if self.pid is not None and self.pid in self.zygote.exits:
                self.returncode = self.zygote.exits.pop(self.pid)
            elif self.zygote.broken and (self.pid is None or not self._alive()):
                self.returncode = -1  # never forked, or its exit went unreported
            if self.returncode is not None:
                self.let_go()
        return self.returncode

    def _alive(self) -> bool:
        if self.pidfd is not None:  # readable once the process has ended
            return not select.select([self.pidfd], [], [], 0)[0]
        return self.pid is not None and _alive(self.pid)

    def kill(self) -> None:
        if self.poll() is None and self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                if self.pidfd is not None:
                    signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
                else:
                    os.kill(self.pid, signal.SIGKILL)

    def let_go(self) -> None:
        """Close the worker's pidfd (its exit is known, or the zygote is closed)."""
        if self.pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self.pidfd)
            self.pidfd = None

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


def _threads() -> int:
    """How many threads this process has, native ones included where the system says."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _read_message(sock: socket.socket) -> tuple[bytes | None, list[int]]:
    """One message from the zygote and the descriptors sent with it (a pidfd with
    ``P``); None at the end of the stream."""
    try:
        data, fds, _flags, _addr = socket.recv_fds(sock, MESSAGE.size, 1)
    except OSError:
        return None, []
    rest = read_exactly(sock, MESSAGE.size - len(data)) if data else None
    if rest is None:
        for fd in fds:
            os.close(fd)
        return None, []
    return data + rest, fds
