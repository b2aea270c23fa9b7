"""Side by side with older code: the same benchmark, runs interleaved, the code at a git
ref (a worktree put on PYTHONPATH, workers included) against the code here.

    python bench/against.py a2872c3 burst --runs 5      # 200-report burst, and raw WeasyPrint
    python bench/against.py a2872c3 parallel --runs 5   # --jobs 1 and 2: burst of 60, example
    python bench/against.py a2872c3 send --runs 5       # 1,000 messages over SMTP, and mailmerge
    python bench/against.py a2872c3 weekly --runs 5     # build, archive, preview's rebuild

Prints each figure's median and its runs. Needs what bench/run.py needs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import run  # bench/run.py, beside this file

#: the console command's entry point before issue 15 (``[project.scripts] reportc =
#: "reportc.cli:run"``); since, run.ENTRY
OLD_ENTRY = "from reportc.cli import run; run()"
#: the example's Teams webhook (and its comment), which code from before webhooks rejects
WEBHOOK = ("webhook:", "# the summary (key figures, alerts, top findings) also posted")


class Code(NamedTuple):
    """One side of the comparison: its environment and its console command's entry."""

    env: dict[str, str]
    entry: str = run.ENTRY

    def reportc(self, *args: str) -> list[str]:
        return [run.PY, "-c", self.entry, *args]


def old_code(ref: str, into: Path) -> Code:
    """The code at ``ref``: a worktree, laid out as a package, run through its own
    console entry point."""
    tree = into / "tree"
    subprocess.run(
        ["git", "-C", str(run.REPO), "worktree", "add", "-q", "--detach", str(tree), ref],
        check=True,
    )
    pkg = into / "pkg"
    pkg.mkdir()
    (pkg / "reportc").symlink_to(tree / "compiler")
    for name in ("templates", "sections", "schema"):
        (pkg / name).symlink_to(tree / name)
    entry = run.ENTRY if (tree / "compiler" / "entry.py").exists() else OLD_ENTRY
    return Code({**run.BENCH_ENV, "PYTHONPATH": str(pkg)}, entry)


def burst(envs: dict[str, Code], tmp: Path, add: Callable[[str, float], None]) -> None:
    root = tmp / "burst200"
    if not root.exists():
        run.burst_project(tmp, 200)
        run.timed(run.reportc("-C", str(root), "build", "--jobs", "1", "--format", "html"))
    html = sorted(str(p) for p in (root / "dist").glob("*.html"))
    for label, code in envs.items():
        command = code.reportc(
            "-C", str(root), "build", "--force", "--jobs", "1", "--format", "pdf"
        )
        add(f"200-report burst, --jobs 1, {label} (s)", run.timed(command, env=code.env)[0])
    add(
        "raw WeasyPrint, the same HTML (s)",
        run.timed([run.PY, "-c", run.RAW_WEASYPRINT, str(root), *html])[0],
    )


def common_example(tmp: Path) -> Path:
    """The example both sides can build: HTML and PDF only (run.plain_example), without
    the webhook, a send-time setting older code does not know (builds do no work for it)."""
    root = run.plain_example(tmp)
    config = root / "reports.yaml"
    lines = config.read_text().splitlines(keepends=True)
    config.write_text("".join(ln for ln in lines if not ln.lstrip().startswith(WEBHOOK)))
    return root


def parallel(envs: dict[str, Code], tmp: Path, add: Callable[[str, float], None]) -> None:
    if not (tmp / "burst60").exists():
        run.burst_project(tmp, 60)
        common_example(tmp)
    projects = [
        ("burst of 60", tmp / "burst60", ("--format", "pdf")),
        ("example", tmp / "example", ("--no-archive",)),
    ]
    for name, root, extra in projects:
        for label, code in envs.items():
            for jobs in ("1", "2"):
                command = code.reportc("-C", str(root), "build", "--force", "--jobs", jobs, *extra)
                add(f"{name}, --jobs {jobs}, {label} (s)", run.timed(command, env=code.env)[0])


def weekly(envs: dict[str, Code], tmp: Path, add: Callable[[str, float], None]) -> None:
    """Benchmark 7 side by side: a ``--jobs 1`` build of a new run (one ledger row more),
    ``reportc archive`` of it, and the preview's rebuild after ``reports.yaml`` is saved."""
    for side, (label, code) in enumerate(envs.items()):
        root = tmp / f"weekly-{side}"  # a project each: their own caches and manifests
        if not root.exists():
            (tmp / "w").mkdir(exist_ok=True)
            common_example(tmp / "w").rename(root)
            run.timed(code.reportc("-C", str(root), "build", "--jobs", "1"), env=code.env)
        run.new_run(root)
        build = code.reportc("-C", str(root), "build", "--jobs", "1", "--no-archive")
        add(f"build --jobs 1, {label} (s)", run.timed(build, env=code.env)[0])
        archive = code.reportc("-C", str(root), "archive")
        add(f"archive, {label} (s)", run.timed(archive, env=code.env)[0])
        latencies = run.preview_latencies(root, 5, code.env)
        add(f"preview rebuild, {label} (s)", statistics.median(latencies))


def send(envs: dict[str, Code], tmp: Path, add: Callable[[str, float], None]) -> None:
    project = tmp / "p"
    if not project.exists():
        project.mkdir()
        (project / "reports.yaml").write_text(
            "version: 1\norganisation: {name: Bench}\nsections: {s: {type: markdown, "
            "text: x}}\npersonas: {a: {title: A, sections: [s]}}\n"
            "delivery: {from: reports@example.com, max_attempts: 3}\n"
        )
    mm = tmp / "mm" if (tmp / "mm").exists() else run._mailmerge_inputs(tmp)
    for label, code in envs.items():
        sink = run.Sink()
        out = subprocess.run(
            [run.PY, "-c", run.SEND_REPORTC, "smtp", str(sink.port), "1000", "0", str(project)],
            capture_output=True,
            text=True,
            check=True,
            env=code.env,
        ).stdout.split()
        assert len(sink.stop()) == 1000
        add(f"1,000 messages, {label} (msg/s)", 1000 / float(out[0]))
    add("1,000 messages, mailmerge (msg/s)", 1000 / run.mailmerge_seconds(mm))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("ref")
    parser.add_argument("which", choices=["burst", "parallel", "send", "weekly"])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        envs = {f"at {args.ref}": old_code(args.ref, Path(tmp)), "now": Code(dict(run.BENCH_ENV))}
        try:
            for _ in range(args.runs):
                {"burst": burst, "parallel": parallel, "send": send, "weekly": weekly}[args.which](
                    envs, Path(tmp), lambda k, v: figures.setdefault(k, []).append(v)
                )
        finally:
            subprocess.run(
                [
                    "git",
                    "-C",
                    str(run.REPO),
                    "worktree",
                    "remove",
                    "--force",
                    str(Path(tmp) / "tree"),
                ],
                check=False,
            )
    for name, values in figures.items():
        print(
            f"{name}: median {statistics.median(values):.2f}  runs {[round(v, 2) for v in values]}"
        )


if __name__ == "__main__":
    sys.exit(main())
