"""A throwaway certificate authority for signing tests: a CA, a signer certificate it
issued, and the signer's key and chain as a PKCS#12 file."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

_START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Pki:
    ca_der: bytes
    p12: bytes
    password: str


def _usage(*, sign_certs: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=not sign_certs,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=sign_certs,
        crl_sign=sign_certs,
        encipher_only=False,
        decipher_only=False,
    )


def make_pki(
    password: str = "p12-pass",
    signer: str = "Accounting Officer",
    org: str = "Example Org",
    ca_cn: str = "reportc test CA",
    padding_certs: int = 0,
) -> Pki:
    """A fresh CA and a signer certificate it issued, valid for ten years from 2026."""
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_cn)])
    ca = (
        _builder(ca_name, ca_name, ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(sign_certs=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, signer),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        ]
    )
    cert = (
        _builder(name, ca_name, key)
        .add_extension(_usage(sign_certs=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    extra = [_self_signed(f"padding {n}") for n in range(padding_certs)]
    p12 = pkcs12.serialize_key_and_certificates(
        b"signer",
        key,
        cert,
        [ca, *extra],
        serialization.BestAvailableEncryption(password.encode()),
    )
    return Pki(ca.public_bytes(serialization.Encoding.DER), p12, password)


def _self_signed(cn: str) -> x509.Certificate:
    """A certificate that only makes a chain longer (a big one: a 4096-bit key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return _builder(name, name, key).sign(key, hashes.SHA256())


def _builder(
    subject: x509.Name, issuer: x509.Name, key: rsa.RSAPrivateKey
) -> x509.CertificateBuilder:
    """A certificate for ``key``'s public half, valid for ten years from 2026."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_START)
        .not_valid_after(_START + dt.timedelta(days=3650))
    )
