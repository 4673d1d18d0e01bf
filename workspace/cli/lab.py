"""``python -m workspace lab``: JupyterLab from this environment, opened on the
quickstart notebook.

The server gets an explicit token (random unless ``--token``/``JUPYTER_TOKEN``) so the
full URL can be printed up front: on a machine without a browser (``--no-browser``),
copy it into a browser that reaches ``--ip``.  The command replaces itself with
``jupyter lab``, so Ctrl-C and SIGTERM go straight to the server, which then stops its
kernels (and the engines running in them) itself.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys
import urllib.parse
from pathlib import Path

HELP = "open JupyterLab on notebooks/quickstart.ipynb"

DEFAULT_PORT = 8888
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ip", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port (default: {DEFAULT_PORT}, or a free port when it is taken)",
    )
    parser.add_argument(
        "--no-browser",
        action="store_true",
        help="do not open a browser; print the URL (with its token) to open elsewhere",
    )
    parser.add_argument(
        "--notebook",
        default="quickstart.ipynb",
        help="notebook to open, relative to --dir (default: %(default)s)",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=NOTEBOOKS,
        help="JupyterLab's root directory (default: the repository's notebooks/)",
    )
    parser.add_argument(
        "--token", default=None, help="server token (default: $JUPYTER_TOKEN or random)"
    )


def port_is_free(ip: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


def pick_port(ip: str, requested: int | None) -> int:
    if requested is not None:
        return requested
    if port_is_free(ip, DEFAULT_PORT):
        return DEFAULT_PORT
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((ip, 0))
        port: int = s.getsockname()[1]
        return port


def lab_url(ip: str, port: int, notebook: str, token: str) -> str:
    host = (
        "127.0.0.1" if ip in ("0.0.0.0", "") else ip
    )  # a wildcard bind is reached via loopback here
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    path = urllib.parse.quote(notebook)
    return f"http://{host}:{port}/lab/tree/{path}?token={token}"


def lab_command(args: argparse.Namespace, port: int, token: str) -> list[str]:
    root = Path(args.dir).resolve()
    cmd = [
        sys.executable, "-m", "jupyterlab",
        f"--ip={args.ip}",
        f"--port={port}",
        # the printed URL must be the real one: fail instead of moving to another port
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
        f"--LabApp.default_url=/lab/tree/{urllib.parse.quote(args.notebook)}",
    ]  # fmt: skip
    if args.no_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers run as root; jupyter refuses otherwise
    return cmd


def run(args: argparse.Namespace) -> int:
    root = Path(args.dir).resolve()
    if not (root / args.notebook).is_file():
        print(f"error: {root / args.notebook} not found", file=sys.stderr)
        return 2
    token = args.token or os.environ.get("JUPYTER_TOKEN") or secrets.token_hex(24)
    port = pick_port(args.ip, args.port)
    print(f"JupyterLab on {root}", flush=True)
    print(f"Open: {lab_url(args.ip, port, args.notebook, token)}", flush=True)
    cmd = lab_command(args, port, token)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, cmd)
    return 0  # not reached: execv replaces this process
