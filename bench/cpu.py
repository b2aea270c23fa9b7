"""Where a ``--jobs 2`` build's time goes, in CPU (BENCHMARKS.md, issue 15's target 2).

    python bench/cpu.py --runs 6      # the 60-report burst, made in a temporary folder

Two measurements, each run interleaved, medians printed:

- ``--jobs 1`` against ``--jobs 2``: wall time, the CPU of the command's whole process
  tree (``wait4``'s rusage) and the time the hypervisor stole from this machine
  (``/proc/stat``) during the run;
- one ``--jobs 1`` build alone against two at once (each on its own copy of the burst):
  the CPU each uses, which tells what two layouts running side by side cost each other.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import run  # bench/run.py, beside this file


def stolen() -> float:
    """Seconds the hypervisor has stolen from all of this machine's CPUs so far."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def start(root: Path, jobs: int) -> int:
    command = run.reportc(
        "-C", str(root), "-q", "build", "--force", "--jobs", str(jobs), "--format", "pdf"
    )
    pid = os.fork()
    if pid == 0:  # the child becomes the command
        os.execve(command[0], command, run.BENCH_ENV)
    return pid


def cpu_of(pid: int) -> float:
    _, status, usage = os.wait4(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return usage.ru_utime + usage.ru_stime


def jobs_pairs(root: Path, runs: int) -> None:
    figures: dict[int, list[tuple[float, float, float]]] = {1: [], 2: []}
    for _ in range(runs):
        for jobs in (1, 2):
            steal, began = stolen(), time.perf_counter()
            cpu = cpu_of(start(root, jobs))
            figures[jobs].append((time.perf_counter() - began, cpu, stolen() - steal))
    for jobs, rows in figures.items():
        wall, cpu, steal = (statistics.median(r[i] for r in rows) for i in range(3))
        print(f"--jobs {jobs}: wall {wall:.2f} s, CPU {cpu:.2f} s, stolen {steal:.2f} s")


def alone_and_paired(root: Path, runs: int) -> None:
    copy = root.with_name(root.name + "-copy")
    shutil.copytree(root, copy)
    alone: list[float] = []
    paired: list[float] = []
    for _ in range(runs):
        alone.append(cpu_of(start(root, 1)))
        both = start(root, 1), start(copy, 1)
        paired += [cpu_of(pid) for pid in both]
    a, b = statistics.median(alone), statistics.median(paired)
    print(f"--jobs 1 alone: CPU {a:.2f} s; two at once: {b:.2f} s each = {b / a:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=6)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        root = run.burst_project(Path(tmp), 60)
        run.timed(run.reportc("-C", str(root), "build", "--jobs", "1", "--format", "pdf"))
        jobs_pairs(root, runs)
        alone_and_paired(root, runs)


if __name__ == "__main__":
    main()
