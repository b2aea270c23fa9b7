"""The env file reads exactly as python-dotenv reads it, table-driven, with positions."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from dotenv import dotenv_values

from reportc.config.envfile import read_env_file
from reportc.errors import ConfigError

CASES = [
    ("plain", "A=1\n", {"A": "1"}),
    ("export", "export A=1\n", {"A": "1"}),
    ("comment", "# a comment\nA=1 # trailing\n", {"A": "1"}),
    ("single quotes", "A='x # y'\n", {"A": "x # y"}),
    ("double quotes", 'A="x # y"\n', {"A": "x # y"}),
    ("escapes in double quotes", 'A="a\\nb\\t\\"c\\""\n', {"A": 'a\nb\t"c"'}),
    ("no escapes in single quotes", "A='a\\nb'\n", {"A": "a\\nb"}),
    ("expansion", "A=x\nB=${A}-y\n", {"A": "x", "B": "x-y"}),
    ("expansion with default", "B=${MISSING_VAR_FOR_TEST:-dflt}\n", {"B": "dflt"}),
    ("multi-line", 'A="line one\nline two"\n', {"A": "line one\nline two"}),
    ("spaces around =", "A = 1\n", {"A": "1"}),
    ("empty value", "A=\n", {"A": ""}),
    ("key without value", "A\nB=2\n", {"B": "2"}),
    (
        "address with a name",
        'FROM="Reports <r@example.com>"\n',
        {"FROM": "Reports <r@example.com>"},
    ),
]


@pytest.mark.parametrize(("name", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_the_env_file_reads_as_python_dotenv_does(
    tmp_path: Path, name: str, text: str, expected: dict[str, str]
) -> None:
    path = tmp_path / "repos.env"
    path.write_text(text, encoding="utf-8")
    ours = read_env_file(path, "repos.env")
    theirs = {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}
    assert ours == theirs == expected


def test_lines_it_cannot_parse_are_all_reported_at_their_line(tmp_path: Path) -> None:
    path = tmp_path / "repos.env"
    path.write_text('GOOD=1\nthis is not a pair\nOK=2\nBAD="unterminated\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_env_file(path, "repos.env")
    assert [str(p.location) for p in caught.value.problems] == ["repos.env:2:1", "repos.env:4:1"]
    assert all(p.message == "expected KEY=value" for p in caught.value.problems)
