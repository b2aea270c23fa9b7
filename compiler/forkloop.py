"""The PDF workers' template (:mod:`reportc.zygote`) from the inside: the loop that
forks a worker for each request, reaps them and reports their exits, and reads the
parent's warm-up message; and the wire format both sides share.

Everything here runs in the template process, which the parent started or forked
(:meth:`reportc.zygote.Zygote.start` / :meth:`~reportc.zygote.Zygote.fork`); the parent
side, and the protocol, are described in :mod:`reportc.zygote`.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import struct
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

#: one message from the zygote: kind (P: forked, X: exited), pid, exit code
MESSAGE = struct.Struct("!cii")
#: a warm-up message's length prefix, and the most the zygote reads of one: small
#: enough to fit in the socket's buffer, so sending it never waits for the zygote
LENGTH = struct.Struct("!I")
MAX_WARM_BYTES = 64 * 1024


def become_zygote(
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
                sock.sendall(MESSAGE.pack(b"X", pid, os.waitstatus_to_exitcode(status)))

    return reap


def _fork_worker(sock: socket.socket, fds: list[int], serve: Callable[[], None]) -> int:
    """Fork one worker on the given pipes; in the child, serve tasks and exit."""
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
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


def _fork_and_tell(sock: socket.socket, fds: list[int], serve: Callable[[], None]) -> None:
    """Fork a worker and send the parent ``P``, its pid and (where the system has them)
    a pidfd for it, opened while SIGCHLD is held so the reaper cannot free the pid first."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        pid = _fork_worker(sock, fds, serve)
        pidfd = _open_pidfd(pid)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    for passed in fds:
        os.close(passed)
    message = MESSAGE.pack(b"P", pid, 0)
    if pidfd is None:
        sock.sendall(message)
        return
    try:
        socket.send_fds(sock, [message], [pidfd])
    finally:
        os.close(pidfd)


def _open_pidfd(pid: int) -> int | None:
    """A pidfd for ``pid`` (Linux 5.3 and later), or None."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return int(opener(pid))
    except OSError:
        return None


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
        _fork_and_tell(sock, fds, serve)


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
    size = read_exactly(sock, LENGTH.size)
    if size is None:
        return None
    (length,) = LENGTH.unpack(size)
    return read_exactly(sock, length) if length <= MAX_WARM_BYTES else None


def read_exactly(sock: socket.socket, size: int) -> bytes | None:
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
