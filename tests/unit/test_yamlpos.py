"""YAML loading with positions, duplicate keys, alias bombs and ${VAR} interpolation."""

from __future__ import annotations

import pytest

from reportc.config.yamlpos import load_yaml
from reportc.errors import ConfigError, format_path


def test_positions_of_values_and_keys() -> None:
    loaded = load_yaml("a:\n  b: [1, 2]\n  c: x\n", "f.yaml")
    assert loaded.data == {"a": {"b": [1, 2], "c": "x"}}
    assert str(loaded.positions.at(("a", "b", 1))) == "f.yaml:2:10"
    assert str(loaded.positions.at(("a", "c"), key=True)) == "f.yaml:3:3"
    assert str(loaded.positions.at(("a", "c"))) == "f.yaml:3:6"
    # unknown paths fall back to the nearest ancestor
    assert str(loaded.positions.at(("a", "zzz", 3))) == "f.yaml:2:3"


def test_format_path() -> None:
    assert format_path(("personas", "cfo", "sections", 2)) == "personas.cfo.sections[2]"
    assert format_path(()) == ""


def test_every_duplicate_key_is_reported() -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml("a: 1\nb: 2\na: 3\nc:\n  d: 1\n  d: 2\n", "f.yaml")
    assert [p.format() for p in info.value.problems] == [
        "f.yaml:3:1: duplicate key 'a' (first defined at line 1)\n"
        "    hint: remove one of them; YAML would silently keep only the last",
        "f.yaml:6:3: c: duplicate key 'd' (first defined at line 5)\n"
        "    hint: remove one of them; YAML would silently keep only the last",
    ]


def test_interpolation_with_defaults_and_escapes() -> None:
    text = "a: ${X}\nb: ${Y:-fallback}\nc: $${X}\nd: SELECT $period\ne: ${X:-}${Y:-z}\n"
    loaded = load_yaml(text, "f.yaml", {"X": "one"})
    assert loaded.data == {
        "a": "one",
        "b": "fallback",
        "c": "${X}",
        "d": "SELECT $period",
        "e": "onez",
    }


def test_undefined_variables_are_all_reported() -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml("a: ${NOPE}\nb: [x, '${ALSO_NOPE}']\n", "f.yaml", {})
    assert [(str(p.location), p.message) for p in info.value.problems] == [
        ("f.yaml:1:4", "environment variable NOPE is not set"),
        ("f.yaml:2:8", "environment variable ALSO_NOPE is not set"),
    ]


def test_no_interpolation_in_keys_or_non_strings() -> None:
    loaded = load_yaml("'${K}': 5\nn: 3\n", "f.yaml", {"K": "v"})
    assert loaded.data == {"${K}": 5, "n": 3}


def test_merge_keys_are_refused() -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml("base: &b {x: 1}\nother:\n  <<: *b\n", "f.yaml")
    assert info.value.problems[0].message == "merge keys ('<<') are not supported"


def test_small_aliases_are_fine() -> None:
    loaded = load_yaml("a: &x [1, 2]\nb: *x\n", "f.yaml")
    assert loaded.data == {"a": [1, 2], "b": [1, 2]}


def test_dates_and_numbers_resolve_like_yaml() -> None:
    import datetime as dt

    loaded = load_yaml("d: 2026-10-31\nf: 1.5\nb: true\nn: null\ns: '2026-10'\n", "f.yaml")
    assert loaded.data == {
        "d": dt.date(2026, 10, 31),
        "f": 1.5,
        "b": True,
        "n": None,
        "s": "2026-10",
    }
