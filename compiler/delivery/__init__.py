"""Deliver stage: transports, rate limiting and retries, the ledger and the lock."""

from .ledger import (
    Ledger,
    LedgerRow,
    existing_ledger,
    ledger_location,
    ledger_path,
    open_ledger,
    project_lock,
    send_lock,
)
from .policy import RateLimiter, RetryPolicy
from .transports import (
    OutboxTransport,
    Preflight,
    SendFailure,
    SesTransport,
    SmtpTransport,
    Transport,
    classify_ses_error,
    make_ses_clients,
)

__all__ = [
    "Ledger",
    "LedgerRow",
    "OutboxTransport",
    "Preflight",
    "RateLimiter",
    "RetryPolicy",
    "SendFailure",
    "SesTransport",
    "SmtpTransport",
    "Transport",
    "classify_ses_error",
    "existing_ledger",
    "ledger_location",
    "ledger_path",
    "make_ses_clients",
    "open_ledger",
    "project_lock",
    "send_lock",
]
