"""The bad-input catalogue: each case is a project change and the exact error it must give."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.conftest import MINIMAL_YAML


def edit(old: str, new: str) -> str:
    assert old in MINIMAL_YAML, old
    return MINIMAL_YAML.replace(old, new, 1)


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str | bytes]
    expected: list[str]
    exit_code: int = 3
    env: dict[str, str] = field(default_factory=dict)


CASES = [
    Case(
        "yaml-syntax",
        {"reports.yaml": edit("  entities: [North, South]", "  entities: [North, South")},
        [
            "reports.yaml:5:7: YAML syntax error: expected ',' or ']', but got ':' (while parsing a flow sequence at line 4)"
        ],
    ),
    Case(
        "tab-indent",
        {"reports.yaml": edit("  name: Example Org", "\tname: Example Org")},
        ["reports.yaml:3:1: tab character used for indentation; YAML requires spaces"],
    ),
    Case(
        "duplicate-key",
        {"reports.yaml": edit("  name: Example Org", "  name: Example Org\n  name: Other")},
        ["reports.yaml:4:3: organisation: duplicate key 'name' (first defined at line 3)"],
    ),
    Case(
        "unknown-key",
        {
            "reports.yaml": edit(
                "    title: CEO Report", "    titel: CEO Report\n    title: CEO Report"
            )
        },
        ["reports.yaml:37:5: personas.ceo: unknown key 'titel' (did you mean 'title'?)"],
    ),
    Case(
        "wrong-type",
        {"reports.yaml": edit("  name: Example Org", "  name: [Example, Org]")},
        ["reports.yaml:3:9: organisation.name: expected a string, got a list"],
    ),
    Case(
        "missing-required",
        {"reports.yaml": edit("    title: CEO Report\n", "")},
        ["reports.yaml:37:5: personas.ceo: missing required key 'title'"],
    ),
    Case(
        "empty-file", {"reports.yaml": "# nothing here\n"}, ["reports.yaml:1:1: the file is empty"]
    ),
    Case(
        "non-mapping-root",
        {"reports.yaml": "- ceo\n- cfo\n"},
        [
            "reports.yaml:1:1: the top level must be a mapping of keys (project:, sources:, ...), not a list"
        ],
    ),
    Case(
        "unknown-section",
        {
            "reports.yaml": edit(
                "sections: [summary, sales_table]", "sections: [summary, sales_tabel]"
            )
        },
        [
            "reports.yaml:38:25: personas.ceo.sections[1]: unknown section 'sales_tabel' (did you mean 'sales_table'?)"
        ],
    ),
    Case(
        "unknown-source",
        {"reports.yaml": edit("    source: sales\n", "    source: sale\n")},
        [
            "reports.yaml:31:13: sections.sales_table.source: unknown source 'sale' (did you mean 'sales'?)"
        ],
    ),
    Case(
        "unknown-metric",
        {"reports.yaml": edit("expr: total_sales / orders", "expr: total_sale / orders")},
        [
            "reports.yaml:21:11: metrics.average_order.expr: unknown metric 'total_sale' (did you mean 'total_sales'?)"
        ],
    ),
    Case(
        "metric-cycle",
        {"reports.yaml": edit("expr: total_sales / orders", "expr: average_order * 2")},
        [
            "reports.yaml:20:3: metrics.average_order: dependency cycle: average_order -> average_order"
        ],
    ),
    Case(
        "missing-data-file",
        {"reports.yaml": edit("path: data/sales.csv", "path: data/sale.csv")},
        [
            "reports.yaml:12:11: sources.sales.path: data file 'data/sale.csv' not found (did you mean 'sales.csv'?)"
        ],
    ),
    Case(
        "path-escape",
        {"reports.yaml": edit("path: data/sales.csv", "path: ../secrets.csv")},
        ["reports.yaml:12:11: sources.sales.path: '../secrets.csv' is outside the project folder"],
    ),
    Case(
        "ragged-csv",
        {"data/sales.csv": "region,amount\nNorth,1200\nSouth,800,extra\nNorth,500\n"},
        ["data/sales.csv:3:1: row has 3 fields, the header has 2"],
        4,
    ),
    Case(
        "non-utf8-data",
        {"data/sales.csv": "region,amount\nNorth,1200\nS\xe9ville,800\n".encode("latin-1")},
        ["data/sales.csv:3:2: not valid UTF-8 (byte 0xe9)"],
        4,
    ),
    Case(
        "undefined-variable",
        {"reports.yaml": edit("to: ceo@example.com", "to: ${CEO_EMAIL}")},
        [
            "reports.yaml:40:11: personas.ceo.recipients.to: environment variable CEO_EMAIL is not set"
        ],
    ),
    Case(
        "invalid-email",
        {"reports.yaml": edit("to: ceo@example.com", "to: ceo-at-example.com")},
        [
            "reports.yaml:40:11: personas.ceo.recipients.to: 'ceo-at-example.com' is not a valid email address"
        ],
    ),
    Case(
        "template-syntax-error",
        {"sections/table.html.j2": "{% for row in body %}\n<p>{{ row }</p>\n"},
        [
            "sections/table.html.j2:2: report 'ceo', section 'sales_table': template syntax error: unexpected '}'"
        ],
        5,
    ),
    Case(
        "markdown-syntax-error",
        {
            "reports.yaml": edit(
                "Sales were {{ total_sales | currency }}", "Sales were {{ total_sales | currency }"
            )
        },
        [
            "reports.yaml:24:3: sections.summary.text: report 'ceo', section 'summary': template syntax error in 'text' (line 1 of the text): unexpected '}'"
        ],
        5,
    ),
    Case(
        "undefined-template-name",
        {
            "reports.yaml": edit(
                "Sales were {{ total_sales | currency }}", "Sales were {{ total_salse | currency }}"
            )
        },
        [
            "reports.yaml:24:3: sections.summary.text: report 'ceo', section 'summary': 'total_salse' is undefined in 'text'"
        ],
        5,
    ),
    Case(
        "unknown-section-type",
        {"reports.yaml": edit("    type: markdown", "    type: markdwon")},
        [
            "reports.yaml:25:11: sections.summary.type: unknown section type 'markdwon' (did you mean 'markdown'?)"
        ],
    ),
    Case(
        "bad-period",
        {"reports.yaml": edit('period: "2026-10"', 'period: "2026-13"')},
        [
            "reports.yaml:5:9: period: '2026-13' is not valid here: use YYYY-MM (a month), YYYY-Qn (a quarter) or YYYY (a year)"
        ],
    ),
    Case(
        "metric-many-rows",
        {"reports.yaml": edit("sql: SELECT count(*) FROM sales", "sql: SELECT region FROM sales")},
        [
            "reports.yaml:18:10: metrics.orders.sql: a metric query must return one value; this one returned 3 row(s) of 1 column(s)"
        ],
        4,
    ),
    Case(
        "sql-error",
        {
            "reports.yaml": edit(
                "sql: SELECT count(*) FROM sales",
                "sql: SELECT count(*) FROM sales WHERE regin = 'x'",
            )
        },
        [
            'reports.yaml:18:10: metrics.orders.sql: query failed: Binder Error: Referenced column "regin" not found in FROM clause! Candidate bindings: "region"'
        ],
        4,
    ),
    Case(
        "non-utf8-config",
        {"reports.yaml": MINIMAL_YAML.replace("Example Org", "Soci\xe9t\xe9").encode("latin-1")},
        ["reports.yaml:3:13: not valid UTF-8 (byte 0xe9)"],
    ),
    Case(
        "alias-bomb",
        {
            "reports.yaml": MINIMAL_YAML
            + "x0: &a0 [1,1,1,1,1,1,1,1,1,1]\n"
            + "".join(f"x{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 7))
        },
        ["reports.yaml:41:14: document expands to more than 200000 values"],
    ),
    Case(
        "unknown-parameter",
        {
            "reports.yaml": edit(
                "sql: SELECT count(*) FROM sales",
                "sql: SELECT count(*) FROM sales WHERE amount > $treshold",
            )
        },
        ["reports.yaml:18:10: metrics.orders.sql: unknown parameter '$treshold'"],
    ),
    Case(
        "wrong-enum",
        {"reports.yaml": edit("    type: csv", "    type: cvs")},
        [
            "reports.yaml:11:11: sources.sales.type: 'cvs' is not one of: csv, json, yaml, sql, inline (did you mean 'csv'?)"
        ],
    ),
]
