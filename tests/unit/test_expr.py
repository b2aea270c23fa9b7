"""The metric expression language: what it allows, refuses and computes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from reportc.expr import ExprError, parse


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        ("a / b", {"a": 10, "b": 4}, 2.5),
        ("(a - b) * 2", {"a": 10, "b": 4}, 12),
        ("a / b if b > 0 else None", {"a": 10, "b": 0}, None),
        ("max(a, b, 3)", {"a": 1, "b": 2}, 3),
        ("round(a, 1)", {"a": 2.345}, 2.3),
        ("coalesce(a, b)", {"a": None, "b": 7}, 7),
        ("a + 1", {"a": None}, None),
        ("a > 1 and b < 1", {"a": 2, "b": 0}, True),
        ("-a", {"a": Decimal("2.5")}, -2.5),
        ("not a", {"a": 0}, True),
        ("1 < a <= 3", {"a": 3}, True),
    ],
)
def test_evaluates(source: str, values: dict[str, object], expected: object) -> None:
    assert parse(source).evaluate(values) == expected


def test_names() -> None:
    assert parse("cash / max(burn, 1)").names == frozenset({"cash", "burn"})


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("__import__('os')", "only these functions are allowed"),
        ("a.b", "'Attribute' is not allowed"),
        ("a[0]", "'Subscript' is not allowed"),
        ("'text'", "only numbers are allowed"),
        ("lambda: 1", "'Lambda' is not allowed"),
        ("[x for x in y]", "'ListComp' is not allowed"),
        ("a +", "invalid expression"),
        ("max(a, key=b)", "positional arguments only"),
        ("a @ b", "operator not allowed"),
    ],
)
def test_refuses(source: str, message: str) -> None:
    with pytest.raises(ExprError, match=message):
        parse(source)


def test_division_by_zero_is_an_error_with_column() -> None:
    with pytest.raises(ExprError) as info:
        parse("cash / burn").evaluate({"cash": 1, "burn": 0})
    assert str(info.value) == "division by zero"
    assert info.value.col == 1
