"""``python -m workspace demo``: the headless text view on the simulator."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from workspace.cli.demo import (
    TextView,
    format_order,
    format_portfolio,
    format_positions,
    format_prices,
)

REPO = Path(__file__).resolve().parents[2]


def test_format_prices_lists_symbols_in_order_with_their_change() -> None:
    line = format_prices(
        {
            "ETHUSDT": {"price": 3500.5, "priceChangePercent": -0.25},
            "BTCUSDT": {"price": 97001.2, "priceChangePercent": 1.5},
        }
    )
    assert line == "prices    BTCUSDT 97,001.20 (+1.50%)  ETHUSDT 3,500.50 (-0.25%)"


def test_prices_get_as_many_decimals_as_their_size_needs() -> None:
    line = format_prices(
        {
            "XRPUSDT": {"price": 2.2044, "priceChangePercent": 0},
            "DOGEUSDT": {"price": 0.35012, "priceChangePercent": 0},
        }
    )
    assert line == "prices    DOGEUSDT 0.350120 (+0.00%)  XRPUSDT 2.2044 (+0.00%)"


def test_format_order_shows_fill_stop_legs_and_reason() -> None:
    filled = {
        "type": "ORDER_UPDATE",
        "orderType": "MARKET",
        "seq": 3,
        "order": {"symbol": "BTCUSDT", "side": "BUY", "quantity": 0.01, "status": "FILLED",
                  "fill_price": 97000.5},
    }  # fmt: skip
    assert format_order(filled).endswith("BTCUSDT  BUY  qty 0.0100 FILLED @ 97,000.50 seq=3")
    trailing = {
        "orderType": "TRAILING_STOP",
        "order": {"symbol": "ETHUSDT", "side": "SELL", "quantity": 0.1, "status": "NEW",
                  "current_stop_price": 3490.0},
    }  # fmt: skip
    assert "stop 3,490.00" in format_order(trailing)
    oco = {
        "orderType": "OCO",
        "order": {"symbol": "BTCUSDT", "side": "SELL", "quantity": 0.01, "status": "NEW",
                  "legs": [{"type": "TAKE_PROFIT", "status": "NEW"},
                           {"type": "STOP_LOSS", "status": "NEW"}]},
    }  # fmt: skip
    assert "legs TAKE_PROFIT:NEW,STOP_LOSS:NEW" in format_order(oco)
    rejected = {"orderType": "MARKET", "order": {"status": "REJECTED", "reason": "no price"}}
    assert "REJECTED (no price)" in format_order(rejected)


def test_format_positions_and_portfolio() -> None:
    assert format_positions({"positions": []}) == "positions (none)"
    positions = {
        "positions": [
            {"symbol": "BTCUSDT", "type": "buy", "quantity": 0.01, "entry_price": 97000,
             "current_pnl": -1.5, "status": "open"},
            {"symbol": "ETHUSDT", "type": "sell", "quantity": 1, "entry_price": 3500,
             "current_pnl": 2, "status": "closed"},
        ]
    }  # fmt: skip
    assert format_positions(positions) == "positions BTCUSDT buy 0.0100 @ 97,000.00 pnl -1.50"
    portfolio = {
        "portfolio": {"balance": 9000, "equity": 10001.5, "total_pnl": 1.5, "realized_pnl": 0,
                      "positions_count": 1}
    }  # fmt: skip
    assert format_portfolio(portfolio) == (
        "portfolio balance 9,000.00 equity 10,001.50 pnl +1.50 realized +0.00 open 1"
    )


async def test_text_view_prints_order_events_at_once_and_summarises_the_rest() -> None:
    out = io.StringIO()
    view = TextView(out)
    view.on_message({"type": "MARKET_UPDATE", "symbol": "BTCUSDT", "price": 1.0})
    view.on_message({"type": "STATUS", "feed": "connected", "source": "sim"})
    view.on_message({"type": "STATUS", "feed": "connected", "source": "sim"})  # no repeat
    assert out.getvalue().count("feed      connected (sim)") == 1
    view.on_message({"type": "ORDER_UPDATE", "orderType": "MARKET", "order": {"status": "NEW"}})
    assert view.order_events == 1
    assert "order     MARKET" in out.getvalue()
    assert "prices" not in out.getvalue()
    view.summary()
    assert "prices    BTCUSDT 1.00" in out.getvalue()


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_demo_runs_on_the_simulator_and_shows_prices_and_order_events() -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    done = subprocess.run(
        [sys.executable, "-m", "workspace", "demo", "--duration", "5"],
        capture_output=True,
        text=True,
        timeout=80,
        env=env,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "feed      connected (sim)" in out
    prices = [line for line in out.splitlines() if " prices    " in line]
    assert prices, out
    assert all(s in prices[-1] for s in ("BNBUSDT", "BTCUSDT", "ETHUSDT")), prices[-1]
    for kind in ("MARKET", "OCO", "TRAILING_STOP", "BRACKET"):
        assert f"order     {kind}" in out, out
    assert "FILLED @" in out, out
    assert "positions BTCUSDT buy" in out, out
    assert "portfolio balance" in out
    assert out.rstrip().splitlines()[-1].split(" ", 1)[1].startswith("stopped ("), out
    assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_demo_without_duration_runs_until_ctrl_c_then_stops_cleanly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "workspace", "demo", "--no-orders", "--symbols", "BTCUSDT"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # blocks until the demo prints its first price line
            seen.append(line)
            if " prices    BTCUSDT" in line:
                break
        else:
            raise AssertionError("".join(seen))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert lines[-2].endswith("stopping"), out
    assert lines[-1].endswith("stopped (0 order events)"), out
    assert "Traceback" not in err, err


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_demo_on_a_kline_replay_ends_when_the_recording_does(tmp_path: Path) -> None:
    source = REPO / "tests/fixtures/binance/replay/klines/BTCUSDT-1m-2020-01-01.csv"
    hour = tmp_path / "BTCUSDT-1m-2020-01-01.csv"
    hour.write_text("".join(source.read_text().splitlines(keepends=True)[:60]))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "workspace",
            "demo",
            "--feed",
            f"replay:{hour}",
            "--symbols",
            "BTCUSDT",
            "--interval",
            "0.2",
        ],
        capture_output=True,
        text=True,
        timeout=80,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "feed      connected (replay)" in done.stdout
    assert "prices    BTCUSDT 7," in done.stdout  # January 2020 prices
    assert "replay    finished" in done.stdout
    assert "order     MARKET        BTCUSDT  BUY" in done.stdout
    assert done.stdout.rstrip().endswith("order events)"), done.stdout


def test_demo_reports_a_bad_feed_or_a_missing_recording_without_a_traceback(
    tmp_path: Path,
) -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "workspace", "demo", "--feed", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "error: feed must be" in bad.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "workspace", "demo", "--feed", f"replay:{tmp_path / 'x.csv'}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 1
    assert "error     the engine did not start: replay file not found" in missing.stdout
    assert "Traceback" not in bad.stderr + missing.stderr
