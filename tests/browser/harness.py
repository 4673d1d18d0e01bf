"""Drive real JupyterLab in headless Chromium: the project's browser harness.

Used by the browser tests (``tests/browser/``) and by the UI benchmarks; it only needs
the venv (jupyterlab, playwright) and Debian's ``/usr/bin/chromium``::

    with LabServer(root) as lab, chromium() as browser:
        page = open_notebook(browser, lab, "quickstart.ipynb")
        run_all(page)
        page.wait_for_selector(".tw-tickers")
        screenshot(page, "quickstart")

The server listens on 127.0.0.1 with a free port, a random token and throw-away
settings, workspace, config, runtime and checkpoint dirs.  Autosave is off, so a
notebook file is never rewritten; cell windowing is off, so every output is in the DOM
(the tests look for widgets below the fold).  ``LabServer.stop`` asks the server to shut
down (``POST /api/shutdown``, which also stops its kernels) and only signals the pids
it started when that fails.

Uses playwright's *sync* API: call it from plain (non-async) tests, never inside a
running asyncio loop.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil
from playwright.sync_api import Browser, Page, sync_playwright

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]

# JupyterLab user settings, written into the server's throw-away settings dir.
LAB_SETTINGS: dict[str, dict[str, Any]] = {
    # never write the notebook back to disk while a test runs it
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    # attach every cell to the DOM so outputs below the fold exist and render
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
        "recordTiming": True,
    },
    # no news / update pop-ups over the screenshots
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def copy_notebooks(dest: Path, source: Path = NOTEBOOKS) -> Path:
    """A scratch copy of ``notebooks/`` (with its data), so nothing a run writes
    (checkpoints, journals) lands in the repo."""
    shutil.copytree(
        source, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.sqlite*", "*.db*")
    )
    return dest


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when the process that started
    it dies, even by SIGKILL or a timeout: an interrupted test run or benchmark then
    leaves no JupyterLab (and, through its SIGTERM handler, no kernel) behind.  Linux
    only (``prctl(PR_SET_PDEATHSIG)``); elsewhere ``stop()`` is the only cleanup."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before the fork
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return preexec


@dataclass
class ShutdownReport:
    graceful: bool
    killed: list[int] = field(default_factory=list)


class LabServer:
    """``jupyter lab`` from this venv, isolated from the user's Jupyter config."""

    def __init__(
        self,
        root: Path,
        *,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
        log_path: Path | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.python = python
        self.extra_env = dict(env or {})
        self.extra_args = extra_args
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self._workdir = Path(tempfile.mkdtemp(prefix="tw-lab-"))
        self.log_path = log_path or self._workdir / "jupyter_server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """A browser URL for ``path`` (e.g. ``lab/tree/x.ipynb``) carrying the token."""
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{sep}token={self.token}"

    def notebook_url(self, name: str) -> str:
        # ?reset: a fresh workspace, so tabs of earlier tests are not restored (each
        # restored notebook would start a kernel of its own)
        return self.url(f"lab/tree/{urllib.parse.quote(name)}?reset")

    def command(self) -> list[str]:
        settings = self._workdir / "lab-settings"
        cmd = [
            self.python, "-m", "jupyterlab",
            "--no-browser",
            # window.jupyterapp: run cells and read the notebook model from the page
            "--expose-app-in-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root}",
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.terminals_enabled=False",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={self._workdir / 'lab-workspaces'}",
            "--LabApp.extension_manager=readonly",
            f"--FileCheckpoints.checkpoint_dir={self._workdir / 'checkpoints'}",
            *self.extra_args,
        ]  # fmt: skip
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        return cmd

    def start(self, timeout: float = 90.0) -> None:
        for rel, data in LAB_SETTINGS.items():
            path = self._workdir / "lab-settings" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data))
        for name in ("lab-workspaces", "runtime", "config", "data"):
            (self._workdir / name).mkdir(exist_ok=True)
        env = dict(os.environ)
        env.update(
            JUPYTER_RUNTIME_DIR=str(self._workdir / "runtime"),
            JUPYTER_CONFIG_DIR=str(self._workdir / "config"),
        )
        env.pop("JUPYTER_TOKEN", None)
        env.update(self.extra_env)
        log = self.log_path.open("wb")
        # its own session: a Ctrl-C in the terminal reaches the test runner, whose
        # cleanup then shuts the server down (instead of both racing to stop)
        self.proc = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=str(self.root),
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"jupyter lab not ready after {timeout}s:\n{self.log()}")
            # polling an HTTP endpoint that is not up yet: there is no event to wait on
            time.sleep(0.2)

    def api(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(
            f"{self.base_url}/api/{path.lstrip('/')}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            body = response.read()
        return json.loads(body) if body else None

    def ready(self) -> bool:
        try:
            self.api("status")
        except urllib.error.HTTPError as e:
            e.close()  # it holds the response's socket
            return False
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return True

    def shutdown_kernels(self) -> int:
        """Shut down every kernel of this server (and the engines running in them);
        returns how many.  Tests call it when they are done with a notebook, so an
        engine does not keep streaming while the rest of the suite runs."""
        kernels = self.api("kernels")
        for kernel in kernels:
            self.api(f"kernels/{kernel['id']}", method="DELETE")
        return len(kernels)

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> ShutdownReport:
        """Graceful shutdown (server and kernels); pids it started are killed only
        when that fails.  Idempotent."""
        proc, self.proc = self.proc, None
        report = ShutdownReport(graceful=True)
        if proc is not None:
            try:
                started = psutil.Process(proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                started = []
            try:
                self.api("shutdown", method="POST")
            except urllib.error.HTTPError as e:
                e.close()
                report.graceful = False
            except (urllib.error.URLError, OSError):
                report.graceful = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                report.graceful = False
                proc.kill()
                proc.wait(timeout=10)
                report.killed.append(proc.pid)
            # kernels the server failed to stop; psutil checks the pid's start time,
            # so a recycled pid is never signalled
            for child in started:
                with contextlib.suppress(psutil.NoSuchProcess):
                    if child.is_running():
                        child.kill()
                        report.killed.append(child.pid)
        shutil.rmtree(self._workdir, ignore_errors=True)
        return report

    def __enter__(self) -> LabServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def chromium(executable: str = CHROMIUM) -> Iterator[Browser]:
    """Headless Debian Chromium through playwright (never a downloaded browser)."""
    if not Path(executable).exists():
        raise FileNotFoundError(
            f"chromium not found at {executable}: run scripts/bootstrap.sh "
            "(it installs Debian's chromium)"
        )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageErrors:
    """What the browser complained about while a notebook ran."""

    console: list[str] = field(default_factory=list)
    page: list[str] = field(default_factory=list)


def open_notebook(
    browser: Browser,
    lab: LabServer,
    name: str,
    *,
    width: int = 1400,
    height: int = 1100,
    timeout_s: float = 90.0,
) -> Page:
    """A new page with ``name`` open in JupyterLab and its kernel idle.  Console and
    page errors are collected in ``page_errors(page)``."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors = PageErrors()
    page.on("pageerror", lambda e: errors.page.append(str(e)[:500]))
    page.on("console", lambda m: errors.console.append(m.text[:500]) if m.type == "error" else None)
    _ERRORS[page] = errors
    page.goto(lab.notebook_url(name), wait_until="load", timeout=timeout_s * 1000)
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell", timeout=timeout_s * 1000
    )
    page.wait_for_selector(".jp-NotebookPanel", timeout=timeout_s * 1000)
    # the kernel session: accept a 'Select Kernel' dialog if one shows up
    page.wait_for_function(
        """() => {
            const dlg = document.querySelector('.jp-Dialog .jp-mod-accept');
            if (dlg) dlg.click();
            const w = window.jupyterapp.shell.currentWidget;
            const k = w && w.sessionContext && w.sessionContext.session
                      && w.sessionContext.session.kernel;
            return !!k && k.status === 'idle';
        }""",
        timeout=timeout_s * 1000,
        polling=100,
    )
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # more room for outputs
    return page


# Errors per open page (weak: a page that is gone takes its entry with it); keeps
# open_notebook's return value a plain playwright Page.
_ERRORS: weakref.WeakKeyDictionary[Page, PageErrors] = weakref.WeakKeyDictionary()


def page_errors(page: Page) -> PageErrors:
    return _ERRORS.get(page, PageErrors())


def close_page(page: Page) -> None:
    _ERRORS.pop(page, None)
    page.context.close()


def run_all(page: Page, *, until_tag: str | None = None) -> None:
    """Start running the notebook's cells (does not wait for them to finish; see
    ``wait_until_run_done``).  With ``until_tag``, run only the cells above the
    first cell carrying that tag (e.g. ``teardown``: keep the engine running so the
    test can interact with live widgets)."""
    page.evaluate(
        """(tag) => {
            const app = window.jupyterapp;
            const panel = app.shell.currentWidget;
            const model = panel.content.model;
            let command = 'notebook:run-all-cells';
            if (tag) {
              for (let i = 0; i < model.cells.length; i++) {
                const tags = model.cells.get(i).getMetadata('tags') || [];
                if (tags.includes(tag)) {
                  panel.content.activeCellIndex = i;
                  command = 'notebook:run-all-above';
                  break;
                }
              }
            }
            window.__twRun = 'running';
            app.commands.execute(command).then(
              () => { window.__twRun = 'done'; },
              (e) => { window.__twRun = 'error: ' + e; });
        }""",
        until_tag,
    )


def run_tagged(page: Page, tag: str) -> None:
    """Start running the cells carrying ``tag`` (e.g. ``teardown``), in order."""
    page.evaluate(
        """(tag) => {
            const app = window.jupyterapp;
            const panel = app.shell.currentWidget;
            const model = panel.content.model;
            const run = async () => {
              for (let i = 0; i < model.cells.length; i++) {
                const tags = model.cells.get(i).getMetadata('tags') || [];
                if (!tags.includes(tag)) continue;
                panel.content.activeCellIndex = i;
                await app.commands.execute('notebook:run-cell');
              }
            };
            window.__twRun = 'running';
            run().then(() => { window.__twRun = 'done'; },
                       (e) => { window.__twRun = 'error: ' + e; });
        }""",
        tag,
    )


def wait_until_run_done(page: Page, timeout_s: float = 120.0) -> None:
    """Wait until the run started by ``run_all`` is over and the kernel is idle."""
    page.wait_for_function(
        """() => {
            if (window.__twRun === 'running') return false;
            const w = window.jupyterapp.shell.currentWidget;
            const k = w.sessionContext.session && w.sessionContext.session.kernel;
            return !!k && k.status === 'idle';
        }""",
        timeout=timeout_s * 1000,
        polling=200,
    )


def notebook_state(page: Page) -> dict[str, Any]:
    """Execution counts, error outputs and widget errors of the open notebook."""
    state: dict[str, Any] = page.evaluate(
        """() => {
            const w = window.jupyterapp.shell.currentWidget;
            const model = w.content.model;
            const counts = [], errors = [];
            for (let i = 0; i < model.cells.length; i++) {
              const c = model.cells.get(i);
              if (c.type !== 'code') continue;
              counts.push(c.executionCount);
              for (let j = 0; j < c.outputs.length; j++) {
                const o = c.outputs.get(j).toJSON();
                if (o.output_type === 'error')
                  errors.push({cell: i, ename: o.ename, evalue: String(o.evalue).slice(0, 500)});
              }
            }
            const widgetErrors = [...document.querySelectorAll('.jp-OutputArea-output')]
              .filter(e => e.querySelector('.jupyter-widgets-error-widget') ||
                /Error displaying widget|Failed to load model class|Click to show javascript error/
                  .test(e.textContent))
              .map(e => e.textContent.trim().slice(0, 300));
            const stderr = [...document.querySelectorAll(
                '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
              .map(e => e.textContent.slice(0, 500));
            return {execution_counts: counts, errors: errors, widget_errors: widgetErrors,
                    stderr: stderr, run: window.__twRun || null};
        }"""
    )
    return state


def screenshot(page: Page, name: str, *, selector: str | None = None) -> Path:
    """Save ``artifacts/browser/<name>.png`` (the element matching ``selector``, or
    the viewport) and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if selector is None:
        page.screenshot(path=str(path))
    else:
        element = page.locator(selector).first
        # centred, so the notebook's sticky toolbar does not cover the element's top
        # (an element taller than the viewport is clipped: open the page taller)
        element.evaluate("e => e.scrollIntoView({block: 'center'})")
        element.screenshot(path=str(path))
    return path


def publish_screenshot(path: Path, dest: Path) -> bool:
    """Copy a screenshot into the docs when ``UPDATE_SCREENSHOTS=1`` (the README's
    picture is refreshed on purpose, never as a side effect of a test run)."""
    if os.environ.get("UPDATE_SCREENSHOTS") != "1":
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, dest)
    return True


THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}


def set_theme(page: Page, theme: str, timeout_s: float = 30.0) -> None:
    """Switch JupyterLab's theme (``light`` or ``dark``) the way the Settings menu does,
    and wait until the page says it is on."""
    page.evaluate(
        "(name) => window.jupyterapp.commands.execute('apputils:change-theme', {theme: name})",
        THEMES[theme],
    )
    page.wait_for_function(
        "(light) => document.body.dataset.jpThemeLight === light"
        " && !document.querySelector('#jupyterlab-splash')",  # the switch shows a splash
        arg="true" if theme == "light" else "false",
        timeout=timeout_s * 1000,
    )


def set_width(page: Page, width: int, height: int = 1000) -> None:
    """Resize the viewport (the notebook column follows; the panels re-lay out)."""
    page.set_viewport_size({"width": width, "height": height})
    # two frames: JupyterLab's own layout, then the widgets' (ResizeObserver callbacks)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


CLIPPED_JS = """(root) => {
    const scope = document.querySelector(root);
    if (!scope) return ['no ' + root];
    const out = [];
    const describe = (e) => {
        const panel = e.closest('.tw-panel');
        const name = panel ? [...panel.classList].find(c => c !== 'tw-panel') : '?';
        const text = e.textContent.trim().slice(0, 40);
        return `${name} ${e.tagName.toLowerCase()}.${e.className} "${text}"`
            + ` ${e.scrollWidth}x${e.scrollHeight} in ${e.clientWidth}x${e.clientHeight}`;
    };
    // the chart library draws its own canvases in a table of its own: not ours to check
    const mine = (e) => !e.closest('.tw-plot') && e.offsetParent !== null;
    for (const e of scope.querySelectorAll('td, th, button, .tw-value, .tw-label, select')) {
        if (!mine(e)) continue;
        const over = e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1;
        if (over) out.push(describe(e));
    }
    // a table wider than its panel scrolls sideways: its right columns are cut off
    for (const e of scope.querySelectorAll('.tw-body, .tw-scroll, .tw-panel')) {
        if (!mine(e)) continue;
        if (e.scrollWidth > e.clientWidth + 1) out.push(describe(e));
    }
    return out;
}"""


def clipped(page: Page, root: str = ".tw-dashboard") -> list[str]:
    """Every panel cell, button or figure whose content overflows it, and every panel
    body that scrolls sideways (its right columns cut off), as descriptions."""
    found: list[str] = page.evaluate(CLIPPED_JS, root)
    return found


def run_code(page: Page, code: str, timeout_s: float = 60.0) -> None:
    """Append a code cell with ``code`` to the open notebook (in the page only: autosave
    is off, the file never changes) and run it; waits until the kernel is idle."""
    page.evaluate(
        """(code) => {
            const panel = window.jupyterapp.shell.currentWidget;
            const notebook = panel.content;
            const shared = notebook.model.sharedModel;
            shared.insertCell(shared.cells.length, {cell_type: 'code', source: code});
            notebook.activeCellIndex = shared.cells.length - 1;
            window.__twRun = 'running';
            window.jupyterapp.commands.execute('notebook:run-cell').then(
              () => { window.__twRun = 'done'; }, (e) => { window.__twRun = 'error: ' + e; });
        }""",
        code,
    )
    wait_until_run_done(page, timeout_s=timeout_s)
