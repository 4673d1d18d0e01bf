"""cryptofeed (wss:// only) against the simulator on TLS with a throwaway certificate."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from workspace.sim import ExchangeSimulator

from .conftest import TIMEOUT, assert_book_sane

pytestmark = pytest.mark.slow
CLIENT = Path(__file__).with_name("cryptofeed_client.py")


async def test_cryptofeed_trades_ticker_book_and_candles_over_wss(
    tls_sim: tuple[ExchangeSimulator, Path], tmp_path: Path
) -> None:
    sim, cert = tls_sim
    env = {**os.environ, "SSL_CERT_FILE": str(cert), "REQUESTS_CA_BUNDLE": str(cert)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(CLIENT), sim.stream_url, sim.rest_url, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,  # cryptofeed writes feedhandler.log into its working folder
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 3 * TIMEOUT)
    assert process.returncode == 0, stderr.decode()[-3000:]
    seen = json.loads(stdout.decode().strip().splitlines()[-1])
    assert sim.stream_url.startswith("wss://")
    assert seen["resets"] == 0  # its depth sync never saw a gap
    symbol, side, price, amount, _ = seen["trades"][0]
    assert symbol == "BTC-USDT"
    assert side in ("buy", "sell")
    assert Decimal(amount) > 0
    _, bid, ask = seen["tickers"][-1]
    assert Decimal(bid) < Decimal(ask)
    sequences = [b["sequence"] for b in seen["books"]]
    assert sequences == sorted(sequences)
    assert len(set(sequences)) == len(sequences)
    last = seen["books"][-1]
    assert_book_sane(last["bids"], last["asks"], Decimal("0.01"))
    assert seen["candles"][0][:2] == ["BTC-USDT", "1m"]
    assert abs(Decimal(price) - Decimal(last["bids"][0][0])) < Decimal(price) / 100
    # The feed is gone: its stream connection closed.
    await asyncio.wait_for(sim.wait_for_subscribers("btcusdt@depth@100ms", 0), TIMEOUT)
