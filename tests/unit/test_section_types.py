"""The section-type registry: every built-in type is one module plus one template."""

from __future__ import annotations

from pathlib import Path

import reportc.section_types as registry
from reportc.resources import builtin_dir
from reportc.section_types import BUILTIN, SectionType, behaviour, section_type

MODULES = Path(registry.__file__).parent


def test_each_module_is_one_built_in_type_with_its_template() -> None:
    modules = sorted(p.stem for p in MODULES.glob("*.py") if p.stem not in ("__init__", "base"))
    assert sorted(BUILTIN) == modules
    for name, kind in BUILTIN.items():
        assert isinstance(kind, SectionType) and kind.name == name
        assert (builtin_dir("sections") / f"{name}.html.j2").is_file()
        assert isinstance(kind.schema, dict) and "properties" in kind.schema


def test_types_own_their_needs_checks_and_history() -> None:
    kpis, chart = BUILTIN["kpis"], BUILTIN["chart"]
    items = {"items": [{"value": "revenue", "target": "plan", "label": "Revenue"}]}
    assert kpis.needs(items) == {"revenue", "plan"}
    assert kpis.history({"compare": "archive", "trend": 6}) == 5
    assert kpis.check(items, ["revenue"]) == [("unknown metric 'plan'", ("items", 0, "target"))]
    assert [m for m, _ in chart.check({"kind": "combo"}, [])] == [
        "missing required key 'x' (or give a full 'vega_lite' spec)",
        "missing required key 'y' (or give a full 'vega_lite' spec)",
        "a combo chart needs 'line' (the column drawn as a line)",
        "a chart section needs 'source' or 'query'",
    ]
    assert chart.check({"vega_lite": {}}, []) == []


def test_a_project_template_is_a_type_without_behaviour(tmp_path: Path) -> None:
    (tmp_path / "sections").mkdir()
    (tmp_path / "sections" / "banner.html.j2").write_text("<p>{{ section.text }}</p>")
    own = section_type("banner", tmp_path)
    assert own is not None and own.prepare(None, None, None) == {}  # type: ignore[arg-type]
    assert section_type("banner", tmp_path / "elsewhere") is None
    assert behaviour("banner") is None  # no behaviour outside the project
    assert section_type("kpis", tmp_path) is BUILTIN["kpis"]


def test_the_kpi_status_line_counts_every_card() -> None:
    from reportc.section_types.kpis import status_line

    counts = {"good": 1, "warn": 0, "critical": 1, "missing": 0, "neutral": 4}
    assert status_line(counts) == (
        "6 KPIs: 1 on target, 0 near target, 1 off target, 0 missing, 4 without a target."
    )
    one = {"good": 1, "warn": 0, "critical": 0, "missing": 0, "neutral": 0}
    assert status_line(one) == "1 KPI: 1 on target, 0 near target, 0 off target, 0 missing."


def test_a_series_chart_keeps_its_value_axis_title() -> None:
    from reportc.charts import compile_chart
    from reportc.formatting import Formatter

    rows = [
        {"month": "Sep", "channel": "Web", "revenue": 10},
        {"month": "Sep", "channel": "Shop", "revenue": 7},
    ]
    options = {"kind": "line", "x": "month", "y": {"field": "revenue", "title": "Revenue"}}
    spec = compile_chart({**options, "series": "channel"}, rows, {}, Formatter("en_US", "USD"))
    assert spec["layer"][0]["encoding"]["y"]["title"] == "Revenue"


def test_the_chart_legend_shows_met_thresholds_and_rules_as_lines() -> None:
    from reportc.section_types.chart import _legend

    options = {
        "y": "net",
        "thresholds": [
            {"above": 0, "style": "good", "label": "surplus month"},
            {"below": 0, "style": "critical", "label": "deficit month"},
        ],
        "rules": [{"y": 0, "label": "break-even", "style": "warn"}],
    }
    legend = _legend(options, [{"net": -5}, {"net": -2}])
    assert legend == [
        {"style": "critical", "label": "deficit month", "shape": "square"},
        {"style": "warn", "label": "break-even", "shape": "line"},
    ]
