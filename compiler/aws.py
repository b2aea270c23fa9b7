"""AWS sessions from the normal boto3 chain, with credentials from the env file too.

Shared by the SES transport, the SQS event reader and the S3 archive. boto3 is
imported here only when a session is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def aws_session(env: Mapping[str, str]) -> Any:
    """A boto3 session from the normal chain, with credentials from the env file too."""
    import boto3

    session_kwargs: dict[str, Any] = {}
    if env.get("AWS_PROFILE"):
        session_kwargs["profile_name"] = env["AWS_PROFILE"]
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        session_kwargs["aws_access_key_id"] = env["AWS_ACCESS_KEY_ID"]
        session_kwargs["aws_secret_access_key"] = env["AWS_SECRET_ACCESS_KEY"]
        if env.get("AWS_SESSION_TOKEN"):
            session_kwargs["aws_session_token"] = env["AWS_SESSION_TOKEN"]
    return boto3.Session(**session_kwargs)


def aws_client(
    env: Mapping[str, str],
    service: str,
    *,
    region: str = "",
    endpoint_url: str = "",
    config: Any = None,
) -> Any:
    """A boto3 client: region from the argument, else ``AWS_REGION``/``AWS_DEFAULT_REGION``;
    endpoint from the argument, else ``AWS_ENDPOINT_URL_<SERVICE>``, else
    ``AWS_ENDPOINT_URL`` (how the tests point it at moto's server)."""
    region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
    url = (
        endpoint_url
        or env.get(f"AWS_ENDPOINT_URL_{service.upper()}")
        or env.get("AWS_ENDPOINT_URL")
    )
    kwargs: dict[str, Any] = {}
    if region:
        kwargs["region_name"] = region
    if url:
        kwargs["endpoint_url"] = url
    if config is not None:
        kwargs["config"] = config
    return aws_session(env).client(service, **kwargs)
