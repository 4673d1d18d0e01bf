"""A throwaway self-signed certificate, so ``wss://``-only clients can use the simulator.

:func:`self_signed` writes ``cert.pem`` and ``key.pem`` (a P-256 key) valid for the
given host names and addresses (``localhost`` and ``127.0.0.1`` always), for a week,
into a directory the caller chooses (the CLI uses a fresh temporary directory and
deletes it on exit: nothing is written into the repository).  The certificate is its
own issuer and marked as a CA, so pointing a client's trust store at it is enough:
``SSL_CERT_FILE`` for Python's ``ssl`` (websockets, aiohttp), ``REQUESTS_CA_BUNDLE``
for requests, ``cafile`` for ccxt.

It is made with the ``cryptography`` package when it is installed, else with the
``openssl`` command line tool.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

_DAYS = 7


class TlsError(RuntimeError):
    """No way to make a certificate here (neither cryptography nor openssl)."""


def self_signed(directory: Path, hosts: Sequence[str] = ()) -> tuple[Path, Path]:
    """Write a self-signed certificate and its key; returns ``(cert, key)`` paths."""
    names = ["localhost", "127.0.0.1", *(h for h in hosts if h not in ("localhost", "127.0.0.1"))]
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        _with_cryptography(cert, key, names)
    except ImportError:
        _with_openssl(cert, key, names)
    key.chmod(0o600)
    return cert, key


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _with_cryptography(cert_path: Path, key_path: Path, names: Sequence[str]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "workspace simulator")])
    alt_names: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address(n)) if _is_address(n) else x509.DNSName(n)
        for n in names
    ]
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _with_openssl(cert_path: Path, key_path: Path, names: Sequence[str]) -> None:
    tool = shutil.which("openssl")
    if tool is None:
        raise TlsError(
            "cannot make a self-signed certificate: install the 'cryptography' package "
            "or the openssl command line tool, or pass --tls-cert/--tls-key"
        )
    san = ",".join(f"IP:{n}" if _is_address(n) else f"DNS:{n}" for n in names)
    command = [
        tool, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", str(key_path), "-out", str(cert_path), "-days", str(_DAYS),
        "-subj", "/CN=workspace simulator",
        "-addext", f"subjectAltName={san}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise TlsError(f"openssl could not make a certificate: {done.stderr.strip()}")
