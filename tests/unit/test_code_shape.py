"""The shape of the package, checked: small units, docstrings, and where imports go.

- Every module opens with a docstring that says what it owns.
- No function over 60 lines, no class over 250, no module over 500. An exception
  needs a one-line reason at its top: a ``# size: <why>`` comment on the line after
  the ``def``/``class`` line (or in the module's first 30 lines).
- Imports inside functions only of the heavy third-party packages in ``DEFERRED``
  (the one list of them): a no-change build must not pay for them. Never of reportc
  itself: the layers (import-linter) are kept by module-level imports.

Complexity (C901, PLR0912, PLR0915) is ruff's job (pyproject.toml).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

PACKAGE = Path(__file__).resolve().parents[2] / "compiler"
MAX_FUNCTION, MAX_CLASS, MAX_MODULE = 60, 250, 500

#: The only packages imported inside functions, and why each waits until it is needed.
DEFERRED = {
    "duckdb": "the SQL engine: a build with nothing to do never opens a database",
    "weasyprint": "layout: ~1 s to import, only when a PDF is made",
    "vl_convert": "charts: starts a JavaScript runtime, only for a chart",
    "jsonschema": "validation: skipped for a document validated before",
    "boto3": "AWS: only for SES, SQS and S3",
    "botocore": "AWS errors and client settings, with boto3",
    "sqlalchemy": "external databases: only when a project declares one",
    "psycopg": "the PostgreSQL ledger: only when delivery.ledger names one",
    "cryptography": "SNS signatures ('events ingest') and PKCS#12 keys (pdf.sign)",
    "pikepdf": "encryption: only for a report with pdf.encrypt",
    "pyhanko": "signing: only for a report with pdf.sign",
    "xlsxwriter": "workbooks: only for a report built as xlsx",
    "slack_sdk": "Slack: only when a report posts to a Slack channel",
    "croniter": "schedules: only when a project has one",
    "resource": "POSIX only: memory limits (absent on Windows)",
    "email": "email.headerregistry: ~4 ms, only to re-read a composed message's headers",
}


def _modules() -> Iterator[tuple[Path, ast.Module, list[str]]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text("utf-8")
        yield path, ast.parse(text), text.splitlines()


def _excused(lines: list[str], lineno: int) -> bool:
    """A ``# size:`` reason on the line after the def/class line (1-based lineno)."""
    return lineno < len(lines) and lines[lineno].strip().startswith("# size:")


def test_every_module_says_what_it_owns() -> None:
    missing = [
        str(p.relative_to(PACKAGE)) for p, tree, _ in _modules() if not ast.get_docstring(tree)
    ]
    assert not missing, f"modules without a docstring: {missing}"


def test_units_are_small() -> None:
    too_big: list[str] = []
    for path, tree, lines in _modules():
        rel = path.relative_to(PACKAGE)
        if len(lines) > MAX_MODULE and not any(ln.startswith("# size:") for ln in lines[:30]):
            too_big.append(f"{rel}: module of {len(lines)} lines")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                limit = MAX_CLASS if isinstance(node, ast.ClassDef) else MAX_FUNCTION
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > limit and not _excused(lines, node.lineno):
                    too_big.append(f"{rel}:{node.lineno}: {node.name} is {size} lines")
    assert not too_big, "\n".join(too_big)


def _function_imports(tree: ast.Module) -> Iterator[tuple[int, str, int]]:
    """(line, top-level module, relative level) of every import inside a function."""
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import):
                yield from ((inner.lineno, a.name.split(".")[0], 0) for a in inner.names)
            elif isinstance(inner, ast.ImportFrom):
                yield inner.lineno, (inner.module or "").split(".")[0], inner.level


def test_only_heavy_packages_are_imported_inside_functions() -> None:
    wrong = [
        f"{path.relative_to(PACKAGE)}:{line}: {name or '.'}"
        for path, tree, _ in _modules()
        for line, name, level in _function_imports(tree)
        if level or name == "reportc" or name not in DEFERRED
    ]
    assert not wrong, "imports inside functions (move them to the top):\n" + "\n".join(wrong)


def test_the_cli_contract_names_every_module() -> None:
    """import-linter's *forbidden* contract keeps the CLI on the public API only if it
    lists every other module: a module missing from it would be open to the CLI."""
    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    forbidden = next(c for c in contracts if c["type"] == "forbidden")["forbidden_modules"]
    modules = {
        "reportc." + path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for path in PACKAGE.glob("*")
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    } - {"reportc.cli"}
    assert sorted(modules - set(forbidden)) == []
