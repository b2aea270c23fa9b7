"""A pool of warm PDF worker processes, each report isolated by time and memory.

WeasyPrint does not scale with threads, so ``--jobs N`` renders PDFs in N
processes. Each worker imports WeasyPrint and loads fonts once (warm), takes one
report at a time, writes its PDF atomically itself (results stream to disk; only
a small summary comes back), and runs under an address-space limit. A report
that runs past its timeout, or kills its worker (memory), fails alone: the
worker is replaced and the others go on.

Workers are forked from a warm zygote (:mod:`reportc.zygote`, itself a fresh
process) or are fresh ``python -m reportc.workers`` processes: never forked from the
parent, which holds DuckDB and vl-convert threads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import importlib
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import IO, Any

from .config.pdfoptions import PdfOptions
from .errors import Problem, RenderError, ReportcError
from .forkloop import MAX_WARM_BYTES, serve_forks
from .limits import DEFAULT_BUILD_MEMORY_MB, TimeLimitExceeded, time_limit
from .pdf import make_pdf, release_shared_styles, warm_styles
from .pdfsecure import Protection, protect
from .rendered import RenderedReport
from .weasy import load_weasyprint
from .writer import write_atomic
from .zygote import ForkedWorker, Zygote, scratch_folder


@dataclass(frozen=True)
class PdfTask:
    """Everything a worker needs to make and write one PDF."""

    name: str
    html: str
    project_root: Path
    target: Path
    options: PdfOptions = field(default_factory=PdfOptions)
    data_files: tuple[Any, ...] = ()
    when: Any = None
    #: encryption and signing after layout (secrets: never shown)
    protection: Protection | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PdfDone:
    name: str
    sha256: str = ""
    size: int = 0
    pages: int = 0
    refused_urls: tuple[str, ...] = ()
    error: ReportcError | None = None


def run_task(task: PdfTask, timeout: float | None = None) -> PdfDone:
    """Make the PDF and write it atomically; in a worker or (bounded by ``timeout``)
    in this process."""
    try:
        rendered = RenderedReport(task.name, task.name, task.html, "")
        with time_limit(timeout, f"the PDF of report '{task.name}'"):
            artifact = make_pdf(
                rendered,
                task.project_root,
                options=task.options,
                data_files=task.data_files,
                when=task.when,
            )
            if task.protection is not None:
                data = protect(artifact.pdf, task.protection, task.name)
                artifact = dataclasses.replace(
                    artifact, pdf=data, sha256=hashlib.sha256(data).hexdigest()
                )
        write_atomic(task.target, artifact.pdf)
    except ReportcError as exc:
        return PdfDone(task.name, error=exc)
    except TimeLimitExceeded as exc:
        return PdfDone(task.name, error=RenderError(Problem(str(exc), hint="raise --timeout")))
    except MemoryError:
        return PdfDone(
            task.name,
            error=RenderError(
                Problem(
                    f"report '{task.name}': ran out of memory while making the PDF",
                    hint="raise --max-memory, or split the report",
                )
            ),
        )
    return PdfDone(
        task.name, artifact.sha256, len(artifact.pdf), artifact.pages, artifact.refused_urls
    )


#: A PdfTask carries one report's HTML; anything bigger than this is not ours.
MAX_MESSAGE = 256 * 1024 * 1024


def _send(stream: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("!Q", len(data)) + data)
    stream.flush()


def _recv(stream: IO[bytes]) -> Any:
    header = stream.read(8)
    if len(header) < 8:
        raise EOFError
    (size,) = struct.unpack("!Q", header)
    if size > MAX_MESSAGE:  # not one of our messages: treat the stream as broken
        raise EOFError("garbled message from the worker")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def _limit_address_space(memory_mb: int) -> None:  # pragma: no cover - worker or zygote
    """Cap this process's address space (a runaway report fails alone)."""
    if memory_mb:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def warm_up() -> None:  # pragma: no cover - in a worker or zygote
    """Import WeasyPrint and lay out a page (Pango and fontconfig caches), then move
    everything alive now out of the garbage collector's way (layout makes many
    objects; and in a zygote, frozen objects stay shared with the forked workers)."""
    load_weasyprint().HTML(string="<p>reportc</p>").write_pdf()
    gc.collect()
    gc.freeze()


#: the most stylesheets a zygote warms up with (reportc.warmstyles remembers as many)
WARM_STYLES = 4
#: the longest a zygote spends warming up with them: a head start, not a task
WARM_SECONDS = 10.0


def warm_with(payload: bytes) -> bool:  # pragma: no cover - in a zygote
    """A zygote's warm-up message: ``{"root": project folder, "styles": [...]}``, the
    stylesheets the last build's PDFs shared (:mod:`reportc.warmstyles`): parse each
    and lay out a page with it, so the workers forked next inherit them warm. False
    (nothing done) for a message that is not one of these."""
    try:
        data = json.loads(payload)
        root = Path(data["root"])
        styles = [s for s in data["styles"] if isinstance(s, str)][:WARM_STYLES]
    except (ValueError, KeyError, TypeError):
        return False
    if not styles:
        return False
    try:
        with time_limit(WARM_SECONDS, "warming up with the last build's stylesheets"):
            warm_styles(root, styles)
    except (TimeLimitExceeded, MemoryError):
        pass  # what was warmed stays warm; the rest waits for its first PDF
    gc.collect()
    gc.freeze()
    return True


def warm_message(project_root: Path, styles: Iterable[str]) -> bytes:
    """What :func:`warm_with` reads: as many of the stylesheets as fit in the zygote's
    :data:`~reportc.zygote.MAX_WARM_BYTES` (b"" when none do, or there are none)."""
    chosen = list(styles)[:WARM_STYLES]
    while chosen:
        data = json.dumps({"root": str(project_root), "styles": chosen}).encode("utf-8")
        if len(data) <= MAX_WARM_BYTES:
            return data
        chosen.pop()
    return b""


def serve() -> None:  # pragma: no cover - runs in the worker process
    """Serve PdfTasks from stdin, answer PdfDones on stdout, until stdin closes."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write to the result stream
    try:
        while True:
            try:
                task = _recv(stdin)
            except EOFError:
                return
            _send(stdout, run_task(task))
    finally:
        release_shared_styles(collect=False)  # a worker leaves with os._exit (forked)


def worker_main(
    memory_mb: int, zygote_fd: int | None = None, scratch: str | None = None
) -> None:  # pragma: no cover
    """A worker (or, given the socket's descriptor, a zygote that forks workers; its
    and their temporary files go to ``scratch``, which the parent removes)."""
    _limit_address_space(memory_mb)
    if scratch:
        tempfile.tempdir = scratch
    if zygote_fd is not None:
        load_weasyprint()
        serve_forks(zygote_fd, serve, warm_with, warm_up)  # it warms up as it can
        return
    warm_up()
    serve()
    sys.stderr.flush()
    os._exit(0)  # as a forked worker leaves: no teardown to wait for (nothing to flush)


@dataclass
class _Slot:
    process: subprocess.Popen[bytes] | ForkedWorker
    stderr: IO[bytes]
    task: PdfTask | None = None
    started: float = 0.0

    def last_error(self) -> str:
        """The last line the worker wrote to stderr (why it died), if any."""
        try:
            self.stderr.seek(max(0, self.stderr.seek(0, os.SEEK_END) - 2000))
            lines = self.stderr.read().decode(errors="replace").strip().splitlines()
        except (OSError, ValueError):
            return ""
        return lines[-1].strip() if lines else ""


#: While no worker has answered yet (they are still warming up), this process renders
#: up to this many reports ahead (and this much HTML), instead of ``jobs``: rendering
#: now uses a core that would idle, rather than one the workers will want.
WARMING_AHEAD = 64
WARMING_AHEAD_BYTES = 32 * 1024 * 1024


class _Feed:
    """The tasks, pulled one at a time; ``ahead`` holds those prepared but not started."""

    def __init__(self, source: Iterator[PdfTask]) -> None:
        self.source = source
        self.exhausted = False
        self.ahead: deque[PdfTask] = deque()

    def pull(self) -> None:
        nxt = next(self.source, None)
        if nxt is None:
            self.exhausted = True
        else:
            self.ahead.append(nxt)

    def wants(self, jobs: int, warming: bool) -> bool:
        """Whether to render another report ahead of the workers now."""
        if self.exhausted:
            return False
        if not warming:
            return len(self.ahead) < jobs
        size = sum(len(task.html) for task in self.ahead)
        return len(self.ahead) < WARMING_AHEAD and size < WARMING_AHEAD_BYTES

    def take(self) -> bool:
        """Whether a task is ready to start (pulling one if none is)."""
        if not self.ahead and not self.exhausted:
            self.pull()
        return bool(self.ahead)


class PdfPool:
    """``jobs`` worker processes; :meth:`run` yields one :class:`PdfDone` per task.

    Workers talk over pipes. Given a :class:`~reportc.zygote.Zygote`, they are forked
    from it (warm, in milliseconds); otherwise, or when it fails, each is a plain
    ``python -m reportc.workers`` subprocess. Nothing is forked from this process (it
    holds DuckDB and vl-convert threads) and no ``if __name__ == "__main__"`` guard is
    needed in whatever script started us.
    """

    def __init__(
        self,
        jobs: int,
        *,
        timeout: float | None = 300.0,
        memory_mb: int | None = DEFAULT_BUILD_MEMORY_MB,
        clock: Callable[[], float] = time.monotonic,
        zygote: Zygote | None = None,
    ) -> None:
        self.jobs = max(1, jobs)
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.clock = clock
        self.slots: list[_Slot] = []
        self.zygote = zygote
        #: plain workers' temporary folder (made with the first one), removed on exit:
        #: a worker killed for its time or memory cannot delete its copies of the fonts
        self.scratch: str | None = None

    def _start(self) -> _Slot:
        forked = self.zygote.spawn() if self.zygote is not None else None
        if forked is not None:
            return _Slot(forked, forked.stderr)
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the worker; read when it dies
        if self.scratch is None:  # where plain workers' temporary files go; removed on exit
            self.scratch = scratch_folder()
        process = subprocess.Popen(
            [sys.executable, "-m", "reportc.workers", str(self.memory_mb or 0)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, "TMPDIR": self.scratch},
        )
        return _Slot(process, stderr)

    def start(self) -> PdfPool:
        """Start the workers now (they warm up while the caller binds the data)."""
        if not self.slots:
            self.slots = [self._start() for _ in range(self.jobs)]
        return self

    def __enter__(self) -> PdfPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        for slot in self.slots:
            with contextlib.suppress(OSError):
                assert slot.process.stdin is not None
                slot.process.stdin.close()
        deadline = time.monotonic() + 5
        for slot in self.slots:
            try:
                slot.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                slot.process.kill()
                slot.process.wait()
            if slot.process.stdout is not None:
                slot.process.stdout.close()
            slot.stderr.close()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def _replace(self, slot: _Slot) -> None:
        if slot.process.poll() is None:
            slot.process.kill()
        slot.process.wait()
        for stream in (slot.process.stdin, slot.process.stdout, slot.stderr):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        fresh = self._start()
        slot.process, slot.stderr, slot.task = fresh.process, fresh.stderr, None

    def _assign(self, slot: _Slot, task: PdfTask) -> None:
        slot.task, slot.started = task, self.clock()
        assert slot.process.stdin is not None
        with contextlib.suppress(BrokenPipeError, OSError):  # a dead worker is noticed below
            _send(slot.process.stdin, task)

    def run(self, tasks: Iterable[PdfTask]) -> Iterator[PdfDone]:
        """Each task's result as it completes; tasks are pulled lazily (bounded memory),
        and the next one is prepared here while the workers are busy."""
        feed = _Feed(iter(tasks))
        warming = True
        while True:
            for slot in self.slots:  # keep every idle worker busy
                if slot.task is None and feed.take():
                    self._assign(slot, feed.ahead.popleft())
            busy = [s for s in self.slots if s.task is not None]
            if not busy:
                return
            fds = [s.process.stdout.fileno() for s in busy if s.process.stdout is not None]
            ready = set(wait(fds, timeout=0))
            if not ready:
                if feed.wants(self.jobs, warming):
                    feed.pull()  # render the next report here while the workers lay out
                    continue
                ready = set(wait(fds, timeout=0.2))
            warming = warming and not ready
            yield from self._collect(busy, ready)

    def _collect(self, busy: list[_Slot], ready: set[Any]) -> Iterator[PdfDone]:
        """The results of the workers that answered, died or ran out of time."""
        now = self.clock()
        for slot in busy:
            task = slot.task
            assert task is not None and slot.process.stdout is not None
            if slot.process.stdout.fileno() in ready:
                try:
                    done: PdfDone = _recv(slot.process.stdout)
                except (EOFError, OSError, pickle.UnpicklingError):
                    yield from self._died(slot, task)
                else:
                    slot.task = None
                    yield done
            elif slot.process.poll() is not None:
                yield from self._died(slot, task)
            elif self.timeout is not None and now - slot.started > self.timeout:
                self._replace(slot)
                yield PdfDone(
                    task.name,
                    error=RenderError(
                        Problem(
                            f"report '{task.name}': gave up after {self.timeout:g} s "
                            "making the PDF; the other reports went on",
                            hint="raise --timeout, or look for a runaway table or image",
                        )
                    ),
                )

    def _died(self, slot: _Slot, task: PdfTask) -> Iterator[PdfDone]:
        slot.process.wait()
        if isinstance(slot.process, ForkedWorker) and slot.process.pid is None:
            # the zygote failed before forking this worker: the task was never tried
            self._replace(slot)
            self._assign(slot, task)
            return
        code = slot.process.returncode
        said = slot.last_error()
        self._replace(slot)
        with_limit = f" (memory limit {self.memory_mb} MB?)" if self.memory_mb else ""
        with_limit += f": {said[:200]}" if said else ""
        yield PdfDone(
            task.name,
            error=RenderError(
                Problem(
                    f"report '{task.name}': the PDF worker died (exit code {code}){with_limit}; "
                    "the other reports went on",
                    hint="raise --max-memory, or split the report",
                )
            ),
        )


if __name__ == "__main__":  # pragma: no cover - the worker process
    # Run the *imported* module's loop, so results pickle as reportc.workers classes.
    importlib.import_module("reportc.workers").worker_main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 0,
        int(sys.argv[2]) if len(sys.argv) > 2 else None,
        sys.argv[3] if len(sys.argv) > 3 else None,
    )
