"""The project is a boundary, and data is text: attacks from YAML, SQL, templates and rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportc.cli import main
from reportc.resources import builtin_dir
from tests.conftest import MINIMAL_YAML, MakeProject, pdf_text

SECRET = "AWS_SECRET_ACCESS_KEY=s3cr3t-value\n"


def _run(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["-C", str(root), *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "SELECT 1; COPY (SELECT 'pwned') TO 'reports.yaml'",
            "it holds 2 statements (SELECT, COPY); SQL in reports.yaml is one read-only SELECT",
        ),
        (
            "COPY (SELECT 1) TO '.reportc/ledger.sqlite'",
            "it is a COPY statement; SQL in reports.yaml is one read-only SELECT",
        ),
        ("ATTACH 'x.db'", "it is a ATTACH statement; SQL in reports.yaml is one read-only SELECT"),
        (
            "SELECT count(*) FROM read_csv('repos.env')",
            'Permission Error: Cannot access file "repos.env": SQL may read only the project\'s '
            "declared data files",
        ),
        (
            "SELECT count(*) FROM read_text('reports.yaml')",
            "SQL may read only the project's declared data files",
        ),
    ],
)
def test_project_sql_is_one_select_over_declared_files(
    make_project: MakeProject, sql: str, expected: str
) -> None:
    text = MINIMAL_YAML.replace("sql: SELECT count(*) FROM sales", f'sql: "{sql}"')
    root = make_project({"reports.yaml": text, "repos.env": SECRET})
    (root / ".reportc").mkdir()
    (root / ".reportc/ledger.sqlite").write_bytes(b"ledger")
    before = (root / "reports.yaml").read_bytes()
    code, output = _run(root, "validate")
    assert code == 4, output
    assert "metrics.orders.sql: query failed: " in output and expected in output
    assert (root / "reports.yaml").read_bytes() == before
    assert (root / ".reportc/ledger.sqlite").read_bytes() == b"ledger"
    assert "s3cr3t" not in output


def test_sql_reads_a_declared_file_by_path_relative_to_the_project(
    make_project: MakeProject, tmp_path: Path
) -> None:
    text = MINIMAL_YAML.replace(
        "sql: SELECT count(*) FROM sales", "sql: SELECT count(*) FROM read_csv('data/sales.csv')"
    )
    root = make_project({"reports.yaml": text})
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "data").mkdir(parents=True)
    (elsewhere / "data/sales.csv").write_text("region,amount\nX,1\n")  # must not be read
    result = CliRunner().invoke(main, ["-C", str(root), "build"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "from 3 orders" in pdf_text(root / "dist/ceo.pdf")


def test_sources_cannot_name_secrets_or_state(make_project: MakeProject) -> None:
    text = MINIMAL_YAML.replace("path: data/sales.csv", "path: repos.env")
    root = make_project({"reports.yaml": text, "repos.env": SECRET})
    code, output = _run(root, "validate")
    assert code == 3
    assert (
        "sources.sales.path: 'repos.env' is project configuration or an env file; reportc never "
        "reads it as data file" in output
    )
    text = MINIMAL_YAML.replace("path: data/sales.csv", "path: .reportc/ledger.sqlite")
    root = make_project({"reports.yaml": text, ".reportc/ledger.sqlite": "x"})
    code, output = _run(root, "validate")
    assert "'.reportc/ledger.sqlite' is hidden (state, version control or secrets)" in output


def test_templates_cannot_attach_or_embed_project_files(make_project: MakeProject) -> None:
    links = "".join(
        f'<link rel="attachment" href="{href}">'
        for href in ("repos.env", "reports.yaml", "data/sales.csv", ".reportc/ledger.sqlite")
    )
    template = (builtin_dir("templates") / "report.html.j2").read_text()
    root = make_project(
        {
            "repos.env": SECRET,
            ".reportc/ledger.sqlite": "ledger",
            "templates/report.html.j2": template.replace("</head>", links + "</head>"),
        }
    )
    code, output = _run(root, "build")
    assert code == 0, output
    assert "warning: report 'ceo': refused to fetch file://" in output
    assert output.count("refused to fetch") == 4
    pdf = (root / "dist/ceo.pdf").read_bytes()
    assert b"s3cr3t" not in pdf and b"EmbeddedFile" not in pdf


def test_markdown_and_html_in_data_stay_literal_text(make_project: MakeProject) -> None:
    rows = (
        "region,amount\n"
        '"![x](http://127.0.0.1:9/beacon.png) [click](http://127.0.0.1:9/) *bold* <b>raw</b>",5\n'
    )
    text = MINIMAL_YAML.replace(
        'text: "Sales were {{ total_sales | currency }} from {{ orders }} orders."',
        'text: "Top: {{ top_region }}. See [our site](https://example.com)."',
    ).replace(
        "  average_order:",
        "  top_region:\n    sql: SELECT region FROM sales ORDER BY amount DESC LIMIT 1\n"
        "  average_order:",
    )
    root = make_project({"reports.yaml": text, "data/sales.csv": rows})
    code, output = _run(root, "build")
    assert code == 0, output
    html = (root / "dist/ceo.html").read_text()
    assert "<img" not in html.split("<body", 1)[1].replace('<img class="logo"', "")
    assert 'href="http://127.0.0.1:9/' not in html
    assert "<em>bold</em>" not in html and "<b>raw</b>" not in html
    assert (
        "![x](http://127.0.0.1:9/beacon.png) [click](http://127.0.0.1:9/) *bold* &lt;b&gt;raw"
        in (html)
    )
    assert '<a href="https://example.com">our site</a>' in html  # the author's own link
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None and "default-src 'none'" in csp.group(1)
    assert "http" not in csp.group(1)
    text_pdf = pdf_text(root / "dist/ceo.pdf")
    assert "*bold* <b>raw</b>" in text_pdf


def test_secrets_are_never_interpolated_into_content(make_project: MakeProject) -> None:
    text = MINIMAL_YAML.replace(
        'text: "Sales were', 'text: "Key ${AWS_SECRET_ACCESS_KEY:-none}. Sales were'
    )
    root = make_project({"reports.yaml": text, "repos.env": SECRET})
    code, output = _run(root, "validate")
    assert code == 3, output
    assert (
        "reports.yaml:27:11: sections.summary.text: ${AWS_SECRET_ACCESS_KEY} looks like a "
        "secret; secrets are never put into reports, emails or manifests" in output
    )
    assert "s3cr3t" not in output


def test_a_template_linked_out_of_its_folder_is_not_read(make_project: MakeProject) -> None:
    root = make_project({"repos.env": SECRET})
    (root / "templates").mkdir()
    (root / "templates/report.html.j2").symlink_to(root / "repos.env")
    code, output = _run(root, "build")
    assert code != 0
    assert "template 'report.html.j2' is a link to a file outside the templates and sections " in (
        output
    )
    assert (
        not (root / "dist/ceo.html").exists()
        or b"s3cr3t" not in (root / "dist/ceo.html").read_bytes()
    )
