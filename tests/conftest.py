"""Shared fixtures: inline sample projects, the example project, PDF text."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import shutil
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pypdf import PdfReader

import reportc
from reportc import pipeline
from reportc.config import load_project
from reportc.zygote import Zygote

REPO = Path(__file__).resolve().parent.parent


def load_script(relative: str) -> ModuleType:
    """A script of the repository's that is not part of the package (``tools/``,
    ``bench/``), loaded as a module."""
    path = REPO / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FIXED_NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)

MINIMAL_YAML = """\
version: 1
organisation:
  name: Example Org
  entities: [North, South]
period: "2026-10"
delivery:
  from: reports@example.com
  audit_bcc: audit@example.org
sources:
  sales:
    type: csv
    path: data/sales.csv
metrics:
  total_sales:
    sql: SELECT sum(amount) FROM sales
    format: currency
  orders:
    sql: SELECT count(*) FROM sales
    format: integer
  average_order:
    expr: total_sales / orders
    format: currency
sections:
  summary:
    type: markdown
    title: Summary
    text: "Sales were {{ total_sales | currency }} from {{ orders }} orders."
  sales_table:
    type: table
    title: Sales
    source: sales
    columns:
      - {field: region, label: Region}
      - {field: amount, label: Amount, format: currency, total: sum}
personas:
  ceo:
    title: CEO Report
    sections: [summary, sales_table]
    recipients:
      to: ceo@example.com
"""

MINIMAL_CSV = "region,amount\nNorth,1200\nSouth,800\nNorth,500\n"


def write_files(root: Path, files: Mapping[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(
                textwrap.dedent(content) if content.startswith("\n") else content, encoding="utf-8"
            )


MakeProject = Callable[..., Path]


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """Write a project into tmp_path: the minimal one, with ``files`` added or replaced."""

    def make(files: Mapping[str, str | bytes] | None = None, *, minimal: bool = True) -> Path:
        root = tmp_path / "project"
        root.mkdir(exist_ok=True)
        base: dict[str, str | bytes] = (
            {"reports.yaml": MINIMAL_YAML, "data/sales.csv": MINIMAL_CSV} if minimal else {}
        )
        base.update(files or {})
        write_files(root, base)
        return root

    return make


def copy_example(into: Path) -> Path:
    """A copy of the example project in ``into`` (``repos.env`` from its ``.example``)."""
    into.mkdir(parents=True, exist_ok=True)
    for name in ("reports.yaml", "data", "assets"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, into / name, dirs_exist_ok=True)
        else:
            shutil.copy(src, into / name)
    shutil.copy(REPO / "repos.env.example", into / "repos.env")
    return into


@contextlib.contextmanager
def worker_source(forked: bool, memory_mb: int | None) -> Iterator[Zygote | None]:
    """A zygote to fork the pool's workers from, or None (plain worker processes)."""
    zygote = Zygote.start(memory_mb) if forked else None
    try:
        yield zygote
    finally:
        if zygote is not None:
            zygote.close()


@pytest.fixture(scope="session")
def example_build(tmp_path_factory: pytest.TempPathFactory) -> reportc.BuildResult:
    """The example project (a copy), built once for the whole session."""
    root = copy_example(tmp_path_factory.mktemp("example"))
    project = load_project(root, environ={})
    return pipeline.build(project, clock=lambda: FIXED_NOW, jobs=2)  # as quick as it gets


#: the example project's env file (its encrypted report's password, its signing key's)
EXAMPLE_ENV = {
    k: v.strip()
    for k, _, v in (
        line.partition("=")
        for line in (REPO / "repos.env.example").read_text("utf-8").splitlines()
        if line and not line.startswith("#")
    )
}


def pdf_reader(path: Path) -> PdfReader:
    """A PDF reader; the example's encrypted report is opened with its password."""
    reader = PdfReader(str(path))
    if reader.is_encrypted:
        reader.decrypt(EXAMPLE_ENV["CMO_PDF_PASSWORD"])
    return reader


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() or "" for page in pdf_reader(path).pages)


def pdf_pages(path: Path) -> int:
    return len(pdf_reader(path).pages)


# --------------------------------------------------------------------------- delivery

SEND_YAML = (
    MINIMAL_YAML.replace(
        "delivery:\n  from: reports@example.com\n  audit_bcc: audit@example.org\n",
        'delivery:\n  from: "Société Example <reports@example.com>"\n'
        "  audit_bcc: audit@example.org\n  max_attempts: 4\n",
    )
    + """\
  cfo:
    title: CFO Report
    sections: [summary]
    recipients:
      to: cfo@example.com
      cc: [ceo@example.com]
      bcc: board@example.org
  cmo:
    title: CMO Report — Zoë's view
    sections: [summary, sales_table]
    recipients:
      to: "Zoë Müller <cmo@example.com>"
"""
)


class MotoServer:
    def __init__(self, url: str) -> None:
        self.url = url

    def reset(self) -> None:
        import urllib.request

        urllib.request.urlopen(
            urllib.request.Request(self.url + "/moto-api/reset", method="POST")
        ).read()

    def raw_messages(self) -> list[dict]:  # type: ignore[type-arg]
        import json
        import urllib.request

        data = json.loads(urllib.request.urlopen(self.url + "/moto-api/data.json").read())
        return list(data.get("ses", {}).get("RawMessage", []))

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.url,
        }

    def client(self, service: str) -> Any:
        """A boto3 client of this server (the test's own view of it, over HTTP)."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def verify(self, identity: str = "example.com") -> None:
        client = self.client("ses")
        if "@" in identity:
            client.verify_email_identity(EmailAddress=identity)
        else:
            client.verify_domain_identity(Domain=identity)


@pytest.fixture(scope="session")
def moto_session() -> Iterator[MotoServer]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield MotoServer(f"http://{host}:{port}")
    server.stop()


@pytest.fixture
def moto(moto_session: MotoServer) -> MotoServer:
    moto_session.reset()
    return moto_session


class SmtpSink:
    """A real aiosmtpd server on loopback that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.on_message: Callable[[int], None] | None = None

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        content = envelope.original_content or envelope.content  # type: ignore[attr-defined]
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), bytes(content))  # type: ignore[attr-defined]
        )
        if self.on_message is not None:
            self.on_message(len(self.messages))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[SmtpSink, int]]:
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()
