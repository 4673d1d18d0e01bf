"""TLS for ``wss://``: a server context from a certificate and key file
(``workspace/tls.py``, shared with the simulator)."""

from __future__ import annotations

from workspace.tls import TlsFilesError, server_context

__all__ = ["TlsFilesError", "server_context"]
