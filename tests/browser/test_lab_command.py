"""``python -m workspace lab --no-browser`` starts a JupyterLab that answers on the
printed URL and serves a working copy of the quickstart notebook: saving it there (what
JupyterLab's autosave does after a run) never changes a tracked file."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.browser.harness import free_port
from workspace.cli.lab import (
    DEFAULT_PORT,
    NOTEBOOKS,
    REPO,
    WORKDIR,
    lab_url,
    pick_port,
    port_is_free,
    prepare_workdir,
)


def get_json(url: str, token: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        method=method,
        data=data,
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read()
    return json.loads(body) if body else None


def wait_for_status(base: str, token: str, proc: subprocess.Popen[str], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return get_json(f"{base}/api/status", token)
        except (urllib.error.URLError, OSError):
            if proc.poll() is not None:
                raise AssertionError(f"lab exited early with {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)  # polling a server that is still starting: no event to wait on


def git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_the_working_folder_is_ignored_by_git() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(WORKDIR / "quickstart.ipynb")], cwd=REPO, check=False
    )
    assert ignored.returncode == 0, "lab/ must be in .gitignore"


def test_prepare_workdir_copies_once_and_keeps_the_users_changes(tmp_path: Path) -> None:
    source = tmp_path / "notebooks"
    (source / "data").mkdir(parents=True)
    (tmp_path / "docs").mkdir()
    (source / "a.ipynb").write_text("v1")
    work = tmp_path / "lab"
    assert prepare_workdir(work, source) == []
    assert (work / "a.ipynb").read_text() == "v1"
    assert (work / "data").resolve() == (source / "data").resolve()  # linked, not copied
    assert (work / "docs").resolve() == (tmp_path / "docs").resolve()
    (work / "a.ipynb").write_text("v1 with outputs")  # the user ran and saved it
    assert prepare_workdir(work, source) == []
    assert (work / "a.ipynb").read_text() == "v1 with outputs"
    (source / "a.ipynb").write_text("v2")  # a new version of the tracked notebook
    notes = prepare_workdir(work, source)
    assert len(notes) == 1
    assert "changed" in notes[0]
    assert (work / "a.ipynb").read_text() == "v1 with outputs"
    prepare_workdir(work, source, fresh=True)
    assert (work / "a.ipynb").read_text() == "v2"
    assert (source / "a.ipynb").read_text() == "v2"  # the source is only read


@pytest.mark.timeout(120)
def test_lab_no_browser_prints_a_working_url_and_serves_the_quickstart(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    env.pop("JUPYTER_TOKEN", None)
    log = (tmp_path / "lab.log").open("w")
    # a folder inside the (ignored) working folder: the user's own copies stay untouched
    made_workdir = not WORKDIR.exists()
    workdir = WORKDIR / f".test-{secrets.token_hex(4)}"
    tracked = (NOTEBOOKS / "quickstart.ipynb").read_bytes()
    status_before = git_status()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "workspace", "lab", "--no-browser"),
            *("--port", str(port), "--dir", str(workdir)),
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        # keep the pipe drained so a chatty server never blocks on a full pipe
        drain = threading.Thread(target=proc.stdout.read, daemon=True)
        drain.start()
        match = re.search(
            r"(http://127\.0\.0\.1:(\d+))/lab/tree/quickstart\.ipynb\?token=(\w+)", lines[1]
        )
        assert match, lines
        base, printed_port, token = match.group(1), int(match.group(2)), match.group(3)
        assert printed_port == port

        status = wait_for_status(base, token, proc, timeout=60)
        assert "started" in status
        contents = get_json(f"{base}/api/contents/quickstart.ipynb", token)
        assert contents["type"] == "notebook"
        # what autosave writes after Run All: the notebook with outputs
        notebook = contents["content"]
        cell = next(c for c in notebook["cells"] if c["cell_type"] == "code")
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "ran\n"}]
        cell["execution_count"] = 1
        saved = {"type": "notebook", "format": "json", "content": notebook}
        get_json(f"{base}/api/contents/quickstart.ipynb", token, method="PUT", body=saved)
        assert "ran" in (workdir / "quickstart.ipynb").read_text()
        assert (NOTEBOOKS / "quickstart.ipynb").read_bytes() == tracked
        assert git_status() == status_before
        # external_access.ipynb links ../docs/protocol.md: JupyterLab resolves it to
        # docs/protocol.md under its root, which the working folder links
        doc = get_json(f"{base}/api/contents/docs/protocol.md?content=0", token)
        assert doc["type"] == "file"
        with pytest.raises(urllib.error.HTTPError) as denied:
            get_json(f"{base}/api/contents", "wrong-token")
        assert denied.value.code == 403
        denied.value.close()  # an HTTPError holds the response's socket

        get_json(f"{base}/api/shutdown", token, method="POST")
        assert proc.wait(timeout=30) == 0
        drain.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
        if made_workdir:
            shutil.rmtree(WORKDIR, ignore_errors=True)


def test_lab_url_points_at_the_notebook_with_its_token() -> None:
    assert lab_url("127.0.0.1", 8888, "quickstart.ipynb", "t0k") == (
        "http://127.0.0.1:8888/lab/tree/quickstart.ipynb?token=t0k"
    )
    # a wildcard bind is printed as loopback (reachable from this machine), IPv6 bracketed
    assert lab_url("0.0.0.0", 9000, "a b.ipynb", "x").startswith(
        "http://127.0.0.1:9000/lab/tree/a%20b"
    )
    assert lab_url("::1", 9000, "q.ipynb", "x").startswith("http://[::1]:9000/")


def test_lab_takes_the_default_port_when_free_and_another_when_taken() -> None:
    assert pick_port("127.0.0.1", 1234) == 1234  # an explicit port is used as given
    # --port 0 is a free port, named in the URL (it printed 'http://127.0.0.1:0/...')
    chosen = pick_port("127.0.0.1", 0)
    assert chosen > 0
    assert port_is_free("127.0.0.1", chosen)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        if port_is_free("127.0.0.1", DEFAULT_PORT):
            held.bind(("127.0.0.1", DEFAULT_PORT))
            held.listen()
        assert pick_port("127.0.0.1", None) != DEFAULT_PORT
