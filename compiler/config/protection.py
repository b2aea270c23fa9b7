"""Checking ``pdf.encrypt`` and ``pdf.sign`` (the project's and each persona's) before
anything is built: a password is an environment variable's (never written in
reports.yaml), encryption is not combined with PDF/A (which forbids it), and the signing
key opens — the PKCS#12 file is there, readable, and its password (by variable name) is
set and right. Every problem is reported at its key."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .checks import Checker
from .pdfoptions import PASSWORD_REF
from .yamlpos import PathT

_LITERAL_HINT = (
    "write password: ${NAME} and set NAME in the environment or the env file "
    "(a burst report can use password_column)"
)


def check_protection(c: Checker, env: Mapping[str, str]) -> None:
    """Every ``pdf:`` block's encryption and signing, at its own position."""
    blocks: list[tuple[PathT, Mapping[str, Any], Mapping[str, Any]]] = []
    top = c.data.get("pdf") or {}
    for name, persona in (c.data.get("personas") or {}).items():
        mine = persona.get("pdf") or {}
        merged = {**top, **mine}
        blocks.append((("personas", name, "pdf"), merged, persona))
    for where, pdf, persona in blocks:
        _check_encrypt(c, where, pdf, persona)
        if "sign" in pdf:
            sign_at: PathT = where if "sign" in (persona.get("pdf") or {}) else ("pdf",)
            _check_sign(c, (*sign_at, "sign"), pdf["sign"], env)


def _check_encrypt(
    c: Checker, where: PathT, pdf: Mapping[str, Any], persona: Mapping[str, Any]
) -> None:
    encrypt = pdf.get("encrypt")
    if not isinstance(encrypt, Mapping):
        return
    at: PathT = where if "encrypt" in (persona.get("pdf") or {}) else ("pdf",)
    at = (*at, "encrypt")
    if str(pdf.get("variant", "")).startswith("pdf/a"):
        c.add(
            f"{pdf['variant']} forbids encryption (PDF/A files must open without a password)",
            at,
            "drop the variant from this report, or its encryption",
        )
    password = encrypt.get("password")
    literal = isinstance(password, str) and not PASSWORD_REF.match(password)
    if literal and password:  # "" : its ${NAME:-default} was refused where it was written
        c.add("a PDF password is never written in reports.yaml", (*at, "password"), _LITERAL_HINT)
    if "password_column" in encrypt and "for_each" not in persona:
        c.add(
            "password_column is for burst reports (with for_each)",
            (*at, "password_column"),
            "use password: ${NAME} for a single report",
        )


def _check_sign(c: Checker, at: PathT, sign: Mapping[str, Any], env: Mapping[str, str]) -> None:
    variable = str(sign.get("password_env", ""))
    password = env.get(variable, "")
    if not password:
        c.add(
            f"environment variable {variable} is not set (the PKCS#12 file's password)",
            (*at, "password_env"),
            f"set {variable} in the environment or the env file",
        )
    problem = p12_problem(pkcs12_path(c.root, str(sign.get("pkcs12", ""))), password)
    if problem is not None and (password or "password" not in problem):
        message, hint = problem
        key = "password_env" if "password" in message else "pkcs12"
        c.add(message, (*at, key), hint)


def pkcs12_path(root: Path, text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else root / path


class KeyProblem(Exception):
    """Why a PKCS#12 file cannot sign: what, and what to do."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


def p12_problem(path: Path, password: str) -> tuple[str, str] | None:
    """What stops the PKCS#12 file at ``path`` from signing: (message, hint), or None."""
    try:
        pkcs12_bytes(path, password)
    except KeyProblem as exc:
        return exc.message, exc.hint
    return None


def pkcs12_bytes(path: Path, password: str) -> bytes:
    """The PKCS#12 file at ``path``, once it is known to open with ``password`` and to
    hold a key and its certificate. Raises :class:`KeyProblem`.

    Opened once while the file stays the same (its mtime and size): ``validate`` and
    every signed report of a build (a burst of a thousand) share one key derivation
    (~40 ms each)."""
    try:
        info = path.stat()
        stamp = (info.st_mtime_ns, info.st_size)
    except OSError:
        stamp = (0, -1)  # unreadable: _opened says so (and an error is never cached)
    return _opened(str(path), stamp, password)


@functools.lru_cache(maxsize=8)
def _opened(name: str, stamp: tuple[int, int], password: str) -> bytes:
    """The checks behind :func:`pkcs12_bytes` (``stamp`` only keys the memo)."""
    from cryptography.hazmat.primitives.serialization import pkcs12  # only when signing

    path = Path(name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyProblem(
            f"cannot read the PKCS#12 file {path.name}: {exc.strerror or exc}",
            "check the path (pkcs12: ${SIGNING_P12}) and that this user may read it",
        ) from None
    try:
        key, cert, _chain = pkcs12.load_key_and_certificates(data, password.encode("utf-8"))
    except ValueError:
        if data[:1] == b"\x30":  # DER: a PKCS#12 file the password does not open
            raise KeyProblem(
                f"the password does not open the PKCS#12 file {path.name}",
                "check the value of the variable password_env names",
            ) from None
        raise KeyProblem(
            f"{path.name} is not a PKCS#12 file", "export the key and its certificate as .p12"
        ) from None
    if key is None or cert is None:
        raise KeyProblem(
            f"the PKCS#12 file {path.name} holds no private key and certificate",
            "export the signing key together with its certificate",
        )
    return data
