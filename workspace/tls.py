"""A TLS server context from a certificate and key file (``serve``, ``gateway`` and the
simulator's ``wss://``), refusing bad files in words: Python's own errors name neither
file ("[Errno 2] No such file or directory", "[SSL] PEM lib (_ssl.c:3905)")."""

from __future__ import annotations

import ssl
from pathlib import Path

from workspace.errors import InvalidParams


class TlsFilesError(InvalidParams):
    """The certificate or key file is missing, unreadable, or not a PEM certificate and
    its private key."""


def server_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    cert, key = Path(cert), Path(key)
    for role, path in (("certificate", cert), ("key", key)):
        if not path.is_file():
            missing = "does not exist" if not path.exists() else "is not a file"
            raise TlsFilesError(f"the TLS {role} {path} {missing}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            why = "the key is not the certificate's"
        else:
            why = "they are not a PEM certificate and its private key"
        raise TlsFilesError(f"cannot serve TLS with {cert} and {key}: {why}") from None
    except OSError as exc:
        raise TlsFilesError(f"cannot read {cert} or {key}: {exc.strerror or exc}") from None
    return context
