"""Rate limiting, retry policy, error classification and message composition."""

from __future__ import annotations

import datetime as dt
import random
import re

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from hypothesis import given
from hypothesis import strategies as st

from reportc.delivery import RateLimiter, RetryPolicy, classify_ses_error
from reportc.errors import DeliveryError
from reportc.mime import (
    Attachment,
    Envelope,
    check_header,
    compose,
    idempotency_key,
    rows_to_csv,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _send_all(
    limiter: RateLimiter, clock: FakeClock, sizes: list[int], durations: list[float]
) -> list[tuple[float, int]]:
    """Simulate sends; return (server receipt time, recipients) for each."""
    received = []
    for n, took in zip(sizes, durations, strict=True):
        limiter.acquire(n)
        clock.sleep(took)  # the send takes this long; the server has it at the end
        received.append((clock.now, n))
        limiter.done(n)
    return received


def test_rate_limiter_never_exceeds_the_rate_in_any_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(20, clock, clock.sleep)
    rng = random.Random(7)
    received = _send_all(limiter, clock, [2] * 200, [rng.uniform(0.001, 0.05) for _ in range(200)])
    for start, _ in received:
        in_window = sum(n for t, n in received if start <= t < start + 1.0)
        assert in_window <= 20
    span = received[-1][0] - received[0][0]
    rate = sum(n for _, n in received[1:]) / span
    assert 0.95 * 20 <= rate <= 20.0 + 1e-9


def test_rate_limiter_counts_recipients() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4, clock, clock.sleep)
    received = _send_all(limiter, clock, [3, 3], [0.0, 0.0])
    assert received[0][0] == 100.0
    assert received[1][0] == pytest.approx(101.0)  # 3 + 3 > 4: waits for the window


def test_a_message_larger_than_the_rate_goes_alone() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, clock, clock.sleep)
    received = _send_all(limiter, clock, [5, 1], [0.0, 0.0])
    # 5 recipients at 2/s: the next message waits 2.5 s (even pacing), more than the
    # 1 s window needs.
    assert [t for t, _ in received] == [100.0, pytest.approx(102.5)]


def test_no_rate_limit() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock, clock.sleep)
    _send_all(limiter, clock, [5] * 10, [0.0] * 10)
    assert clock.now == 100.0


def test_retry_policy_backs_off_with_jitter() -> None:
    policy = RetryPolicy(max_attempts=5, base=0.5, cap=4.0)
    rng = random.Random(1)
    delays = [policy.delay(k, rng) for k in range(6)]
    for k, d in enumerate(delays):
        assert 0 <= d <= min(4.0, 0.5 * 2**k)


def _client_error(code: str, message: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "SendEmail",
    )


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (_client_error("TooManyRequestsException", "Maximum sending rate exceeded.", 429), "retry"),
        (_client_error("Throttling", "Maximum sending rate exceeded.", 400), "retry"),
        (_client_error("Throttling", "Daily message quota exceeded.", 400), "quota"),
        (_client_error("LimitExceededException", "limit", 400), "quota"),
        (_client_error("InternalFailure", "oops", 500), "retry"),
        (_client_error("SendingPausedException", "paused", 400), "abort"),
        (_client_error("AccountSuspendedException", "suspended", 400), "abort"),
        (_client_error("MessageRejected", "Email address is not verified.", 400), "reject"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "retry"),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), "uncertain"),
    ],
)
def test_classify_ses_errors(exc: Exception, kind: str) -> None:
    assert classify_ses_error(exc).kind == kind


def _compose(**overrides: object) -> Envelope:
    args: dict[str, object] = dict(
        report="cfo",
        sender="Reports <reports@example.com>",
        to=["cfo@example.com"],
        cc=["ceo@example.com"],
        bcc=["audit@example.org"],
        subject="CFO Report",
        text="hello",
        html="<p>hello</p>",
        attachments=[Attachment("cfo.pdf", b"%PDF-1.7")],
        run_id="run1",
        when=dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc),
    )
    args.update(overrides)
    return compose(**args)  # type: ignore[arg-type]


def test_compose_keeps_bcc_out_of_the_message() -> None:
    env = _compose()
    assert b"Bcc" not in env.raw and b"audit@example.org" not in env.raw
    assert env.recipients == ("cfo@example.com", "ceo@example.com", "audit@example.org")
    assert env.key == idempotency_key(
        "cfo", ["cfo@example.com"], ["ceo@example.com"], ["audit@example.org"], env.pdf_sha256
    )


def test_idempotency_key_changes_with_recipients_or_pdf() -> None:
    base = idempotency_key("cfo", ["a@example.com"], [], ["x@example.org"], "1")
    assert base == idempotency_key("cfo", ["A@example.com"], [], ["x@example.org"], "1")
    assert base != idempotency_key(
        "cfo", ["a@example.com", "b@example.com"], [], ["x@example.org"], "1"
    )
    assert base != idempotency_key("cfo", ["a@example.com"], [], ["x@example.org"], "2")
    assert base != idempotency_key("cmo", ["a@example.com"], [], ["x@example.org"], "1")


@pytest.mark.parametrize("value", ["a\r\nBcc: x@example.net", "a\nb", "a\rb", "a\x00b", "a\u2028b"])
def test_header_values_with_line_breaks_are_refused(value: str) -> None:
    with pytest.raises(DeliveryError, match="contains a line break"):
        check_header(value, "the subject")
    with pytest.raises(DeliveryError):
        _compose(subject=value)


def test_recipient_with_line_break_is_refused() -> None:
    with pytest.raises(DeliveryError, match="line breaks are not allowed"):
        _compose(to=["cfo@example.com\r\nBcc: x@example.net"])


def test_no_recipients_is_an_error() -> None:
    with pytest.raises(DeliveryError, match="has no recipients"):
        _compose(to=[], cc=[], bcc=[])


def test_csv_defuses_formulas_but_keeps_numbers() -> None:
    data = rows_to_csv(["a", "b"], [{"a": "=1+1", "b": -5}, {"a": "@SUM(A1)", "b": None}])
    assert data.decode().splitlines() == ["a,b", "'=1+1,-5", "'@SUM(A1),"]


def _wire(headers: str, body: str = "hello") -> bytes:
    return (headers.replace("\n", "\r\n") + "\r\n" + body.replace("\n", "\r\n")).encode("utf-8")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (_wire("To: a@example.com\nCc: \n", "caf\u00e9"), "it is not 7-bit clean"),
        (_wire("To: a@example.com\n", "x" * 999), "line 3 is over 998 bytes"),
        (_wire("To: a@example.com\nBcc: b@example.com\n"), "it carries a Bcc header"),
        (_wire("To: a@example.com, evil@example.org\n"), "its To header names 2 address(es)"),
        (_wire("To: a@example.com\nTo: evil@example.org\n"), "its To header names 2"),
        (_wire("To: a@example.com\nCc: evil@example.org\n"), "its Cc header names 1"),
    ],
)
def test_the_wire_check_refuses_what_would_not_match_its_recipients(
    raw: bytes, problem: str
) -> None:
    """The last check before a message leaves: read back from the bytes themselves (the
    headers only, and every line and byte of the body)."""
    from reportc.addresses import Mailbox
    from reportc.mime import _check_wire

    boxes = {"to": [Mailbox("", "a@example.com")], "cc": []}
    with pytest.raises(DeliveryError, match=re.escape(problem)):
        _check_wire("r", raw, boxes)
    _check_wire("r", _wire("To: a@example.com\n"), boxes)  # a clean one passes


@pytest.mark.parametrize("size", [0, 1, 56, 57, 58, 114, 100 * 1024, 57 * 1000])
def test_spliced_attachments_are_the_bytes_the_email_package_writes(size: int) -> None:
    """Composing puts each attachment's base64 in place of a placeholder (fast); the
    message must be byte for byte what the email package writes on its own."""
    from reportc.mime import Attachment, _message, _plain

    rng = random.Random(size)
    files = [
        Attachment("a.pdf", rng.randbytes(size)),
        Attachment("b.csv", b"x,y\r\n1,2\r\n", "text", "csv"),
    ]
    headers = {"From": "r@example.com", "To": "a@example.com", "Subject": "S"}

    def boundaries_named(raw: bytes) -> bytes:  # the email package picks them at random
        return re.sub(rb"={15}\d+==", b"BOUNDARY", raw)

    spliced = _message(headers, "text", "<p>html</p>", files)
    plain = _plain(headers, "text", "<p>html</p>", files)
    assert boundaries_named(spliced) == boundaries_named(plain)


@given(st.binary(max_size=40).map(lambda b: bytes(b".\r\na"[x % 4] for x in b)))
def test_dot_stuffing_fast_path_equals_the_regular_expressions(raw: bytes) -> None:
    """The CRLF fast path of DATA's dot-stuffing gives the same bytes as the general one."""
    import re

    from reportc.delivery.transports import _dot_stuffed

    data = re.sub(rb"(?:\r\n|\n|\r(?!\n))", b"\r\n", raw)
    data = re.sub(rb"(?m)^\.", b"..", data)
    expected = (data if data.endswith(b"\r\n") else data + b"\r\n") + b".\r\n"
    assert _dot_stuffed(raw) == expected
