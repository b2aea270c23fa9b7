"""A report's PDF options (``pdf:`` in reports.yaml): the variant, attachments, tagging,
encryption and signing. A module of its own, with nothing but the standard library: the
PDF workers unpickle these with every task and should not import the whole model."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EncryptSpec:
    """``pdf.encrypt``: AES-256, with the password of an environment variable (by name:
    the value is read only when the PDF is made) or, in a burst report, of a row column."""

    password_env: str = ""
    password_column: str = ""


@dataclass(frozen=True)
class SignSpec:
    """``pdf.sign``: a PAdES baseline B signature with the key of a PKCS#12 file."""

    pkcs12: str
    password_env: str = ""
    reason: str = ""
    location: str = ""
    contact: str = ""
    visible: bool = False


#: ``password: ${NAME}``, the one form a PDF password takes in reports.yaml
PASSWORD_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


@dataclass(frozen=True)
class PdfOptions:
    variant: str = ""
    attach_data: bool = False
    tagged: bool = False
    encrypt: EncryptSpec | None = None
    sign: SignSpec | None = None

    def merged(self, overrides: Mapping[str, Any] | None) -> PdfOptions:
        values = {**self.__dict__, **(overrides or {})}
        encrypt = values.get("encrypt")
        if isinstance(encrypt, Mapping):
            ref = PASSWORD_REF.match(str(encrypt.get("password", "")))
            values["encrypt"] = EncryptSpec(
                ref.group(1) if ref else "", str(encrypt.get("password_column", ""))
            )
        if isinstance(values.get("sign"), Mapping):
            values["sign"] = SignSpec(**values["sign"])
        return PdfOptions(**values)
