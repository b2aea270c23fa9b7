"""Links instead of attachments, against moto's S3 (and SES) over HTTP: the PDF is
uploaded to the archive location and the email carries a presigned HTTPS link that
downloads the very PDF; the ledger records the object and its expiry, never the
signature; a report over 40 MB goes as a link under ``attach: auto``, never dropped."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import sqlite3
import urllib.request
from pathlib import Path

import pytest

import reportc
from reportc.config import load_project
from tests.conftest import FIXED_NOW, MINIMAL_CSV, MINIMAL_YAML, MakeProject, MotoServer

BUCKET = "reportc-links"


def _yaml(attach: str, transport: str = "outbox", logo: str = "") -> str:
    text = (
        MINIMAL_YAML.replace(
            "delivery:\n", f"delivery:\n  transport: {transport}\n  attach: {attach}\n"
        )
        + f"archive:\n  location: s3://{BUCKET}/reports\n"
    )
    if logo:
        text = text.replace("period:", f"theme: {{logo: {logo}}}\nperiod:")
    return text


def _ledger_rows(root: Path) -> list[sqlite3.Row]:
    path = root / ".reportc" / "ledger.sqlite"
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    return list(db.execute("SELECT * FROM messages"))


@pytest.mark.slow
def test_a_link_downloads_the_very_pdf(make_project: MakeProject, moto: MotoServer) -> None:
    moto.client("s3").create_bucket(Bucket=BUCKET)
    root = make_project({"reports.yaml": _yaml("link")})
    project = load_project(root, environ=moto.env())
    result = reportc.send(project, clock=lambda: FIXED_NOW)
    assert result.ok, result
    raw = next((root / "dist/outbox").glob("*.eml")).read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert not [p for p in message.iter_attachments() if p.get_filename()]  # no PDF attached
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Download the full report here (the link expires 7 Dec 2026 12:00 UTC)" in text
    url = re.search(r"(http://\S+X-Amz-Signature=[0-9a-f]+)", text)
    assert url, text
    with urllib.request.urlopen(url.group(1)) as response:  # moto over loopback
        assert response.read() == (root / "dist/ceo.pdf").read_bytes()
    rows = _ledger_rows(root)
    links = json.loads(rows[0]["links"])
    assert links and links[0].startswith(f"s3://{BUCKET}/reports/links/2026-10/ceo/")
    assert "Signature" not in rows[0]["links"] and "expires 2026-12-07" in links[0]
    again = reportc.send(project, clock=lambda: FIXED_NOW)
    assert [m.state for m in again.messages] == ["skipped"]  # same PDF: not again


def test_links_need_an_s3_archive(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": _yaml("auto").replace(f"s3://{BUCKET}/reports", "arch")})
    with pytest.raises(reportc.ConfigError) as caught:
        load_project(root, environ={})
    assert "delivery.attach: attach: auto uploads reports to the S3 archive location" in str(
        caught.value.problems[0].format()
    )


@pytest.mark.slow
def test_a_report_over_40_mb_goes_as_a_link(make_project: MakeProject, moto: MotoServer) -> None:
    from PIL import Image

    moto.client("s3").create_bucket(Bucket=BUCKET)
    moto.verify("example.com")
    root = make_project({"reports.yaml": _yaml("auto", "ses", "assets/noise.png")})
    side = 3800  # random pixels do not compress: a ~43 MB PDF
    (root / "assets").mkdir()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(
        root / "assets/noise.png", compress_level=1
    )
    project = load_project(root, environ=moto.env())
    built = reportc.build(project, clock=lambda: FIXED_NOW, formats=("pdf",))
    assert built.ok, [r.error for r in built.failed]
    pdf = (root / "dist/ceo.pdf").read_bytes()
    assert len(pdf) > 40 * 1024 * 1024
    result = reportc.send(project, clock=lambda: FIXED_NOW)
    assert result.ok, result
    [sent] = moto.raw_messages()
    raw = sent["raw_data"].encode() if isinstance(sent["raw_data"], str) else sent["raw_data"]
    assert len(raw) < 1024 * 1024  # the link, not the 43 MB
    url = re.search(rb"(http://\S+X-Amz-Signature=[0-9a-f]+)", raw.replace(b"=\r\n", b""))
    assert url
    with urllib.request.urlopen(url.group(1).decode()) as response:
        assert response.read() == pdf
    assert json.loads(_ledger_rows(root)[0]["links"])[0].startswith(f"s3://{BUCKET}/")


@pytest.mark.slow
def test_attach_auto_attaches_what_fits(make_project: MakeProject, moto: MotoServer) -> None:
    root = make_project({"reports.yaml": _yaml("auto"), "data/sales.csv": MINIMAL_CSV})
    project = load_project(root, environ=moto.env())
    result = reportc.send(project, clock=lambda: FIXED_NOW)
    assert result.ok, result
    message = email.message_from_bytes(next((root / "dist/outbox").glob("*.eml")).read_bytes())
    names = [p.get_filename() for p in message.walk() if p.get_filename()]
    assert names == ["Example Org CEO Report October 2026.pdf"]
    assert _ledger_rows(root)[0]["links"] == ""


@pytest.mark.slow
def test_a_webhook_carries_the_link(make_project: MakeProject, moto: MotoServer) -> None:
    from tests.chatfakes import webhook_receiver

    moto.client("s3").create_bucket(Bucket=BUCKET)
    with webhook_receiver(200) as hook:
        yaml_text = _yaml("link").replace(
            "    title: CEO Report\n", "    title: CEO Report\n    webhook: {url: '${HOOK}'}\n"
        )
        root = make_project({"reports.yaml": yaml_text})
        project = load_project(root, environ={**moto.env(), "HOOK": hook.url})
        assert reportc.send(project, clock=lambda: FIXED_NOW).ok
        link = hook.bodies[0]["reportc"]["link"]
        assert link["expires"].startswith("2026-12-07")
        with urllib.request.urlopen(link["url"]) as response:
            assert response.read() == (root / "dist/ceo.pdf").read_bytes()


def test_the_same_file_is_uploaded_once_a_run(moto: MotoServer) -> None:
    """The email's link and a webhook's link to one PDF are one upload (one object)."""
    from reportc.links import S3Links

    moto.client("s3").create_bucket(Bucket=BUCKET)
    links = S3Links.for_project(f"s3://{BUCKET}/reports", FIXED_NOW, 7, moto.env())
    puts: list[str] = []
    put = links.client.put_object

    def counted(**kw: object) -> object:
        puts.append(str(kw["Key"]))
        return put(**kw)

    links.client.put_object = counted
    first = links.link("ceo", "2026-10", "CEO.pdf", b"%PDF-1.7 x", "ab" * 32)
    again = links.link("ceo", "2026-10", "CEO.pdf", b"%PDF-1.7 x", "ab" * 32)
    assert again == first and len(puts) == 1
    with urllib.request.urlopen(first.url) as response:
        assert response.read() == b"%PDF-1.7 x"


@pytest.mark.slow
def test_an_upload_that_fails_stops_the_email_and_the_webhook(
    make_project: MakeProject, moto: MotoServer
) -> None:
    """No bucket: nothing is sent or posted, and each delivery says why, at its report."""
    from tests.chatfakes import webhook_receiver

    with webhook_receiver(200) as hook:
        yaml_text = _yaml("link").replace(
            "    title: CEO Report\n", "    title: CEO Report\n    webhook: {url: '${HOOK}'}\n"
        )
        root = make_project({"reports.yaml": yaml_text})
        project = load_project(root, environ={**moto.env(), "HOOK": hook.url})
        result = reportc.send(project, clock=lambda: FIXED_NOW)
        assert not result.ok and not hook.bodies
        failed = {(m.report, m.channel): m.detail for m in result.messages}
        assert set(failed) == {("ceo", ""), ("ceo", "webhook")}, failed
        assert all(f"to s3://{BUCKET}/reports/links/" in d for d in failed.values()), failed
    assert not list((root / "dist").glob("outbox/*.eml"))
