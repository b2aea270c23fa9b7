"""A small, safe arithmetic language for metrics (``expr:``); no Python ``eval``.

An expression is parsed with :mod:`ast` and only a whitelist of node types is
accepted: numbers, names of other metrics, ``+ - * / // % **``, comparisons,
``and``/``or``/``not``, ``a if cond else b`` and a few functions. Evaluation
walks the tree; ``None`` (a missing value) propagates through arithmetic.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


class ExprError(ValueError):
    """The expression is not allowed or could not be evaluated; ``col`` is 1-based."""

    def __init__(self, message: str, col: int | None = None) -> None:
        super().__init__(message)
        self.col = col


class ExprLimit(ExprError):
    """The expression asks for a value beyond the bounds of a metric (never silent)."""


def _coalesce(*args: Any) -> Any:
    return next((a for a in args if a is not None), None)


FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "floor": math.floor,
    "ceil": math.ceil,
    "coalesce": _coalesce,
}

_BINOPS: Mapping[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMPOPS: Mapping[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


@dataclass(frozen=True)
class Expression:
    source: str
    tree: ast.expr

    @property
    def names(self) -> frozenset[str]:
        return frozenset(
            n.id for n in ast.walk(self.tree) if isinstance(n, ast.Name) and n.id not in FUNCTIONS
        )

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        return _eval(self.tree, values)


MAX_SOURCE = 2000


def parse(source: str) -> Expression:
    if len(source) > MAX_SOURCE:
        raise ExprError(f"the expression is over {MAX_SOURCE} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"invalid expression: {exc.msg}", exc.offset) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # huge literals, deep nesting
        raise ExprError(f"invalid expression: {str(exc)[:100] or 'nested too deeply'}") from None
    for node in ast.walk(tree.body):
        _check(node)
    return Expression(source, tree.body)


_ALLOWED = (
    ast.Name,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.IfExp,
    ast.Load,
    ast.operator,
    ast.unaryop,
    ast.cmpop,
)


def _check(node: ast.AST) -> None:
    """Refuse every node but numbers, names, arithmetic, comparisons and FUNCTIONS."""
    col = getattr(node, "col_offset", None)
    col = col + 1 if col is not None else None
    problem = _problem(node)
    if problem:
        raise ExprError(problem, col)


def _problem(node: ast.AST) -> str:
    if isinstance(node, ast.Constant):
        is_number = isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
        return (
            "" if is_number or node.value is None else "only numbers are allowed as literal values"
        )
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            return "only these functions are allowed: " + ", ".join(sorted(FUNCTIONS))
        return "functions take positional arguments only" if node.keywords else ""
    if isinstance(node, ast.BinOp):
        return "" if type(node.op) in _BINOPS else "operator not allowed"
    if isinstance(node, ast.UnaryOp):
        allowed = isinstance(node.op, (ast.USub, ast.UAdd, ast.Not))
        return "" if allowed else "operator not allowed"
    if isinstance(node, ast.Compare):
        allowed = all(type(op) in _CMPOPS for op in node.ops)
        return "" if allowed else "comparison not allowed"
    if isinstance(node, _ALLOWED):
        return ""
    return f"'{type(node).__name__}' is not allowed in a metric expression"


#: the largest magnitude a metric may take: far beyond any money, small enough to format
MAX_MAGNITUDE = 10**18


def _check_size(node: ast.BinOp, left: Any, right: Any) -> None:
    """Refuse work whose result could not be a sensible figure, before doing it."""
    if (
        isinstance(node.op, ast.Pow)
        and isinstance(right, (int, float))
        and (abs(right) > 64 or (abs(left) > 1 and abs(right) * _digits(left) > 18))
    ):
        raise ExprLimit(
            f"{left!r} ** {right!r} is too large (metrics stay within ±10^18)",
            node.col_offset + 1,
        )


def _digits(value: Any) -> float:
    return math.log10(abs(float(value))) if value else 0.0


def _bounded(value: Any, node: ast.BinOp) -> Any:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and (value != value or abs(value) > MAX_MAGNITUDE):  # NaN, inf or huge
        raise ExprLimit(
            f"the result {value!r:.40} is out of range (metrics stay within ±10^18)",
            node.col_offset + 1,
        )
    return value


def _num(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _eval(node: ast.expr, values: Mapping[str, Any]) -> Any:
    """The value of a checked expression; None (a missing figure) propagates."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return _num(values[node.id])
    if isinstance(node, ast.IfExp):
        return _eval(node.body if _eval(node.test, values) else node.orelse, values)
    evaluate = _EVALUATORS.get(type(node))
    if evaluate is None:  # pragma: no cover - _check refused it
        raise ExprError(f"cannot evaluate {type(node).__name__}")
    return evaluate(node, values)


def _eval_binop(node: Any, values: Mapping[str, Any]) -> Any:
    left, right = _eval(node.left, values), _eval(node.right, values)
    if left is None or right is None:
        return None
    if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and right == 0:
        raise ExprError("division by zero", node.col_offset + 1)
    _check_size(node, left, right)
    try:
        computed = _BINOPS[type(node.op)](left, right)
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise ExprError(f"{exc}", node.col_offset + 1) from None
    return _bounded(computed, node)


def _eval_unary(node: Any, values: Mapping[str, Any]) -> Any:
    operand = _eval(node.operand, values)
    if isinstance(node.op, ast.Not):
        return not operand
    if operand is None:
        return None
    return -operand if isinstance(node.op, ast.USub) else operand


def _eval_boolop(node: Any, values: Mapping[str, Any]) -> Any:
    result: Any = None
    for value_node in node.values:
        result = _eval(value_node, values)
        if isinstance(node.op, ast.And) and not result:
            return result
        if isinstance(node.op, ast.Or) and result:
            return result
    return result


def _eval_compare(node: Any, values: Mapping[str, Any]) -> Any:
    left = _eval(node.left, values)
    for op, comp in zip(node.ops, node.comparators, strict=True):
        right = _eval(comp, values)
        if left is None or right is None:
            return None
        if not _CMPOPS[type(op)](left, right):
            return False
        left = right
    return True


def _eval_call(node: Any, values: Mapping[str, Any]) -> Any:
    assert isinstance(node.func, ast.Name)
    args = [_eval(a, values) for a in node.args]
    name = node.func.id
    if name != "coalesce" and any(a is None for a in args):
        return None
    try:
        return FUNCTIONS[name](*args)
    except (TypeError, ValueError) as exc:
        raise ExprError(f"{name}(): {exc}", node.col_offset + 1) from None


_EVALUATORS: dict[type, Callable[[Any, Mapping[str, Any]], Any]] = {
    ast.BinOp: _eval_binop,
    ast.UnaryOp: _eval_unary,
    ast.BoolOp: _eval_boolop,
    ast.Compare: _eval_compare,
    ast.Call: _eval_call,
}
