"""What happens to a laid-out PDF before it is written: encryption (``pdf.encrypt``,
AES-256 with pikepdf) and then a signature (``pdf.sign``, PAdES baseline B with pyHanko).

The order is fixed by the standards: PDF/A is decided at layout (and cannot be combined
with encryption, which validate refuses); encryption rewrites the whole file, so it
comes before signing; a signature covers every byte before it, so it comes last, as an
incremental update that keeps the document's encryption. Changing any byte afterwards
breaks the signature.

Secrets are read when each PDF is made (:func:`reportc.pdfkeys.protection_for`) and
live only in the task that makes it (:class:`Protection`, never shown): the password
from the environment variable named in reports.yaml, or a burst row's column; the
PKCS#12 file and its password. Neither is
written to the manifest, the ledger, the archive or a log. Encrypted files are not
byte-reproducible (each encryption draws fresh salts and IVs), nor are signed ones (the
signature records when it was made).
"""

from __future__ import annotations

import functools
import io
import secrets
from dataclasses import dataclass, field
from typing import Any

from .errors import Problem, RenderError

#: bytes kept for the signature (DER): an RSA-4096 signature with a chain of a few
#: certificates fits; a longer chain falls back to pyHanko measuring it
SIGNATURE_ROOM = 16384
#: where a visible signature sits on the last page (points from the bottom left)
VISIBLE_BOX = (36, 36, 252, 90)


@dataclass(frozen=True)
class Protection:
    """One report's encryption password and signing key (secrets: never shown)."""

    password: str = field(default="", repr=False)
    p12: bytes = field(default=b"", repr=False)
    p12_password: bytes = field(default=b"", repr=False)
    reason: str = ""
    location: str = ""
    contact: str = ""
    visible: bool = False


@functools.lru_cache(maxsize=8)
def _signer(p12: bytes, passphrase: bytes) -> Any:
    """pyHanko's signer for a key file, made once per process (its key derivation costs
    ~40 ms)."""
    from pyhanko.sign import signers

    signer = signers.SimpleSigner.load_pkcs12_data(p12, other_certs=(), passphrase=passphrase)
    if signer is None:
        raise RenderError(Problem("the PKCS#12 file could not be loaded for signing"))
    return signer


def protect(pdf: bytes, protection: Protection, name: str) -> bytes:
    """The PDF encrypted and/or signed, in that order. Raises :class:`RenderError`."""
    try:
        if protection.password:
            pdf = encrypt(pdf, protection.password)
        if protection.p12:
            pdf = sign(pdf, protection)
    except RenderError:
        raise
    except Exception as exc:  # a library's own error: say which step, never the secret
        step = "signing" if protection.p12 else "encrypting"
        raise RenderError(
            Problem(f"report '{name}': {step} the PDF failed: {type(exc).__name__}")
        ) from None
    return pdf


def encrypt(pdf: bytes, password: str) -> bytes:
    """AES-256 (revision 6): it opens with ``password``; every permission is granted
    (printing, copying), and the owner password is random and forgotten."""
    import pikepdf  # imported here: only an encrypting build needs it

    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        doc.save(
            out,
            encryption=pikepdf.Encryption(
                user=password, owner=secrets.token_urlsafe(32), R=6, aes=True
            ),
        )
    return out.getvalue()


def sign(pdf: bytes, protection: Protection) -> bytes:
    """A PAdES baseline B signature (an incremental update: an encrypted file stays so)."""
    from pyhanko.sign import fields, signers

    signer = _signer(protection.p12, protection.p12_password)
    meta = signers.PdfSignatureMetadata(
        field_name="Signature1",
        reason=protection.reason or None,
        location=protection.location or None,
        contact_info=protection.contact or None,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
    )
    box = fields.SigFieldSpec("Signature1", on_page=-1, box=VISIBLE_BOX)
    spec = box if protection.visible else None
    try:  # room for the signature given: pyHanko would otherwise sign twice to measure it
        out = signers.sign_pdf(
            _writer(pdf, protection), meta, signer=signer, new_field_spec=spec,
            bytes_reserved=SIGNATURE_ROOM,
        )  # fmt: skip
    except Exception:  # a chain longer than that room: let pyHanko measure it
        out = signers.sign_pdf(_writer(pdf, protection), meta, signer=signer, new_field_spec=spec)
    return bytes(out.getvalue())


def _writer(pdf: bytes, protection: Protection) -> Any:
    """pyHanko's incremental writer over the PDF (authenticated when it is encrypted)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    if protection.password:
        writer.encrypt(protection.password)  # type: ignore[no-untyped-call]
    return writer
