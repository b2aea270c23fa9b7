"""Encrypted (pikepdf, AES-256) and signed (pyHanko, PAdES-B) PDFs: they open only with
the password, the signature validates against a throwaway CA and fails once a byte
changes, and no password reaches an output, the manifest, the ledger or the archive."""

from __future__ import annotations

import io
from pathlib import Path

import pikepdf
import pytest
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

import reportc
from reportc.config import load_project
from tests.conftest import FIXED_NOW, MINIMAL_YAML, MakeProject
from tests.pki import Pki, make_pki

PASSWORD = "Tr0ub4dor&3-cfo"
ENCRYPT = "{encrypt: {password: '${CEO_PDF_PASSWORD}'}}"


def _with_pdf(pdf_block: str, extra: str = "") -> str:
    return MINIMAL_YAML.replace(
        "    title: CEO Report\n", f"    title: CEO Report\n    pdf: {pdf_block}\n{extra}"
    )


def _validate(data: bytes, pki: Pki, password: str = "") -> object:
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    if password:
        reader.decrypt(password)
    context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(pki.ca_der)])
    return validate_pdf_signature(reader.embedded_signatures[0], context)


def test_an_encrypted_pdf_opens_only_with_its_password(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": _with_pdf(ENCRYPT)})
    project = load_project(root, environ={"CEO_PDF_PASSWORD": PASSWORD})
    result = reportc.build(project, clock=lambda: FIXED_NOW)
    assert result.ok, [r.error for r in result.reports]
    data = (result.out_dir / "ceo.pdf").read_bytes()
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(io.BytesIO(data))
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(io.BytesIO(data), password="not it")
    with pikepdf.open(io.BytesIO(data), password=PASSWORD) as doc:
        assert doc.is_encrypted
        assert doc.encryption.stream_method.name == "aesv3"  # AES-256 (R6)
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    assert reader.is_encrypted
    reader.decrypt(PASSWORD)
    assert "Sales were $2,500" in reader.pages[0].extract_text() + reader.pages[-1].extract_text()


@pytest.mark.slow
def test_no_password_is_written_anywhere(make_project: MakeProject, tmp_path: Path) -> None:
    yaml_text = (
        _with_pdf(ENCRYPT).replace("delivery:\n", "delivery:\n  transport: outbox\n")
        + "archive:\n  location: archive\n"
    )
    root = make_project({"reports.yaml": yaml_text, "repos.env": f"CEO_PDF_PASSWORD={PASSWORD}\n"})
    project = load_project(root, environ={})
    assert reportc.build(project, clock=lambda: FIXED_NOW).ok
    reportc.archive_run(project, clock=lambda: FIXED_NOW)
    sent = reportc.send(project, clock=lambda: FIXED_NOW)
    assert sent.ok, sent
    checked = 0
    for path in root.rglob("*"):
        if path.is_file() and path.name != "repos.env":
            assert PASSWORD.encode() not in path.read_bytes(), path
            checked += 1
    assert checked > 8  # outputs, the manifest, the ledger, the outbox and the archive


def test_password_mistakes_are_refused_at_their_key(make_project: MakeProject) -> None:
    cases = {
        "{encrypt: {password: hunter2}}": "pdf.encrypt.password: a PDF password is never "
        "written in reports.yaml",
        ENCRYPT: "pdf.encrypt.password: environment "
        "variable CEO_PDF_PASSWORD is not set (the PDF password)",
        "{encrypt: {password: '${CEO_PDF_PASSWORD:-letmein}'}}": "a PDF password never has "
        "a default in reports.yaml",
        "{variant: pdf/a-3b, encrypt: {password: '${X_PASSWORD}'}}": "pdf.encrypt: pdf/a-3b "
        "forbids encryption",
        "{encrypt: {password_column: pw}}": "password_column is for burst reports",
    }
    for block, expected in cases.items():
        root = make_project({"reports.yaml": _with_pdf(block)})
        with pytest.raises(reportc.ConfigError) as caught:
            load_project(root, environ={"X_PASSWORD": "x"})
        shown = "\n".join(p.format() for p in caught.value.problems)
        assert expected in shown, (block, shown)
        assert "reports.yaml:" in shown and "letmein" not in shown and "hunter2" not in shown


def _signing_project(make_project: MakeProject, pki: Pki, block: str) -> Path:
    return make_project(
        {
            "reports.yaml": _with_pdf(block),
            "keys/signer.p12": pki.p12,
        }
    )


SIGN = (
    "{sign: {pkcs12: keys/signer.p12, password_env: SIGNING_PASSWORD, "
    "reason: Approved for distribution, location: San Diego}}"
)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


def test_a_signed_pdf_validates_and_one_changed_byte_breaks_it(
    make_project: MakeProject, pki: Pki
) -> None:
    root = _signing_project(make_project, pki, SIGN)
    project = load_project(root, environ={"SIGNING_PASSWORD": pki.password})
    result = reportc.build(project, clock=lambda: FIXED_NOW)
    assert result.ok, [r.error for r in result.reports]
    data = (result.out_dir / "ceo.pdf").read_bytes()
    status = _validate(data, pki)
    assert status.bottom_line and status.intact and status.trusted  # type: ignore[attr-defined]
    reader = PdfFileReader(io.BytesIO(data))
    sig = reader.embedded_signatures[0]
    assert sig.sig_object["/Reason"] == "Approved for distribution"
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES
    flipped = bytearray(data)
    at = data.find(b"stream", 200) + 40  # a byte inside the signed range
    flipped[at] ^= 0x01
    assert not _validate(bytes(flipped), pki).intact  # type: ignore[attr-defined]


@pytest.mark.slow
def test_signed_after_encryption_and_a_visible_signature(
    make_project: MakeProject, pki: Pki
) -> None:
    block = SIGN.replace("}}", ", visible: true}, " + ENCRYPT[1:])
    root = _signing_project(make_project, pki, block)
    env = {"SIGNING_PASSWORD": pki.password, "CEO_PDF_PASSWORD": PASSWORD}
    result = reportc.build(load_project(root, environ=env), clock=lambda: FIXED_NOW)
    assert result.ok, [r.error for r in result.reports]
    data = (result.out_dir / "ceo.pdf").read_bytes()
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(io.BytesIO(data))
    status = _validate(data, pki, PASSWORD)
    assert status.bottom_line  # type: ignore[attr-defined]
    with pikepdf.open(io.BytesIO(data), password=PASSWORD) as doc:
        widgets = [a for a in doc.pages[-1].get("/Annots", []) if a.get("/FT") == "/Sig"]
        assert widgets and [float(v) for v in widgets[0].Rect] == [36, 36, 252, 90]


def test_signing_mistakes_are_refused_at_their_key(make_project: MakeProject, pki: Pki) -> None:
    root = _signing_project(make_project, pki, SIGN)
    (root / "keys/garbage.p12").write_bytes(b"not a key file")
    cases = [
        ({}, "pdf.sign.password_env: environment variable SIGNING_PASSWORD is not set"),
        ({"SIGNING_PASSWORD": "wrong"}, "the password does not open the PKCS#12 file signer.p12"),
    ]
    for env, expected in cases:
        with pytest.raises(reportc.ConfigError) as caught:
            load_project(root, environ=env)
        shown = "\n".join(p.format() for p in caught.value.problems)
        assert expected in shown and "reports.yaml:" in shown, shown
    for path, expected in [
        ("keys/missing.p12", "pdf.sign.pkcs12: cannot read the PKCS#12 file missing.p12"),
        ("keys/garbage.p12", "pdf.sign.pkcs12: garbage.p12 is not a PKCS#12 file"),
    ]:
        yaml_text = _with_pdf(SIGN.replace("keys/signer.p12", path))
        (root / "reports.yaml").write_text(yaml_text)
        with pytest.raises(reportc.ConfigError) as caught:
            load_project(root, environ={"SIGNING_PASSWORD": pki.password})
        shown = "\n".join(p.format() for p in caught.value.problems)
        assert expected in shown, shown


BURST_YAML = """\
version: 1
organisation: {name: Example Org}
period: "2026-10"
delivery: {from: reports@example.com, transport: outbox}
sources:
  regions: {type: csv, path: data/regions.csv}
sections:
  hello: {type: markdown, title: Region, text: "Region {{ row.region }}"}
personas:
  region:
    title: "Region {{ row.region }}"
    for_each: {source: regions, key: region}
    pdf: {encrypt: {password_column: pdf_password}}
    sections: [hello]
    recipients: {to: "{{ row.email }}"}
"""


@pytest.mark.slow
def test_a_burst_report_takes_its_password_from_its_row(make_project: MakeProject) -> None:
    rows = (
        "region,email,pdf_password\n"
        "North,n@example.com,north-pw-1\n"
        "South,s@example.com,south-pw-2\n"
    )
    root = make_project({"reports.yaml": BURST_YAML, "data/regions.csv": rows}, minimal=False)
    result = reportc.build(load_project(root, environ={}), clock=lambda: FIXED_NOW)
    assert result.ok, [r.error for r in result.reports]
    north = (result.out_dir / "region-North.pdf").read_bytes()
    with pikepdf.open(io.BytesIO(north), password="north-pw-1"):
        pass
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(io.BytesIO(north), password="south-pw-2")
    manifest = (result.out_dir / "manifest.json").read_text()
    assert "north-pw-1" not in manifest and "south-pw-2" not in manifest
    (root / "data/regions.csv").write_text(rows.replace("south-pw-2", ""))
    again = reportc.build(load_project(root, environ={}), clock=lambda: FIXED_NOW, force=True)
    failed = {r.name: r.error for r in again.reports if r.error is not None}
    assert list(failed) == ["region-South"]
    assert "its row's 'pdf_password' column is empty" in failed["region-South"].problems[0].format()


@pytest.mark.slow
def test_a_long_certificate_chain_still_signs(make_project: MakeProject) -> None:
    """More certificates than the room kept for the signature: pyHanko measures it."""
    pki = make_pki(padding_certs=12)
    assert len(pki.p12) > 16384
    root = _signing_project(make_project, pki, SIGN)
    project = load_project(root, environ={"SIGNING_PASSWORD": pki.password})
    result = reportc.build(project, clock=lambda: FIXED_NOW)
    assert result.ok, [r.error for r in result.reports]
    status = _validate((result.out_dir / "ceo.pdf").read_bytes(), pki)
    assert status.bottom_line  # type: ignore[attr-defined]
