"""``python -m workspace lab``: JupyterLab from this environment, opened on the
quickstart notebook.

JupyterLab saves outputs into the notebooks it opens (autosave, Ctrl-S), so it never
opens the tracked ``notebooks/``: it serves a working folder, ``lab/`` at the top of
the repository (ignored by git), with a copy of each notebook made on first use and
``data/`` and ``docs/`` linked, not copied.  Using the product therefore never changes a tracked
file.  A copy the user has worked in is never overwritten; when the tracked notebook
changed since the copy was made, the command says so (``--fresh`` takes new copies).

The server gets an explicit token (random unless ``--token``/``JUPYTER_TOKEN``) so the
full URL can be printed up front: on a machine without a browser (``--no-browser``),
copy it into a browser that reaches ``--ip``.  The command replaces itself with
``jupyter lab``, so Ctrl-C and SIGTERM go straight to the server, which then stops its
kernels (and the engines running in them) itself.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import socket
import sys
import urllib.parse
from pathlib import Path

from workspace.cli.args import port

HELP = "open JupyterLab on a working copy of notebooks/ (lab/, untracked)"

DEFAULT_PORT = 8888
REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
WORKDIR = REPO / "lab"
"""The untracked working folder (listed in .gitignore)."""
SOURCE_STAMPS = ".sources.json"
"""In the working folder: the hash of each tracked notebook when it was copied."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ip", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=port,
        default=None,
        help=f"port (default: {DEFAULT_PORT}, or a free port when it is taken; 0: a free port)",
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
        default=WORKDIR,
        help="JupyterLab's root directory; the default one, or a folder without notebooks, "
        "gets copies of notebooks/ (default: the repository's untracked lab/)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="replace the copies in --dir with the tracked notebooks (your changes there are lost)",
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
    """The port to serve on: ``requested`` as given, the default when it is free, or a
    free one (for ``--port 0`` too: the URL printed must name the real port; it read
    ``http://127.0.0.1:0/...``)."""
    if requested:
        return requested
    if requested is None and port_is_free(ip, DEFAULT_PORT):
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


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prepare_workdir(dest: Path, source: Path = NOTEBOOKS, *, fresh: bool = False) -> list[str]:
    """Fill ``dest`` with copies of ``source``'s notebooks (missing ones, or all with
    ``fresh``) and link its ``data/``; returns notes for the user (tracked notebooks
    that changed since their copy was taken).  ``source`` is only read."""
    dest.mkdir(parents=True, exist_ok=True)
    stamps_path = dest / SOURCE_STAMPS
    try:
        stamps: dict[str, str] = json.loads(stamps_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stamps = {}
    notes: list[str] = []
    for notebook in sorted(source.glob("*.ipynb")):
        copy = dest / notebook.name
        digest = _digest(notebook)
        if fresh or not copy.exists():
            shutil.copyfile(notebook, copy)
            stamps[notebook.name] = digest
        elif stamps.get(notebook.name) not in (None, digest):
            notes.append(
                f"note: {notebook} changed since {copy} was copied; run with --fresh "
                f"(or delete {copy.name}) to get the new version"
            )
    stamps_path.write_text(json.dumps(stamps, indent=1, sort_keys=True), encoding="utf-8")
    # data/ for the notebooks' code, docs/ for their links (``../docs/protocol.md``
    # resolves to the root's docs/ in JupyterLab, and to the repository's elsewhere)
    for folder in (source / "data", source.parent / "docs"):
        link = dest / folder.name
        if folder.is_dir() and not link.exists() and not link.is_symlink():
            try:
                link.symlink_to(folder.resolve(), target_is_directory=True)
            except OSError:  # no symlinks (some filesystems): a copy, read-only anyway
                shutil.copytree(folder, link)
    return notes


def run(args: argparse.Namespace) -> int:
    root = Path(args.dir).resolve()
    # the working folder gets its copies; another folder only when it has no notebook
    # yet (a folder of the user's own notebooks, or notebooks/ itself, is left alone)
    own = root != NOTEBOOKS.resolve() and (
        root == WORKDIR.resolve() or args.fresh or not any(root.glob("*.ipynb"))
    )
    if own:
        for note in prepare_workdir(root, fresh=args.fresh):
            print(note, file=sys.stderr)
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
