"""Property: any display name, subject, file name or row value gives either a valid
7-bit message naming exactly its recipients, or a clear error for that one message."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes, policy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reportc import mime
from reportc.addresses import AddressError, parse_mailbox
from reportc.errors import DeliveryError
from reportc.mime import Attachment, compose

WHEN = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)
text = st.text(st.characters(codec="utf-8"), max_size=60)


def _compose(to: str, subject: str, filename: str, body: str) -> bytes:
    return compose(
        report="r",
        sender="Reports <reports@example.com>",
        to=[to],
        cc=["cc@example.com"],
        bcc=["audit@example.org"],
        subject=subject,
        text=body,
        html=f"<p>{body}</p>",
        attachments=[Attachment(filename or "x.pdf", b"%PDF-1.7"), Attachment("d.csv", b"a")],
        run_id="run",
        when=WHEN,
    ).raw


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=text, subject=text, filename=text, body=text, quoted=st.booleans())
@pytest.mark.slow
def test_any_value_gives_a_valid_message_or_a_clear_error(
    name: str, subject: str, filename: str, body: str, quoted: bool
) -> None:
    to = f'"{name}" <to@example.com>' if quoted else f"{name} <to@example.com>"
    try:
        raw = _compose(to, subject, filename, body)
    except DeliveryError as exc:
        assert exc.problems and exc.problems[0].message.startswith("report 'r': ")
        return
    assert max(raw) < 0x80  # 7-bit
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    msg = message_from_bytes(raw, policy=policy.default)
    assert [a.addr_spec for a in msg["To"].addresses] == ["to@example.com"]
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["cc@example.com"]
    assert msg["Bcc"] is None


@settings(max_examples=400, deadline=None)
@given(value=text)
def test_the_address_parser_never_crashes_and_reads_back_what_it_accepts(value: str) -> None:
    try:
        box = parse_mailbox(value)
    except AddressError as exc:
        assert str(exc)
        return
    from reportc.addresses import display_value

    assert parse_mailbox(display_value(box)) == box


def test_known_crashers_are_clear_errors_or_valid() -> None:
    for name in (".Eve", "Sam\u2028Bcc: x@evil.example", "Eve <eve@evil.example>, Bob", "\x00"):
        try:
            raw = _compose(f"{name} <to@example.com>", "s", "f.pdf", "b")
        except DeliveryError:
            continue
        msg = message_from_bytes(raw, policy=policy.default)
        assert [a.addr_spec for a in msg["To"].addresses] == ["to@example.com"]


def _parts(raw: bytes) -> list[tuple[str, bytes]]:
    msg = message_from_bytes(raw, policy=policy.default)
    out: list[tuple[str, bytes]] = []
    for part in msg.walk():
        payload = part.get_payload(decode=True)
        out.append((part.get_content_type(), payload if isinstance(payload, bytes) else b""))
    return out


def test_a_body_that_holds_the_boundary_is_serialized_plainly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """reportc picks each MIME boundary itself (the email package would compile a
    regular expression per part to check its own); a part holding it must not cut the
    message: the message is made again the email package's way."""
    numbers = iter([7, 8])
    monkeypatch.setattr("secrets.randbelow", lambda _n: next(numbers))
    mark = "=" * 15 + f"{7:019d}" + "=="
    raw = _compose("to@example.com", "s", "r.pdf", f"line\n--{mark}\nafter")
    assert f"--{mark}".encode() in raw  # in the text part, quoted
    assert f'boundary="{mark}"'.encode() not in raw  # not used as a boundary
    parts = _parts(raw)
    assert [t for t, _ in parts[:4]] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]
    assert [p for _, p in parts[4:]] == [b"%PDF-1.7", b"a"]
    assert f"--{mark}".encode() in (parts[2][1] or b"")


def test_the_shared_header_classes_give_the_email_packages_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    numbers = iter([41, 42, 41, 42])
    monkeypatch.setattr("secrets.randbelow", lambda _n: next(numbers))
    ours = _compose("Ann Example <to@example.com>", "Subject é", "r.pdf", "body ü")
    monkeypatch.setattr(mime, "MIME_POLICY", policy.SMTP.clone(cte_type="7bit"))
    stock = _compose("Ann Example <to@example.com>", "Subject é", "r.pdf", "body ü")
    assert ours == stock
