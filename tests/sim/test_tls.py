"""wss:// and https://: a given certificate, or a throwaway self-signed one."""

from __future__ import annotations

import asyncio
import re
import ssl
import sys
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from workspace.sim import ExchangeSimulator, SimConfig
from workspace.sim.tls import _with_openssl, self_signed

from .conftest import TIMEOUT, recv, request

ROOT = Path(__file__).resolve().parents[2]


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


async def check_tls_simulator(cert: Path, key: Path) -> None:
    sim = ExchangeSimulator(
        SimConfig(symbols=("BTCUSDT",), tls_cert=cert, tls_key=key, trade_interval_s=0.02)
    )
    await sim.start()
    try:
        assert sim.stream_url.startswith("wss://127.0.0.1:")
        assert sim.rest_url.startswith("https://127.0.0.1:")
        async with connect(f"{sim.stream_url}/ws/btcusdt@trade", ssl=trusting(cert)) as ws:
            trade = await recv(ws)
        async with httpx.AsyncClient(verify=trusting(cert), timeout=TIMEOUT) as client:
            depth = await client.get(f"{sim.rest_url}/api/v3/depth?symbol=BTCUSDT&limit=5")
        with pytest.raises(ssl.SSLCertVerificationError):
            async with connect(f"{sim.stream_url}/ws", ssl=ssl.create_default_context()):
                pass
    finally:
        await sim.stop()
    assert trade["e"] == "trade"
    assert len(depth.json()["bids"]) == 5


async def test_a_self_signed_certificate_serves_wss_and_https(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path / "tls")
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    await check_tls_simulator(cert, key)


async def test_the_openssl_fallback_makes_a_working_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    _with_openssl(cert, key, ["localhost", "127.0.0.1"])
    await check_tls_simulator(cert, key)


def test_a_certificate_needs_its_key() -> None:
    with pytest.raises(ValueError, match="together"):
        SimConfig(tls_cert=Path("cert.pem"))


async def test_cli_self_signed_prints_how_to_trust_it_and_cleans_up() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "workspace", "sim", "--port", "0", "--symbols", "ethusdt",
        "--tls-self-signed", cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    try:
        while not any("SSL_CERT_FILE=" in line for line in lines):
            lines.append((await asyncio.wait_for(process.stdout.readline(), 60)).decode())
        url = re.search(r"wss://127\.0\.0\.1:\d+", lines[0])
        trust = re.search(r"SSL_CERT_FILE=(\S+)", lines[-1])
        assert url, lines
        assert trust, lines
        cert = Path(trust.group(1))
        assert await asyncio.to_thread(cert.is_file)
        assert ROOT not in cert.parents  # never in the repository
        async with connect(f"{url.group(0)}/ws", ssl=trusting(cert)) as ws:
            reply = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
        assert reply == {"result": [], "id": 1}
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 60)
    assert not await asyncio.to_thread(cert.exists)
