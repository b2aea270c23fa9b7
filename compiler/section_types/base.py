"""What a section type is, and the narrow view of a report it works on.

A :class:`SectionType` is everything reportc knows about one kind of section: its
options schema, its template, which names its options refer to (``needs``), how its
rows become template values (``prepare``), what it adds to the email summary
(``summary``), which figures of it the archive keeps (``figures``) and how many
archived runs it shows (``history``). Built-in types are one module each in this
package; plugins add more through the ``reportc.section_types`` entry point group.

A type sees a section and its report through the read-only protocols below, not the
binder's classes, so a type (built in or a plugin's) depends on nothing but this
module, the formatter and the error hierarchy.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from ..errors import DataError, Location, Problem, did_you_mean, format_path
from ..formatting import Formatter

Options = Mapping[str, Any]


class SectionSpecView(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def options(self) -> Options: ...


class SectionView(Protocol):
    """A bound section: its spec, and the rows (with their columns) it shows."""

    @property
    def spec(self) -> SectionSpecView: ...
    @property
    def rows(self) -> Sequence[Mapping[str, Any]]: ...
    @property
    def columns(self) -> Sequence[str]: ...


class MetricView(Protocol):
    @property
    def format(self) -> str: ...
    @property
    def decimals(self) -> int | None: ...
    @property
    def unit(self) -> str: ...


class PointView(Protocol):
    """One archived run's figures (as :func:`point_value` reads them)."""

    @property
    def label(self) -> str: ...
    @property
    def values(self) -> Mapping[str, Any]: ...


class PeriodView(Protocol):
    @property
    def end(self) -> Any: ...
    @property
    def title(self) -> str: ...
    @property
    def previous(self) -> PeriodView: ...
    @property
    def short_title(self) -> str: ...


class ThemeView(Protocol):
    @property
    def font_family(self) -> str: ...
    @property
    def primary_color(self) -> str: ...


class ReportSpecView(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def theme(self) -> ThemeView: ...


class PositionsView(Protocol):
    def at(self, path: tuple[str | int, ...], *, key: bool = False) -> Location: ...


class ReportView(Protocol):
    """The bound report a section belongs to: its figures, period, history and positions."""

    @property
    def spec(self) -> ReportSpecView: ...
    @property
    def period(self) -> PeriodView: ...
    @property
    def metrics(self) -> Mapping[str, Any]: ...
    @property
    def metric_specs(self) -> Mapping[str, MetricView]: ...
    @property
    def report_titles(self) -> Mapping[str, str]: ...
    @property
    def history(self) -> Sequence[PointView]: ...
    @property
    def positions(self) -> PositionsView: ...
    @property
    def font_dirs(self) -> Sequence[Path]: ...
    @property
    def cache_dir(self) -> Path | None: ...


Values = Mapping[str, Any]
Prepare = Callable[[Any, Any, Formatter], Values]
#: (message, path below the section) of a problem with a section's options
OptionProblem = tuple[str, tuple[str | int, ...]]


@dataclass(frozen=True)
class Summary:
    """What a section adds to its report's email summary."""

    highlights: tuple[Mapping[str, str], ...] = ()
    findings: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class SheetColumn:
    """One column of a workbook sheet: its heading, how its cells are typed (a format
    name of :mod:`reportc.formatting`), its decimals, and its total (``sum``, ``avg``,
    ``count``, ``min``, ``max``; "" for none)."""

    label: str
    kind: str = "text"
    decimals: int | None = None
    total: str = ""
    #: after each number: a symbol directly, a word after a space
    unit: str = ""


@dataclass(frozen=True)
class Typed:
    """A cell whose format is its own (a ``typed`` column: a KPI's value in its card's
    format)."""

    value: Any
    kind: str = ""
    decimals: int | None = None


@dataclass(frozen=True)
class Sheet:
    """What a section puts in the report's workbook (``--format xlsx``): typed rows
    under headings, the same values its PDF shows."""

    columns: tuple[SheetColumn, ...]
    rows: tuple[tuple[Any, ...], ...] = ()
    totals_label: str = "Total"


def no_values(section: SectionView, report: ReportView, fmt: Formatter) -> Values:
    return {}


def no_names(options: Options) -> frozenset[str]:
    return frozenset()


def no_summary(values: Values) -> Summary:
    return Summary()


def no_figures(section: SectionView) -> Mapping[str, Any] | None:
    return None


def no_sheet(section: SectionView, values: Values) -> Sheet | None:
    return None


def no_history(options: Options) -> int:
    return 0


def no_problems(options: Options, metrics: Collection[str]) -> list[OptionProblem]:
    return []


@dataclass(frozen=True)
class SectionType:
    """One kind of section. Only ``name`` is required; the rest default to "none".

    ``template`` is a file (a plugin's); None means ``sections/<name>.html.j2`` from the
    project or the built-ins. ``schema`` is the JSON Schema fragment of the type's own
    options (``{"properties": ..., "required": ...}``), inline or as a file.
    """

    name: str
    template: Path | None = None
    schema: Mapping[str, Any] | Path | None = None
    #: (section, report, formatter) -> the values its template shows besides the common keys
    prepare: Prepare = no_values
    #: the source and metric names its own options refer to (its source, query and
    #: texts are read for every type)
    needs: Callable[[Options], frozenset[str]] = no_names
    #: what its prepared values add to the email summary
    summary: Callable[[Values], Summary] = no_summary
    #: the figures the archive keeps for it (label -> value), None for none
    figures: Callable[[SectionView], Mapping[str, Any] | None] = no_figures
    #: how many archived runs it shows (1 for a comparison, N-1 for a trend of N)
    history: Callable[[Options], int] = no_history
    #: (section, its prepared values) -> its sheet in the report's workbook; None: no sheet
    sheet: Callable[[SectionView, Values], Sheet | None] = no_sheet
    #: what its schema cannot say about its options (given the project's metric names)
    check: Callable[[Options, Collection[str]], list[OptionProblem]] = no_problems


# --------------------------------------------------------------------------- helpers


def section_problem(
    section: SectionView, report: ReportView, message: str, *key: str | int
) -> DataError:
    """A data error pointing at the section's key ``key`` in reports.yaml."""
    path = ("sections", section.spec.name, *key)
    return DataError(
        Problem(
            f"report '{report.spec.name}', section '{section.spec.name}': {message}",
            report.positions.at(path),
            format_path(path),
        )
    )


def explicit(section: SectionView, key: str) -> Options:
    value = section.spec.options.get(key, {})
    return value if isinstance(value, Mapping) else {}


def fields(section: SectionView, defaults: Sequence[str]) -> dict[str, str]:
    """Role -> column: the defaults (each role its own name), then ``fields:``."""
    return {**{d: d for d in defaults}, **explicit(section, "fields")}


def check_fields(
    section: SectionView,
    report: ReportView,
    wanted: Mapping[str, str],
    required: Sequence[str],
    key: str = "fields",
) -> None:
    """A clear error for a required (or explicitly named) column the rows lack."""
    if not section.rows and not section.columns:
        return
    for role, column in wanted.items():
        if column not in section.columns and (role in required or role in explicit(section, key)):
            raise section_problem(
                section,
                report,
                f"no column '{column}' for {role}{did_you_mean(column, section.columns)}; "
                f"columns are: {', '.join(section.columns)}",
                key,
                role,
            )


def to_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def in_range(v: float, rule: Mapping[str, Any]) -> bool:
    """Whether ``v`` satisfies a rule's ``above`` and ``below`` bounds (both exclusive)."""
    if "above" in rule and not v > float(rule["above"]):
        return False
    return not ("below" in rule and not v < float(rule["below"]))


def point_value(point: PointView, section: str, metric: str | None, label: Any) -> Any:
    """A card's value in an archived run: by metric name, or by section and label."""
    if metric is not None:
        return point.values.get("metrics", {}).get(metric)
    return point.values.get("kpis", {}).get(section, {}).get(str(label))


def item_names(options: Options) -> frozenset[str]:
    """The names ``items:`` entries refer to as their ``value`` and ``target``."""
    names = {
        item[key]
        for item in options.get("items", ())
        for key in ("value", "target")
        if isinstance(item.get(key), str)
    }
    return frozenset(names)


def rows_problems(type_name: str, options: Options, *others: str) -> list[OptionProblem]:
    """A section of this type shows rows: it needs ``source`` or ``query`` (or one of
    ``others``, the keys that stand in for them)."""
    if {"source", "query", *others} & set(options):
        return []
    what = ", ".join(f"'{k}'" for k in others) + (", " if others else "")
    what = f"{what}'source' or 'query'" if others else "'source' or 'query'"
    return [(f"a {type_name} section needs {what}", ())]


def item_problems(options: Options, metrics: Collection[str]) -> list[OptionProblem]:
    """``items:`` entries name known metrics as their ``value`` and ``target``."""
    return [
        (f"unknown metric '{ref}'{did_you_mean(ref, metrics)}", ("items", i, key))
        for i, item in enumerate(options.get("items", ()))
        for key in ("value", "target")
        if isinstance(ref := item.get(key), str) and ref not in metrics
    ]


def currency_decimals(values: Sequence[Any]) -> int:
    """One choice for a set of amounts shown together: cents only when every amount is
    small and some have cents."""
    nums = [f for f in (to_float(v) for v in values) if f is not None]
    if nums and all(abs(n) < 1000 for n in nums) and any(not n.is_integer() for n in nums):
        return 2
    return 0


def item_decimals(items: Sequence[Options], report: ReportView) -> dict[int, int | None]:
    """Decimals for each of a section's ``items``: an item's own ``decimals`` wins; the
    currency items without one share one choice (so "$58" sits beside "$7,027", never
    "$58.00"); others keep their metric's."""

    def kind(item: Options) -> str:
        return str(item.get("format", report.metric_specs[item["value"]].format))

    shared = [
        i for i, item in enumerate(items) if kind(item) == "currency" and "decimals" not in item
    ]
    common = currency_decimals([report.metrics.get(items[i]["value"]) for i in shared])
    return {
        i: item["decimals"]
        if "decimals" in item
        else (common if i in shared else report.metric_specs[item["value"]].decimals)
        for i, item in enumerate(items)
    }
