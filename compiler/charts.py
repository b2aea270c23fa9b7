"""Charts: a short YAML form compiled to Vega-Lite, rendered to SVG by vl-convert.

The short form covers what executive reports need — ``line``, ``bar``
(grouped or stacked), ``area`` and ``combo`` (bars plus a line on its own
axis), target/threshold rules and coloured thresholds — and a full Vega-Lite
spec (``vega_lite:``) covers the rest. Rendering happens at build time without
a browser; text stays text in the SVG (and so in the PDF), and the same data
gives the same SVG. vl-convert is told to load nothing from the network.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from babel import numbers as babel_numbers

from .figures import json_value
from .formatting import TONE_COLOURS, Formatter
from .writer import write_atomic

STATUS_COLORS = TONE_COLOURS
PALETTE = ("#1f3a5f", "#4f86c6", "#c8102e", "#7fb069", "#e0a458", "#6c5b7b", "#2a9d8f", "#8d99ae")
DEFAULT_FONT = "DejaVu Sans"
WIDTH = 640
HEIGHT = 220


class ChartError(ValueError):
    """The chart options or the Vega-Lite spec could not be compiled or rendered."""


def _plain(value: Any) -> Any:
    return json_value(value) if isinstance(value, (Decimal, dt.date)) else value


def axes(spec: Any) -> list[dict[str, Any]]:
    """A chart option naming one column or several (names or {field: ...}), as a list."""
    if spec is None:
        return []
    items = spec if isinstance(spec, list) else [spec]
    return [{"field": i} if isinstance(i, str) else dict(i) for i in items]


def _d3_format(kind: str | None, decimals: int | None) -> str | None:
    if kind == "currency":
        return f"$,.{0 if decimals is None else decimals}f"
    if kind == "percent":
        return f".{0 if decimals is None else decimals}%"
    if kind == "integer":
        return ",d"
    if kind == "compact":
        return ".2~s"
    if kind == "number":
        return f",.{decimals}f" if decimals is not None else ",~r"
    return None


def format_locale(locale: str, currency: str) -> dict[str, Any]:
    """A d3 number locale for ``locale`` whose currency symbol and placement are Babel's."""
    import vl_convert as vlc

    lookup: Any = vlc.get_format_locale  # typed with a Literal of names; we pass any
    try:
        base = dict(lookup(locale.replace("_", "-")))
    except Exception:
        base = dict(lookup("en-US"))
    text = babel_numbers.format_currency(0, currency, locale=locale)
    digits = [i for i, ch in enumerate(text) if ch.isdigit()]
    base["currency"] = [text[: digits[0]], text[digits[-1] + 1 :]] if digits else ["", ""]
    return base


def _value_label(value: Any, fmt: Formatter, kind: str | None) -> Any:
    if kind in ("date", "month", "text") or isinstance(value, (dt.date, dt.datetime)):
        return fmt.format(value, kind)
    return _plain(value)


def _config(font: str, primary: str) -> dict[str, Any]:
    return {
        "font": font,
        "view": {"stroke": None},
        "axis": {
            "labelFontSize": 10,
            "titleFontSize": 10,
            "labelColor": "#3d4756",
            "titleColor": "#3d4756",
            "gridColor": "#e3e7ed",
            "domainColor": "#9aa4b2",
        },
        "legend": {"labelFontSize": 10, "titleFontSize": 10, "orient": "bottom"},
        "range": {"category": [primary, *[c for c in PALETTE if c != primary]]},
    }


def _full_spec(
    options: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], config: Mapping[str, Any]
) -> dict[str, Any]:
    """A full Vega-Lite spec (``vega_lite:``), given the rows and the house style."""
    full: dict[str, Any] = dict(options["vega_lite"])
    if "data" not in full:
        full["data"] = {"values": [{k: _plain(v) for k, v in r.items()} for r in rows]}
    full["config"] = {**config, **full.get("config", {})}
    full.setdefault("width", WIDTH)
    full.setdefault("height", int(options.get("height", HEIGHT)))
    return full


@dataclass(frozen=True)
class _Axes:
    """A short-form chart's columns: x, the y columns, the line columns, the series."""

    kind: str
    x: Mapping[str, Any]
    ys: list[dict[str, Any]]
    lines: list[dict[str, Any]]
    series: str | None


def _checked_axes(options: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> _Axes:
    kind = options.get("kind", "bar")
    x = dict(axes(options.get("x"))[0]) if options.get("x") else None
    if x is None:
        raise ChartError("a chart needs 'x' (the column along the horizontal axis)")
    ys = axes(options.get("y"))
    lines = axes(options.get("line"))
    if not ys:
        raise ChartError("a chart needs 'y' (one column or a list of columns)")
    if kind == "combo" and not lines:
        raise ChartError("a combo chart needs 'line' (the column drawn as a line)")
    series = options.get("series")
    columns = set(rows[0]) if rows else set()
    for axis in [x, *ys, *lines]:
        if rows and axis["field"] not in columns:
            raise ChartError(f"no column '{axis['field']}'; columns are: {', '.join(rows[0])}")
    if series and rows and series not in columns:
        raise ChartError(f"no column '{series}' for series; columns are: {', '.join(rows[0])}")
    return _Axes(kind, x, ys, lines, series)


def _title(axis: Mapping[str, Any]) -> str:
    return str(axis.get("title", axis["field"].replace("_", " ").capitalize()))


def _chart_values(
    rows: Sequence[Mapping[str, Any]], axes: _Axes, fmt: Formatter
) -> tuple[list[dict[str, Any]], list[Any], list[str]]:
    """(the long-form values, the x order, the series order) of a short-form chart."""
    x, ys, series = axes.x, axes.ys, axes.series
    order: list[Any] = []
    series_order: list[str] = []
    values: list[dict[str, Any]] = []
    for row in rows:
        label = _value_label(row.get(x["field"]), fmt, x.get("format"))
        if label not in order:
            order.append(label)
        for axis in ys:
            name = str(row.get(series)) if series and len(ys) == 1 else _title(axis)
            if name not in series_order:
                series_order.append(name)
            value = _plain(row.get(axis["field"]))
            values.append({"x": label, "series": name, "value": value, "layer": "main"})
        for axis in axes.lines:
            value = _plain(row.get(axis["field"]))
            name = axis.get("title", axis["field"])
            values.append({"x": label, "series": name, "value": value, "layer": "line"})
    return values, order, series_order


def _threshold_color(
    thresholds: Sequence[Mapping[str, Any]], primary: str
) -> dict[str, Any] | None:
    """Bars coloured by the first threshold rule they meet (a Vega-Lite condition)."""
    conditions = []
    for rule in thresholds:
        tests = []
        if "above" in rule:
            tests.append(f"datum.value > {float(rule['above'])}")
        if "below" in rule:
            tests.append(f"datum.value < {float(rule['below'])}")
        if tests:
            colour = STATUS_COLORS[rule.get("style", "neutral")]
            conditions.append({"test": " && ".join(tests), "value": colour})
    return {"condition": conditions, "value": primary} if conditions else None


_MARKS: dict[str, dict[str, Any]] = {
    "bar": {"type": "bar", "cornerRadiusEnd": 1},
    "area": {"type": "area", "opacity": 0.75, "line": True},
    "line": {"type": "line", "point": True, "strokeWidth": 2},
    "combo": {"type": "bar", "opacity": 0.85},
}


def _encoding(
    options: Mapping[str, Any],
    axes: _Axes,
    x_enc: dict[str, Any],
    y_enc: dict[str, Any],
    color: dict[str, Any] | None,
    series_order: list[str],
) -> dict[str, Any]:
    kind, multi = axes.kind, len(axes.ys) > 1 or bool(axes.series)
    horizontal = bool(options.get("horizontal")) and kind == "bar"
    encoding: dict[str, Any] = {"x": x_enc, "y": y_enc}
    if horizontal:
        encoding = {"y": {**x_enc, "axis": {"labelLimit": 260}}, "x": y_enc}
    if color is not None:
        encoding["color"] = color
    if multi and kind in ("bar", "combo") and not options.get("stack", False):
        encoding["yOffset" if horizontal else "xOffset"] = {"field": "series", "sort": series_order}
    if kind == "area" and not options.get("stack", True):
        encoding["y"] = {**y_enc, "stack": None}
    if kind == "bar" and not options.get("stack", False) and multi:
        value_axis = "x" if horizontal else "y"
        encoding[value_axis] = {**encoding[value_axis], "stack": None}
    encoding["tooltip"] = [{"field": "x"}, {"field": "series"}, {"field": "value"}]
    return encoding


def _line_layer(lines: Sequence[Mapping[str, Any]], x_enc: Mapping[str, Any]) -> dict[str, Any]:
    """The line of a combo chart, on its own (right-hand) scale."""
    first = lines[0]
    return {
        "transform": [{"filter": "datum.layer === 'line'"}],
        "mark": {
            "type": "line",
            "point": True,
            "strokeWidth": 2.5,
            "color": STATUS_COLORS["critical"],
        },
        "encoding": {
            "x": x_enc,
            "y": {
                "field": "value",
                "type": "quantitative",
                "title": first.get("title", first["field"]),
                "axis": {
                    "format": _d3_format(first.get("format"), first.get("decimals")),
                    "orient": "right",
                },
            },
        },
    }


def _position_encodings(
    options: Mapping[str, Any], axes: _Axes, order: Sequence[Any], horizontal: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The category axis (in row order) and the value axis (formatted like the data)."""
    ys = axes.ys
    # one y column (split into series or not) names the axis; several name the legend
    y_title = options.get("y_title") or (_title(ys[0]) if len(ys) == 1 else "")
    x_enc: dict[str, Any] = {
        "field": "x",
        "type": "ordinal",
        "sort": list(order),
        "title": axes.x.get("title", axes.x["field"].replace("_", " ").capitalize()),
        "axis": {"labelAngle": 0 if horizontal or len(order) <= 8 else -40, "labelLimit": 160},
    }
    y_enc: dict[str, Any] = {
        "field": "value",
        "type": "quantitative",
        "title": y_title,
        "axis": {"format": _d3_format(ys[0].get("format"), ys[0].get("decimals"))},
    }
    return x_enc, y_enc


def compile_chart(
    options: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, Any],
    fmt: Formatter,
    *,
    font: str = DEFAULT_FONT,
    primary: str = PALETTE[0],
) -> dict[str, Any]:
    """The Vega-Lite spec for a chart section (short form or full spec)."""
    config = _config(font, primary)
    if "vega_lite" in options:
        return _full_spec(options, rows, config)
    axes = _checked_axes(options, rows)
    values, order, series_order = _chart_values(rows, axes, fmt)
    multi = len(axes.ys) > 1 or bool(axes.series)
    horizontal = bool(options.get("horizontal")) and axes.kind == "bar"
    x_enc, y_enc = _position_encodings(options, axes, order, horizontal)
    color: dict[str, Any] | None = (
        {"field": "series", "type": "nominal", "title": None, "sort": series_order}
        if multi
        else None
    )
    thresholds = list(options.get("thresholds", ()))
    if thresholds and not multi:
        color = _threshold_color(thresholds, primary)
    encoding = _encoding(options, axes, x_enc, y_enc, color, series_order)
    main = {"filter": "datum.layer === 'main'"}
    layers = [
        {
            "transform": [main],
            "mark": dict(_MARKS.get(axes.kind, _MARKS["combo"])),
            "encoding": encoding,
        }
    ]
    if axes.lines:
        layers.append(_line_layer(axes.lines, x_enc))
    for rule in options.get("rules", ()):
        layers.extend(_rule_layers(rule, metrics, fmt, axes.x.get("format"), order, horizontal))
    spec: dict[str, Any] = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "width": WIDTH,
        "height": int(options.get("height", HEIGHT)),
        "data": {"values": values},
        "layer": layers,
        "config": config,
    }
    if axes.lines:
        spec["resolve"] = {"scale": {"y": "independent"}}
    return spec


def _resolve(value: Any, metrics: Mapping[str, Any]) -> Any:
    if isinstance(value, str) and value in metrics:
        return metrics[value]
    return value


def _rule_label(color: str, label: str, **placement: Any) -> dict[str, Any]:
    """The text mark that names a rule line."""
    return {
        "type": "text",
        "align": "left",
        "dx": 4,
        **placement,
        "color": color,
        "fontSize": 10,
        "fontWeight": "bold",
        "text": label,
    }


def _rule_layers(
    rule: Mapping[str, Any],
    metrics: Mapping[str, Any],
    fmt: Formatter,
    x_kind: str | None,
    order: Sequence[Any],
    horizontal: bool,
) -> list[dict[str, Any]]:
    """A dashed rule at a value (``y``) or a category (``x``), labelled if asked."""
    color = STATUS_COLORS[rule.get("style", "neutral")]
    label = rule.get("label", "")
    line = {"type": "rule", "strokeDash": [5, 3], "strokeWidth": 1.5, "color": color}
    one: dict[str, Any] = {"data": {"values": [{}]}}  # a single mark, not one per data row
    if "y" in rule:
        value = _plain(_resolve(rule["y"], metrics))
        if value is None:
            return []
        along, across = ("x", "y") if horizontal else ("y", "x")
        text = _rule_label(color, label, dy=-6)
        return [{**one, "mark": line, "encoding": {along: {"datum": value}}}] + (
            [{**one, "mark": text, "encoding": {along: {"datum": value}, across: {"value": 0}}}]
            if label
            else []
        )
    if "x" in rule:
        raw = _resolve(rule["x"], metrics)
        value = _value_label(raw, fmt, x_kind) if raw is not None else None
        if value is None or value not in order:
            return []
        text = _rule_label(color, label, baseline="top")
        return [{**one, "mark": line, "encoding": {"x": {"datum": value}}}] + (
            [{**one, "mark": text, "encoding": {"x": {"datum": value}, "y": {"value": 2}}}]
            if label
            else []
        )
    return []


@cache
def _register_fonts(directory: str) -> None:
    import vl_convert as vlc

    vlc.register_font_directory(directory)


def render_svg(
    spec: Mapping[str, Any],
    fmt: Formatter,
    font_dirs: Sequence[Path] = (),
    cache_dir: Path | None = None,
) -> str:
    """SVG text for a Vega-Lite spec; no network access, deterministic.

    With ``cache_dir``, the SVG is kept under the sha256 of everything that shapes it
    (spec, locale, currency, font files, vl-convert version): the same chart is drawn
    once, and a rebuild with unchanged data does not start the JavaScript engine.
    """
    key = _cache_key(spec, fmt, font_dirs) if cache_dir is not None else ""
    if cache_dir is not None:
        cached = cache_dir / f"{key}.svg"
        with contextlib.suppress(OSError, UnicodeDecodeError):  # unreadable: draw it again
            if cached.is_file():
                return cached.read_text("utf-8")
    svg = _render(spec, fmt, font_dirs)
    if cache_dir is not None:
        try:
            write_atomic(cache_dir / f"{key}.svg", svg.encode("utf-8"))
        except OSError as exc:  # the cache is best-effort: a full disk is no failed build
            logging.getLogger("reportc.charts").warning(
                "the chart cache could not be written (%s); charts are drawn anew next time",
                exc.strerror or exc,
            )
    return svg


def _cache_key(spec: Mapping[str, Any], fmt: Formatter, font_dirs: Sequence[Path]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(spec, default=_plain, sort_keys=True).encode())
    h.update(f"{fmt.locale}|{fmt.currency}|{metadata.version('vl-convert-python')}".encode())
    for directory in font_dirs:
        for path in sorted(Path(directory).glob("*")):
            if path.is_file():
                h.update(path.name.encode())
                h.update(str(path.stat().st_size).encode())
    return h.hexdigest()


def _render(spec: Mapping[str, Any], fmt: Formatter, font_dirs: Sequence[Path]) -> str:
    import vl_convert as vlc

    for directory in font_dirs:
        _register_fonts(str(directory))
    try:
        svg: str = vlc.vegalite_to_svg(
            json.loads(json.dumps(spec, default=_plain)),
            allowed_base_urls=[],
            format_locale=format_locale(fmt.locale, fmt.currency),
        )
    except Exception as exc:  # vl-convert raises plain ValueErrors with the JS message
        raise ChartError(str(exc).strip().splitlines()[0]) from None
    svg = _stable_ids(svg)
    match = re.match(r'<svg[^>]*\swidth="([^"]+)"[^>]*\sheight="([^"]+)"', svg)
    if not match or not all(_sane(v) for v in match.groups()):
        raise ChartError(
            "Vega-Lite produced a chart with no usable size; check the spec's "
            "encodings (a sort or scale domain that matches no data is a common cause)"
        )
    return svg


def _stable_ids(svg: str) -> str:
    """Renumber element ids (vl-convert counts clip paths per process) so that the same
    chart gives the same SVG whatever was rendered before it."""
    ids = list(dict.fromkeys(re.findall(r'\sid="([^"]+)"', svg)))
    if not ids:
        return svg
    mapping = {old: f"rc{n}" for n, old in enumerate(ids, start=1)}
    pattern = re.compile(
        r'(\sid="|url\(#|href="#)(' + "|".join(map(re.escape, ids)) + r')(?=["\)])'
    )
    return pattern.sub(lambda m: m.group(1) + mapping[m.group(2)], svg)


def _sane(value: str) -> bool:
    try:
        number = float(value)
    except ValueError:
        return False
    return 0 < number < 20_000


def svg_data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
