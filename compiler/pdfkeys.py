"""Each report's PDF secrets, read in the building process when its PDF is made: the
encryption password and the signing key (:class:`~reportc.pdfsecure.Protection`).

Apart from :mod:`reportc.pdfsecure`, which applies them, so that the PDF workers (which
only apply them) need not import the configuration model to receive a task.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .config.model import ReportSpec
from .config.protection import KeyProblem, pkcs12_bytes, pkcs12_path
from .errors import Problem, RenderError
from .pdfsecure import Protection


def protection_for(spec: ReportSpec, root: Path, env: Mapping[str, str]) -> Protection | None:
    """What the report's PDF gets after layout (None: nothing). Raises
    :class:`RenderError` when its password or key is missing."""
    encrypt, sign = spec.pdf.encrypt, spec.pdf.sign
    if encrypt is None and sign is None:
        return None
    password = ""
    if encrypt is not None:
        if encrypt.password_column:
            password = str(spec.row.get(encrypt.password_column) or "")
            where = f"its row's {encrypt.password_column!r} column is empty"
        else:
            password = env.get(encrypt.password_env, "")
            where = f"environment variable {encrypt.password_env} is not set"
        if not password:
            raise RenderError(
                Problem(
                    f"report '{spec.name}': no PDF password: {where}",
                    spec.location,
                    hint="every encrypted report needs its password; none is ever made up",
                )
            )
    if sign is None:
        return Protection(password=password)
    key_password = env.get(sign.password_env, "")
    path = pkcs12_path(root, sign.pkcs12)
    try:
        key = pkcs12_bytes(path, key_password)
    except KeyProblem as exc:
        raise RenderError(
            Problem(f"report '{spec.name}': {exc.message}", spec.location, hint=exc.hint)
        ) from None
    return Protection(
        password,
        key,
        key_password.encode("utf-8"),
        sign.reason,
        sign.location,
        sign.contact,
        sign.visible,
    )
