"""Amazon SNS message signatures: only notifications SNS really signed are believed.

A notification fed from a file or stdin could have been written by anyone, and
it can suppress addresses. Each one must carry a valid SNS signature
(``SignatureVersion`` 1: SHA1withRSA, 2: SHA256withRSA) over the canonical
string of its fields, made with the certificate at ``SigningCertURL``. That URL
must be HTTPS on an SNS host (``sns.<region>.amazonaws.com``, or ``.com.cn``);
the certificate is fetched from it, or given (``--signing-cert``) for offline
use and for tests, which sign with a certificate of their own.
"""

from __future__ import annotations

import base64
import re
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_FIELDS["UnsubscribeConfirmation"] = _FIELDS["SubscriptionConfirmation"]
MAX_CERT_BYTES = 64 * 1024


class SignatureError(Exception):
    """Why a notification's signature cannot be trusted."""


def canonical(message: Mapping[str, Any]) -> bytes:
    """The string SNS signs: each present field's name and value, one per line."""
    kind = message.get("Type")
    if kind not in _FIELDS:
        raise SignatureError(f"unknown SNS message type {str(kind)[:40]!r}")
    out = []
    for name in _FIELDS[str(kind)]:
        value = message.get(name)
        if value is None:
            if name == "Subject":
                continue
            raise SignatureError(f"the SNS message has no {name}")
        if not isinstance(value, str):
            raise SignatureError(f"the SNS message's {name} is not text")
        out.append(f"{name}\n{value}\n")
    return "".join(out).encode("utf-8")


def fetch_certificate(url: str) -> bytes:  # pragma: no cover - reaches AWS; tests give a cert
    with urllib.request.urlopen(url, timeout=10) as resp:
        data: bytes = resp.read(MAX_CERT_BYTES + 1)
    if len(data) > MAX_CERT_BYTES:
        raise SignatureError("the signing certificate is too large")
    return data


@dataclass
class Verifier:
    """Checks SNS signatures; ``certificate`` (PEM) replaces fetching when given."""

    certificate: bytes | None = None
    fetch: Callable[[str], bytes] = fetch_certificate
    _cache: dict[str, Any] = field(default_factory=dict)

    def _public_key(self, url: str) -> Any:
        from cryptography import x509

        parsed = urlparse(url)
        if parsed.scheme != "https" or not SNS_HOST.match(parsed.hostname or ""):
            raise SignatureError(
                f"SigningCertURL {url[:100]!r} is not an https URL on an SNS host "
                "(sns.<region>.amazonaws.com)"
            )
        if not parsed.path.endswith(".pem"):
            raise SignatureError(f"SigningCertURL {url[:100]!r} does not name a .pem file")
        if url not in self._cache:
            pem = self.certificate if self.certificate is not None else self.fetch(url)
            try:
                self._cache[url] = x509.load_pem_x509_certificate(pem).public_key()
            except ValueError as exc:
                raise SignatureError(f"the signing certificate is not valid: {exc}") from None
        return self._cache[url]

    def verify(self, message: Mapping[str, Any]) -> None:
        """Raise :class:`SignatureError` unless SNS signed exactly this message."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        version = message.get("SignatureVersion")
        algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(str(version))
        if algorithm is None:
            raise SignatureError(f"unsupported SignatureVersion {str(version)[:10]!r}")
        signature = message.get("Signature")
        url = message.get("SigningCertURL")
        if not isinstance(signature, str) or not isinstance(url, str):
            raise SignatureError("the SNS message is not signed (no Signature/SigningCertURL)")
        try:
            raw = base64.b64decode(signature, validate=True)
        except ValueError:
            raise SignatureError("the Signature is not base64") from None
        key = self._public_key(url)
        try:
            key.verify(raw, canonical(message), padding.PKCS1v15(), algorithm)
        except (InvalidSignature, TypeError, ValueError):
            raise SignatureError("the signature does not match the message") from None
