"""Composing in two processes (:mod:`reportc.forked`) gives exactly what one would: the
same results in the same order, exceptions in their items' places, and a fallback when
a result cannot travel back."""

from __future__ import annotations

import dataclasses
import os
import threading

import pytest

from reportc.config import load_project
from reportc.config.model import Recipients
from reportc.forked import MIN_ITEMS, map_halves
from reportc.packaging import package
from reportc.ready import ReadyReport
from reportc.rendered import RenderedReport
from tests.conftest import FIXED_NOW, MakeProject


def _work(n: int) -> int:
    if n % 17 == 0:
        raise ValueError(f"no {n}")
    return n * n


def _same(a: list[object], b: list[object]) -> bool:
    return [repr(x) for x in a] == [repr(x) for x in b]


def test_map_halves_equals_a_plain_loop() -> None:
    items = list(range(MIN_ITEMS * 3))
    expected: list[object] = []
    for n in items:
        try:
            expected.append(_work(n))
        except ValueError as exc:
            expected.append(exc)
    assert _same(map_halves(_work, items), expected)
    assert _same(map_halves(_work, items, fork=False), expected)


def test_a_result_that_cannot_travel_back_is_computed_here() -> None:
    parent = os.getpid()
    lock = threading.Lock()  # not picklable: the child's results cannot be sent

    def make(n: int) -> tuple[int, object]:
        return n, (lock if os.getpid() == parent else threading.Lock())

    out = map_halves(make, list(range(MIN_ITEMS * 2)))
    assert [n for n, _ in out] == list(range(MIN_ITEMS * 2))  # type: ignore[misc]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_stuck_child_is_killed_and_its_half_computed_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from reportc import forked

    monkeypatch.setattr(forked, "SLACK", 0.5)
    parent = os.getpid()

    def stuck_in_the_child(n: int) -> int:
        if os.getpid() != parent:
            time.sleep(3600)  # as if waiting on a lock another thread held at the fork
        return n

    started = time.monotonic()
    assert map_halves(stuck_in_the_child, list(range(MIN_ITEMS))) == list(range(MIN_ITEMS))
    assert time.monotonic() - started < 10


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_package_of_many_reports_composes_in_two_processes(make_project: MakeProject) -> None:
    project = load_project(make_project(), environ={})
    spec = project.personas["ceo"]
    summary = {"alerts": (), "highlights": (), "findings": (), "findings_total": 0}
    ready = {}
    for i in range(MIN_ITEMS * 2):
        s = dataclasses.replace(
            spec,
            name=f"r{i:03d}",
            title=f"Report {i}" + ("\r\nBcc: x@example.org" if i == 70 else ""),
            subject="{{ report.title }}",
            recipients=Recipients(to=(f"p{i}@example.com",)),
        )
        ready[s.name] = ReadyReport(
            s, RenderedReport(s.name, s.title, "", "en-US", summary=summary), b"%PDF-1.7 x"
        )
    forked = package(project, ready, run_id="r", when=FIXED_NOW)
    assert list(forked.failed) == ["r070"]  # its subject has a line break: it fails alone
    assert "line break" in forked.failed["r070"].problems[0].format()
    assert len(forked.envelopes) == MIN_ITEMS * 2 - 1
    for name, env in forked.envelopes.items():
        assert env.report == name and env.to == (f"p{int(name[1:])}@example.com",)
        assert f"Subject: Report {int(name[1:])}".encode() in env.raw
