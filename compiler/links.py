"""Links instead of attachments (``delivery.attach: link`` or ``auto``): a report's PDF
(and workbook) uploaded to the project's S3 archive location, and a presigned HTTPS link
with a stated expiry put in the email in its place.

An object's key is fixed by its content (``<prefix>/links/<period>/<report>/<sha256
prefix>/<file>``), so a retried or resumed send uploads the same object again, never a
second one. A dry run (and ``validate``) uses :class:`PlannedLinks`: the same key and
expiry, no upload and no signature. The ledger records each link as its ``s3://`` object
and its expiry — not the presigned URL, which is a credential until it expires.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .aws import aws_client
from .config.model import Project
from .delivery.transports import SESV2_MAX_BYTES
from .errors import DeliveryError, Problem
from .stores import split_s3

#: the longest a SigV4 presigned URL can live
MAX_EXPIRY_DAYS = 7


@dataclass(frozen=True)
class Link:
    """One uploaded file: the URL the email shows, the object, and when the URL expires."""

    filename: str
    url: str = field(repr=False)
    object: str
    expires: dt.datetime
    size: int

    @property
    def size_text(self) -> str:
        if self.size >= 1024 * 1024:
            return f"{self.size / 1024 / 1024:.1f} MB"
        return f"{max(1, round(self.size / 1024))} KB"

    @property
    def expires_text(self) -> str:
        return f"{self.expires.day} {self.expires.strftime('%b %Y %H:%M')} UTC"

    @property
    def recorded(self) -> str:
        """What the ledger keeps: the object and the expiry, never the signature."""
        return f"{self.object} (link expires {self.expires.strftime('%Y-%m-%dT%H:%MZ')})"


class Linker(Protocol):
    def link(self, report: str, period: str, filename: str, data: bytes, sha256: str) -> Link: ...


@dataclass(frozen=True)
class LinkPolicy:
    """How a report's files go: ``attach``, ``link``, or ``auto`` (a link only when the
    encoded message would exceed ``limit``, the transport's largest message)."""

    mode: str = "attach"
    limit: int | None = None
    linker: Linker | None = None


@dataclass
class PlannedLinks:
    """What the links will be (a dry run, validate): nothing uploaded, nothing signed."""

    location: str
    now: dt.datetime
    days: int = MAX_EXPIRY_DAYS

    def key(self, report: str, period: str, filename: str, sha256: str) -> str:
        _, prefix = split_s3(self.location)
        parts = [prefix, "links", period, report, sha256[:16], filename]
        return "/".join(p for p in parts if p)

    def link(self, report: str, period: str, filename: str, data: bytes, sha256: str) -> Link:
        bucket, _ = split_s3(self.location)
        key = self.key(report, period, filename, sha256)
        shown = f"https://{bucket}.s3.amazonaws.com/{urllib.parse.quote(key)} (signed when sent)"
        return Link(filename, shown, f"s3://{bucket}/{key}", self._expires(), len(data))

    def _expires(self) -> dt.datetime:
        return (self.now + dt.timedelta(days=self.days)).replace(second=0, microsecond=0)


@dataclass
class S3Links(PlannedLinks):
    """Uploads each file to S3 and presigns a GET for ``days`` days."""

    client: Any = field(default=None, repr=False)
    #: the links made in this run, by object: the email's and a webhook's share one
    made: dict[str, Link] = field(default_factory=dict, repr=False)

    @classmethod
    def for_project(
        cls, location: str, now: dt.datetime, days: int, env: Mapping[str, str]
    ) -> S3Links:
        from botocore.config import Config  # with boto3, only when links are made

        # SigV4: the link's lifetime is the one stated (at most 7 days)
        client = aws_client(env, "s3", config=Config(signature_version="s3v4"))
        return cls(location, now, days, client)

    def link(self, report: str, period: str, filename: str, data: bytes, sha256: str) -> Link:
        bucket, _ = split_s3(self.location)
        key = self.key(report, period, filename, sha256)
        if key not in self.made:
            self.made[key] = self._upload(report, bucket, key, filename, data)
        return self.made[key]

    def _upload(self, report: str, bucket: str, key: str, filename: str, data: bytes) -> Link:
        """Put the object and presign a GET for it."""
        kind = "application/pdf" if filename.endswith(".pdf") else "application/octet-stream"
        try:
            self.client.put_object(
                Bucket=bucket,
                Key=key,
                Body=data,
                ContentType=kind,
                ContentDisposition=_disposition(filename),
            )
            url = self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": bucket, "Key": key},
                ExpiresIn=self.days * 86400,
            )
        except Exception as exc:  # botocore's errors: the upload failed, nothing was sent
            detail = getattr(exc, "response", {}).get("Error", {}).get("Message") or str(exc)
            raise DeliveryError(
                Problem(
                    f"report '{report}': uploading {filename} to s3://{bucket}/{key} failed: "
                    f"{detail[:200]}",
                    hint="check the archive bucket and the AWS credentials; the email was not "
                    "sent (run 'reportc send' again)",
                )
            ) from None
        return Link(filename, str(url), f"s3://{bucket}/{key}", self._expires(), len(data))


def link_policy(
    project: Project, now: dt.datetime, *, upload: bool, limit: int | None = None
) -> LinkPolicy:
    """The project's ``delivery.attach`` with a linker: uploading (``upload``) or only
    planned (a dry run, validate). ``limit`` defaults to the configured transport's."""
    delivery = project.delivery
    if delivery.attach == "attach":
        return LinkPolicy()
    if limit is None:
        smtp = delivery.smtp
        limit = smtp.max_message_bytes if delivery.transport == "smtp" and smtp else SESV2_MAX_BYTES
    location = project.archive.location if project.archive is not None else ""
    days = delivery.link_expiry_days
    linker: Linker = (
        S3Links.for_project(location, now, days, project.env)
        if upload
        else PlannedLinks(location, now, days)
    )
    return LinkPolicy(delivery.attach, limit, linker)


def _disposition(filename: str) -> str:
    """``attachment`` with the file's name (RFC 6266, UTF-8 encoded)."""
    return f"attachment; filename*=UTF-8''{urllib.parse.quote(filename)}"
