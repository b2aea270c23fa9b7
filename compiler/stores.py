"""Where archived runs are kept: a local folder or an S3 prefix, behind one
:class:`Store` protocol (``put``, ``get``, ``run_keys``; keys are ``/``-separated and
relative to the location). The S3 client is injected (or made from the project's
environment)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .aws import aws_client
from .config.model import Project
from .errors import ArchiveError, Problem
from .writer import write_atomic


class Store(Protocol):
    """Where runs are kept. Keys are ``/``-separated and relative to the location."""

    @property
    def url(self) -> str: ...

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def run_keys(self) -> list[str]: ...


@dataclass(frozen=True)
class LocalStore:
    root: Path

    @property
    def url(self) -> str:
        return str(self.root)

    def put(self, key: str, data: bytes) -> None:
        try:
            write_atomic(self.root / key, data)
        except OSError as exc:
            raise ArchiveError(Problem(f"cannot write {self.root / key}: {exc.strerror}")) from exc

    def get(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except OSError as exc:
            raise ArchiveError(Problem(f"cannot read {self.root / key}: {exc.strerror}")) from exc

    def run_keys(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix() for p in self.root.glob(f"*/*/{RUN_FILE}")
        )


def split_s3(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` -> (``bucket``, ``some/prefix``)."""
    bucket, _, prefix = url[len("s3://") :].partition("/")
    return bucket, prefix.strip("/")


@dataclass(frozen=True)
class S3Store:
    client: Any = field(repr=False)
    bucket: str
    prefix: str = ""

    @classmethod
    def at(cls, url: str, client: Any) -> S3Store:
        """The store at ``s3://bucket/prefix`` (the caller has checked the URL)."""
        return cls(client, *split_s3(url))

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, what: str, exc: Exception) -> ArchiveError:
        detail = getattr(exc, "response", {}).get("Error", {}).get("Message") or str(exc)
        return ArchiveError(
            Problem(
                f"{what} {self.url}: {detail}",
                hint="check the bucket, the AWS credentials in the environment or env file, "
                "and AWS_ENDPOINT_URL_S3",
            )
        )

    def put(self, key: str, data: bytes) -> None:
        kind = {"json": "application/json", "pdf": "application/pdf", "html": "text/html"}
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=data,
                ContentType=kind.get(key.rsplit(".", 1)[-1], "application/octet-stream"),
            )
        except Exception as exc:  # botocore raises many unrelated classes
            raise self._fail(f"cannot write {key} to", exc) from exc

    def get(self, key: str) -> bytes:
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=self._key(key))[
                "Body"
            ].read()
        except Exception as exc:
            raise self._fail(f"cannot read {key} from", exc) from exc
        return body

    def list_keys(self) -> list[str]:
        """Every key under the prefix (relative to it)."""
        start = f"{self.prefix}/" if self.prefix else ""
        keys: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=start
            )
            for page in pages:
                keys.extend(obj["Key"][len(start) :] for obj in page.get("Contents", ()))
        except Exception as exc:
            raise self._fail("cannot list", exc) from exc
        return sorted(keys)

    def run_keys(self) -> list[str]:
        return [k for k in self.list_keys() if k.count("/") == 2 and k.endswith(f"/{RUN_FILE}")]


def open_store(project: Project, *, s3_client: Any = None) -> Store:
    """The project's archive; S3 clients come from the environment unless injected."""
    if project.archive is None:
        raise ArchiveError(
            Problem(
                "the project has no archive",
                hint="add 'archive: {location: .reportc/archive}' (or s3://bucket/prefix) "
                f"to {project.config_name}",
            )
        )
    location = project.archive.location
    if location.startswith("s3://"):
        # S3 keeps botocore's retries: a PutObject of the same key and bytes is idempotent
        return S3Store.at(location, s3_client or aws_client(project.env, "s3"))
    root = Path(location).expanduser()
    return LocalStore(root if root.is_absolute() else project.root / root)


RUN_FILE = "run.json"
