"""The console command's guess, from the command line alone, of whether a build will
lay out PDFs in more than one worker (it then starts their template first)."""

from __future__ import annotations

import pytest

from reportc.entry import build_workers, early_zygote


@pytest.mark.parametrize(
    ("argv", "wanted"),
    [
        (["build", "--jobs", "2"], (2, 2048)),
        (["build", "-j3"], (3, 2048)),
        (["build", "-j", "4", "--max-memory=512"], (4, 512)),
        (["-C", "x", "-q", "build", "--jobs=2", "--max-memory", "0"], (2, 0)),
        (["--log-format", "json", "build", "--jobs", "2", "--format", "pdf"], (2, 2048)),
        (["build", "--jobs", "1"], (1, 2048)),
        (["build", "--jobs", "2", "--format", "html"], None),  # no PDFs
        (["-C", "build", "validate"], None),  # a folder called build
        (["build", "--jobs", "two"], None),
        (["build", "--help"], None),
        (["send", "--jobs", "2"], None),
        (["--unknown", "build"], None),
        ([], None),
        (["-C"], None),  # a global option without its value
        (["-C", "build"], None),  # the folder, not the command
    ],
)
def test_the_guess_reads_what_the_cli_will(argv: list[str], wanted: tuple[int, int] | None) -> None:
    assert build_workers(argv) == wanted


def test_no_template_for_one_worker_or_a_command_that_is_not_a_build() -> None:
    assert early_zygote(["build", "--jobs", "1"]) is None
    assert early_zygote(["validate"]) is None
