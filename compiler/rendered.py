"""A rendered report: its HTML and what delivery shows of it. A module of its own, with
nothing but the standard library, so that the PDF stage (and its workers) need not
import the rendering stage (Jinja, Markdown, the section types) to receive one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class RenderedReport:
    name: str
    title: str
    html: str
    lang: str
    outline: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=_empty)
    #: Headline figures and top findings, for the email summary.
    summary: Mapping[str, Any] = field(default_factory=_empty)
