"""The transports of channel deliveries (:mod:`reportc.channels`): Slack's Web API through
the Slack SDK, and webhooks over HTTPS. Each maps what went wrong onto the send loop's
retry classes, like the email transports:

- **retry**: the service was busy or failed (HTTP 429 or 5xx, Slack's ``ratelimited``),
  or the connection was refused before anything was sent;
- **failed**: it refused this delivery (HTTP 4xx, or a Slack error such as
  ``channel_not_found``); the others still go;
- **uncertain**: the request went out and no answer came back (the connection dropped
  or timed out after sending): it may have been posted, so it is not repeated unless
  ``--resend-uncertain`` says so.

Slack: the PDF is uploaded privately (``files.getUploadURLExternal``, the upload,
``files.completeUploadExternal`` without a channel), then ``chat.postMessage`` posts the
summary with the file's link. Only the last step is visible, so a retry after an upload
leaves at most a private, unshared file. Tokens come from the environment by name and
are never shown; a webhook is shown by its host only.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .channels import ChannelEnvelope, webhook_shown
from .delivery import Preflight, SendFailure
from .mime import Envelope

_SLACK_RETRY = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
}
#: channel deliveries carry a summary (Slack uploads the PDF; 1 GB is Slack's limit)
MAX_BYTES = 1024 * 1024 * 1024


def _network_failure(exc: BaseException, sent: bool) -> SendFailure:
    """Refused before sending: safe to retry. After sending: it may have arrived."""
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ConnectionRefusedError) or not sent:
        return SendFailure("retry", f"could not connect: {reason}")
    return SendFailure(
        "uncertain", f"the connection ended before an answer ({type(reason).__name__})"
    )


@dataclass
class WebhookTransport:
    """POSTs each payload to its webhook."""

    timeout: float = 30.0
    name: str = "webhook"
    max_message_bytes: int = MAX_BYTES

    def preflight(self, sender: str, recipients: int) -> Preflight:
        return Preflight(True)

    def send(self, envelope: Envelope) -> str:
        assert isinstance(envelope, ChannelEnvelope)
        request = urllib.request.Request(
            envelope.target,
            data=envelope.raw,
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "reportc"},
        )
        host = webhook_shown(envelope.target)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read(65536)
                return f"{host} HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            code = exc.code
            if code == 429 or code >= 500:
                raise SendFailure("retry", f"{host} answered HTTP {code}") from None
            raise SendFailure(
                "failed", f"{envelope.where}: {host} refused it: HTTP {code}"
            ) from None
        except urllib.error.URLError as exc:
            raise _network_failure(exc, sent=False) from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            raise _network_failure(exc, sent=True) from None

    def close(self) -> None:
        return None


@dataclass
class SlackTransport:
    """Uploads each PDF and posts each summary with the Slack SDK's WebClient."""

    env: Mapping[str, str] = field(repr=False)
    base_url: str = "https://slack.com/api/"
    timeout: int = 30
    name: str = "slack"
    max_message_bytes: int = MAX_BYTES

    def preflight(self, sender: str, recipients: int) -> Preflight:
        return Preflight(True)

    def _client(self, token_env: str, where: str) -> Any:
        from slack_sdk import WebClient  # imported here: only a run that posts to Slack

        token = self.env.get(token_env, "")
        if not token:
            raise SendFailure(
                "failed", f"{where}: environment variable {token_env} (the bot token) is not set"
            )
        base = self.base_url if self.base_url.endswith("/") else self.base_url + "/"
        return WebClient(token=token, base_url=base, timeout=self.timeout, retry_handlers=[])

    def send(self, envelope: Envelope) -> str:
        assert isinstance(envelope, ChannelEnvelope)
        from slack_sdk.errors import SlackApiError

        client = self._client(envelope.token_env, envelope.where)
        payload = json.loads(envelope.raw)
        step = "upload"
        try:
            upload = client.files_upload_v2(
                file=envelope.file, filename=envelope.filename, title=envelope.filename
            )
            files = upload.get("files") or [upload.get("file") or {}]
            link = str(files[0].get("permalink", ""))
            if link:
                payload["blocks"].append(
                    {
                        "type": "section",
                        "text": {"type": "mrkdwn", "text": f"<{link}|{envelope.filename}>"},
                    }
                )
            step = "post"
            posted = client.chat_postMessage(
                channel=envelope.target, text=payload["text"], blocks=payload["blocks"]
            )
            return f"slack:{envelope.target}:{posted.get('ts', '')}"
        except SlackApiError as exc:
            failure = _slack_failure(exc)
            if failure.kind == "failed":
                failure = SendFailure("failed", f"{envelope.where}: {failure.message}")
            raise failure from None
        except urllib.error.URLError as exc:
            raise _network_failure(exc, sent=False) from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            raise _network_failure(exc, sent=step == "post") from None

    def close(self) -> None:
        return None


def _slack_failure(exc: Any) -> SendFailure:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", 0) or 0
    error = str(response.get("error", "")) if response is not None else ""
    if status == 429 or status >= 500 or error in _SLACK_RETRY:
        return SendFailure("retry", f"Slack answered {error or f'HTTP {status}'}")
    return SendFailure("failed", f"Slack refused it: {error or f'HTTP {status}'}")
