"""The dependency graph: built once at load, asked everything about dependencies."""

from __future__ import annotations

from pathlib import Path

from reportc.config import load_project
from reportc.graph import DependencyGraph
from tests.conftest import MINIMAL_YAML, MakeProject
from tests.functional.test_scale import BURST_YAML, burst_project


def test_the_project_carries_its_graph(make_project: MakeProject) -> None:
    project = load_project(make_project(), environ={})
    graph = project.graph
    assert isinstance(graph, DependencyGraph)
    assert graph.edges == {
        "sales": (),
        "total_sales": ("sales",),
        "orders": ("sales",),
        "average_order": ("orders", "total_sales"),
    }
    assert graph.closure({"average_order"}) == {"average_order", "orders", "total_sales", "sales"}
    assert graph.order({"average_order"}) == ["sales", "orders", "total_sales", "average_order"]
    assert graph.dependents({"sales"}) == set(graph.edges)
    assert graph.cycle() is None
    ceo = project.personas["ceo"]
    # the narrative names total_sales and orders; the table reads sales
    assert graph.report_needs(ceo) == {"sales", "total_sales", "orders"}
    assert graph.row_nodes == frozenset()


def test_row_dependence_follows_the_edges(make_project: MakeProject) -> None:
    project = load_project(burst_project(make_project, BURST_YAML), environ={})
    assert project.graph.row_nodes == {"my_sales", "store_total"}
    assert project.graph.report_needs(project.personas["store"]) >= {"stores", "my_sales"}


def test_a_cycle_is_found_and_reported_at_load(make_project: MakeProject, tmp_path: Path) -> None:
    graph = DependencyGraph({"a": ("b",), "b": ("c",), "c": ("a",), "d": ()})
    assert graph.cycle() == ["a", "b", "c"]
    text = MINIMAL_YAML.replace("expr: total_sales / orders", "expr: average_order + 1")
    from click.testing import CliRunner

    from reportc.cli import main

    result = CliRunner().invoke(main, ["-C", str(make_project({"reports.yaml": text})), "validate"])
    assert result.exit_code == 3
    assert "dependency cycle: average_order -> average_order" in result.output
