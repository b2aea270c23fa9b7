"""Transports: SES (boto3 ``sesv2``), SMTP, and an outbox folder of ``.eml`` files.

Each transport has ``preflight`` (checked before the first message: identity,
sending enabled, quota) and ``send`` (one envelope; returns the provider's
message id). Failures are raised as :class:`SendFailure` with a *kind* that the
sender acts on:

- ``retry``: throttling, 5xx, connection refused/reset before the request
  was delivered -> back off and try again;
- ``quota``: the daily quota is used up -> stop the run cleanly, resume later;
- ``abort``: the account is paused/suspended or credentials fail -> stop;
- ``reject``: this message was refused -> record it, go on with the others;
- ``uncertain``: the request may have reached the provider (read timeout) ->
  not retried automatically, so the recipient never gets it twice.

External clients (the boto3 client, the SMTP connection factory) are injected.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..addresses import bare_address, mask
from ..aws import aws_client
from ..mime import Envelope
from ..writer import write_atomic

SESV2_MAX_BYTES = 40 * 1024 * 1024


class SendFailure(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Preflight:
    ok: bool
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    max_rate: float | None = None


class Transport(Protocol):
    name: str
    max_message_bytes: int

    def preflight(self, sender: str, recipients: int) -> Preflight: ...

    def send(self, envelope: Envelope) -> str: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- SES

_RETRY_CODES = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalServerError",
    "RequestTimeout",
    "RequestTimeoutException",
}
_ABORT_CODES = {
    "AccountSuspendedException",
    "SendingPausedException",
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredTokenException",
    "ConfigurationSetDoesNotExistException",
    "ConfigurationSetDoesNotExist",
    "ConfigurationSetSendingPausedException",
    "AccountSendingPausedException",
}


def classify_ses_error(exc: BaseException) -> SendFailure:
    """Map a botocore exception to what the sender should do about it."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")) or code
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        text = f"{code}: {message}"
        if "daily message quota" in message.lower() or code == "LimitExceededException":
            return SendFailure("quota", text)
        if code in _ABORT_CODES:
            return SendFailure("abort", text)
        if code in _RETRY_CODES or status >= 500 or status == 429:
            return SendFailure("retry", text)
        return SendFailure("reject", text)
    if isinstance(exc, ReadTimeoutError | ConnectionClosedError):
        return SendFailure("uncertain", f"{type(exc).__name__}: {exc}")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return SendFailure("retry", f"{type(exc).__name__}: {exc}")
    return SendFailure("uncertain", f"{type(exc).__name__}: {exc}")


def _client_error_code(exc: BaseException) -> tuple[str, int]:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return code, status
    return "", 0


@dataclass
class SesTransport:
    """SESv2 ``SendEmail`` with ``Content.Raw``; v1 ``GetSendQuota`` as a fallback."""

    client: Any
    v1_client: Any = None
    configuration_set: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    name: str = "ses"
    max_message_bytes: int = SESV2_MAX_BYTES

    def _identity(self, sender: str) -> tuple[bool, str]:
        addr = bare_address(sender)
        for identity in (addr, addr.partition("@")[2]):
            try:
                resp = self.client.get_email_identity(EmailIdentity=identity)
            except Exception as exc:
                code, status = _client_error_code(exc)
                if code == "NotFoundException" or status == 404:
                    continue
                raise
            verified = resp.get("VerificationStatus") == "SUCCESS" or bool(
                resp.get("VerifiedForSendingStatus")
            )
            if verified:
                return True, identity
            return (
                False,
                f"identity '{identity}' is not verified "
                f"(status {resp.get('VerificationStatus', 'unknown')})",
            )
        return False, f"'{addr}' is not a verified SES identity, nor is its domain"

    def _account(self) -> dict[str, Any]:
        try:
            resp = self.client.get_account()
        except Exception as exc:
            code, status = _client_error_code(exc)
            if self.v1_client is None or not (
                status == 404 or code in ("UnknownOperationException", "NotFoundException")
            ):
                raise
            quota = self.v1_client.get_send_quota()
            return {
                "SendingEnabled": True,
                "ProductionAccessEnabled": None,
                "SendQuota": {
                    "Max24HourSend": quota.get("Max24HourSend"),
                    "MaxSendRate": quota.get("MaxSendRate"),
                    "SentLast24Hours": quota.get("SentLast24Hours"),
                },
                "source": "GetSendQuota (v1)",
            }
        return dict(resp)

    def preflight(self, sender: str, recipients: int) -> Preflight:
        problems: list[str] = []
        notes: list[str] = []
        try:
            ok, detail = self._identity(sender)
            if not ok:
                problems.append(f"sender: {detail}; verify it in SES first")
            account = self._account()
        except Exception as exc:
            failure = classify_ses_error(exc)
            return Preflight(False, (f"SES preflight failed: {failure.message}",))
        if account.get("SendingEnabled") is False:
            problems.append("sending is disabled (paused) for this SES account")
        if account.get("ProductionAccessEnabled") is False:
            notes.append(
                "the SES account is in the sandbox: only verified recipients will receive mail"
            )
        quota = account.get("SendQuota") or {}
        max_rate = quota.get("MaxSendRate")
        remaining = None
        if quota.get("Max24HourSend") is not None:
            limit = float(quota["Max24HourSend"])
            remaining = limit - float(quota.get("SentLast24Hours") or 0)
            if limit >= 0 and remaining < recipients:
                problems.append(
                    f"this run needs {recipients} recipients of quota, only "
                    f"{remaining:g} of {limit:g} remain in the last 24 hours"
                )
        if "source" in account:
            notes.append(f"quota from {account['source']}")
        return Preflight(
            not problems, tuple(problems), tuple(notes), float(max_rate) if max_rate else None
        )

    def send(self, envelope: Envelope) -> str:
        tags = {**self.tags, **envelope.tags}
        kwargs: dict[str, Any] = {
            "FromEmailAddress": envelope.sender,
            # bare addresses: the envelope; names live in the raw message's headers
            "Destination": {
                "ToAddresses": [bare_address(a) for a in envelope.to],
                "CcAddresses": [bare_address(a) for a in envelope.cc],
                "BccAddresses": [bare_address(a) for a in envelope.bcc],
            },
            "Content": {"Raw": {"Data": envelope.raw}},
        }
        if tags:
            kwargs["EmailTags"] = [{"Name": k, "Value": v} for k, v in sorted(tags.items())]
        if self.configuration_set:
            kwargs["ConfigurationSetName"] = self.configuration_set
        try:
            resp = self.client.send_email(**kwargs)
        except Exception as exc:
            raise classify_ses_error(exc) from None
        return str(resp.get("MessageId", ""))

    def close(self) -> None:
        return None


def make_ses_clients(region: str, endpoint_url: str, env: Mapping[str, str]) -> tuple[Any, Any]:
    """boto3 ``sesv2`` and ``ses`` clients from the normal chain, plus the env file.

    botocore makes exactly one attempt per call (``total_max_attempts: 1``; its
    ``max_attempts`` counts *retries*, so 1 there means two attempts). A
    ``SendEmail`` whose connection drops after SES accepted it must not be sent
    again by the library: our policy decides, and it calls that *uncertain*.
    """
    from botocore.config import Config

    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
    )
    where = {"region": region, "endpoint_url": endpoint_url, "config": config}
    return aws_client(env, "sesv2", **where), aws_client(env, "ses", **where)


def make_sqs_client(region: str, env: Mapping[str, str]) -> Any:
    """An SQS client for ``events pull`` (receiving and deleting are safe to retry)."""
    return aws_client(env, "sqs", region=region)


# --------------------------------------------------------------------------- SMTP


@dataclass
class SmtpTransport:
    """SMTP with STARTTLS, implicit TLS or none; credentials from the environment."""

    host: str
    port: int
    security: str = "starttls"
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 30.0
    max_message_bytes: int = 25 * 1024 * 1024
    ssl_context: ssl.SSLContext | None = None
    connect: Callable[[], smtplib.SMTP] | None = None
    name: str = "smtp"
    _conn: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        if self._conn is not None:
            return self._conn
        if self.connect is not None:
            conn = self.connect()
        elif self.security == "tls":
            conn = smtplib.SMTP_SSL(
                self.host,
                self.port,
                timeout=self.timeout,
                context=self.ssl_context or ssl.create_default_context(),
            )
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.security == "starttls":
                conn.starttls(context=self.ssl_context or ssl.create_default_context())
        if self.username:
            conn.login(self.username, self.password)
        self._conn = conn
        return conn

    def preflight(self, sender: str, recipients: int) -> Preflight:
        try:
            conn = self._open()
            code, _ = conn.noop()
        except smtplib.SMTPAuthenticationError as exc:
            return Preflight(
                False,
                (f"SMTP login failed: {exc.smtp_code} {_text(exc.smtp_error)}",),
            )
        except (OSError, smtplib.SMTPException) as exc:
            return Preflight(False, (f"cannot reach SMTP server {self.host}:{self.port}: {exc}",))
        if code != 250:
            return Preflight(False, (f"SMTP server answered NOOP with {code}",))
        return Preflight(True)

    def send(self, envelope: Envelope) -> str:
        """One message; *uncertain* only once the end of its data reached the server.

        Anything that fails before the final ``.`` of DATA was written cannot have been
        accepted, so it is safe to try again: once at once on a fresh connection when
        a pooled connection turns out to be closed (servers close idle ones), then by
        the retry policy.
        """
        reused = self._conn is not None
        try:
            return self._transmit(envelope)
        except _NotTransmitted as first:
            self._drop()
            if not reused:
                raise SendFailure("retry", first.reason) from None
        try:
            return self._transmit(envelope)
        except _NotTransmitted as second:
            self._drop()
            raise SendFailure("retry", second.reason) from None

    def _transmit(self, envelope: Envelope) -> str:
        try:
            conn = self._open()
        except smtplib.SMTPAuthenticationError as exc:
            raise SendFailure(
                "abort", f"SMTP login failed: {exc.smtp_code} {_text(exc.smtp_error)}"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise _NotTransmitted(f"cannot connect: {exc}") from None
        try:
            refused = self._envelope(conn, envelope)
            conn.send(_dot_stuffed(envelope.raw))  # raises before the final dot is out
        except smtplib.SMTPRecipientsRefused as exc:
            self._reset(conn)
            raise SendFailure(
                "reject", f"all recipients refused: {_refused(exc.recipients)}"
            ) from None
        except smtplib.SMTPResponseException as exc:
            self._reset(conn)
            raise _response_failure(exc) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise _NotTransmitted(f"{type(exc).__name__}: {exc}") from None
        try:
            code, reply = conn.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise SendFailure("uncertain", f"no answer after the message data: {exc}") from None
        if code != 250:
            raise _response_failure(smtplib.SMTPResponseException(code, reply)) from None
        if refused:  # accepted for the others; say who was refused
            return f"{envelope.message_id} (refused: {_refused(refused)})"
        return envelope.message_id

    @staticmethod
    def _envelope(conn: smtplib.SMTP, envelope: Envelope) -> dict[str, tuple[int, bytes]]:
        """MAIL, RCPT and DATA: nothing the server could deliver has been sent yet."""
        conn.ehlo_or_helo_if_needed()
        code, reply = conn.mail(bare_address(envelope.sender))
        if code != 250:
            raise smtplib.SMTPResponseException(code, reply)
        refused: dict[str, tuple[int, bytes]] = {}
        for rcpt in envelope.recipients:
            code, reply = conn.rcpt(rcpt)
            if code not in (250, 251):
                refused[rcpt] = (code, reply)
        if len(refused) == len(envelope.recipients):
            raise smtplib.SMTPRecipientsRefused(refused)
        code, reply = conn.docmd("data")
        if code != 354:
            raise smtplib.SMTPResponseException(code, reply)
        return refused

    def _reset(self, conn: smtplib.SMTP) -> None:
        try:
            conn.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._conn.quit()
            self._drop()


class _NotTransmitted(Exception):
    """The message's data never fully reached the server: trying again cannot duplicate it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _dot_stuffed(raw: bytes) -> bytes:
    """DATA's payload: leading dots doubled, CRLF line ends, the final ``.`` line.

    A composed message already ends every line with CRLF: then two C-speed counts
    prove it and ``replace`` doubles the dots (the regular expressions cost ~0.6 ms on
    a message with a 100 KB PDF)."""
    crlf = raw.count(b"\r\n")
    if raw.count(b"\n") == crlf and raw.count(b"\r") == crlf:
        data = raw.replace(b"\r\n.", b"\r\n..")
        data = b"." + data if data.startswith(b".") else data
    else:
        data = re.sub(rb"(?:\r\n|\n|\r(?!\n))", b"\r\n", raw)
        data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _response_failure(exc: smtplib.SMTPResponseException) -> SendFailure:
    text = f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return SendFailure("retry" if 400 <= exc.smtp_code < 500 else "reject", text)


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _refused(recipients: Mapping[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{mask(a)} ({code})" for a, (code, _) in sorted(recipients.items()))


# --------------------------------------------------------------------------- outbox


@dataclass
class OutboxTransport:
    """Writes each message as an ``.eml`` file; no network, no credentials."""

    folder: Path
    name: str = "outbox"
    max_message_bytes: int = SESV2_MAX_BYTES

    def preflight(self, sender: str, recipients: int) -> Preflight:
        return Preflight(True)

    def path_for(self, envelope: Envelope) -> Path:
        channel = envelope.tags.get("channel", "")
        if channel:  # a channel delivery's payload (reportc.channels)
            return self.folder / f"{envelope.report}-{channel}-{envelope.key[:12]}.json"
        return self.folder / f"{envelope.report}-{envelope.key[:12]}.eml"

    def send(self, envelope: Envelope) -> str:
        path = self.path_for(envelope)
        write_atomic(path, envelope.raw)
        return str(path)

    def close(self) -> None:
        return None
