"""Throwaway self-signed certificates for the tests (cryptography, from the test extra)."""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path

import pytest


def self_signed(
    folder: Path, common_name: str, stem: str, dns: str | None = None
) -> tuple[str, str, str]:
    """A self-signed EC certificate valid from yesterday to tomorrow, written as
    `<stem>.pem` and `<stem>-key.pem` in `folder`; `dns` adds it as a subjectAltName.
    Returns (cert path, key path, SHA-256 fingerprint of the DER certificate, hex)."""
    x509 = pytest.importorskip("cryptography.x509", reason="cryptography is in the test extra")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if dns is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), False)
    cert = builder.sign(key, hashes.SHA256())
    cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return str(cert_path), str(key_path), fingerprint
