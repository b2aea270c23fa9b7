"""The benchmark script's command line (``bench/run.py``): bare, it runs every
benchmark, as BENCHMARKS.md and issue 15 say; a name it does not know is a usage error.
The benchmarks themselves are not run here."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.conftest import load_script


def bench_module() -> ModuleType:
    return load_script("bench/run.py")


def test_the_bare_command_runs_every_benchmark() -> None:
    bench = bench_module()
    which, runs = bench.parse([])
    assert which == list(bench.BENCHES)
    assert len(which) == 8 and runs == 3


def test_named_benchmarks_run_in_the_order_given() -> None:
    assert bench_module().parse(["data", "overhead", "--runs", "5"]) == (["data", "overhead"], 5)


def test_an_unknown_benchmark_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        bench_module().parse(["overhead", "nonsense"])
    assert ended.value.code == 2
    assert "no benchmark 'nonsense': choose from overhead, parallel" in capsys.readouterr().err
