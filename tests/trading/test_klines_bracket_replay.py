"""Real BTCUSDT 1m klines (Binance, 2020-01-01..03) through brackets with a trailing
stop leg, checked against an independent computation written here.

Each kline becomes four trades: open, then low and high (low first for a green
candle, high first for a red one, the usual OHLC path assumption), then close.
Whenever no bracket is working after a trade, a new BUY bracket is placed at once:
market entry, take-profit +2 %, stop-loss -1 % trailing by 1.5 % (so the stop-loss
floor holds the stop until the peak has risen about 0.5 %).
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

from workspace.trading import Account, AccountConfig, FillEvent, OrderStatus, OrderType

from .scripted import buy, trade

KLINES = Path(__file__).parents[1] / "fixtures/binance/replay/klines"
DAYS = ("2020-01-01", "2020-01-02", "2020-01-03")
QTY = Decimal("0.1")
FEE = Decimal("0.001")
CENT = Decimal("0.01")


def _path() -> list[tuple[int, Decimal]]:
    ticks: list[tuple[int, Decimal]] = []
    for day in DAYS:
        with (KLINES / f"BTCUSDT-1m-{day}.csv").open() as f:
            for row in csv.reader(f):
                t = int(row[0])
                o, h, lo, c = (Decimal(x) for x in row[1:5])
                middle = (lo, h) if c >= o else (h, lo)
                ticks += [(t, o), (t + 15_000, middle[0]), (t + 30_000, middle[1])]
                ticks.append((t + 59_999, c))
    return ticks


def _levels(entry: Decimal) -> tuple[Decimal, Decimal]:
    return (entry * Decimal("1.02")).quantize(CENT), (entry * Decimal("0.99")).quantize(CENT)


def _expected(ticks: list[tuple[int, Decimal]]) -> list[tuple[str, Decimal]]:
    """The fills, computed without the account: (side, price) in order."""
    out: list[tuple[str, Decimal]] = []
    active = False
    peak = stop = tp = Decimal(0)
    for _, price in ticks:
        if active:
            if price > peak:
                peak = price
                stop = max(stop, peak * (1 - Decimal("0.015")))
            if price <= stop:
                out.append(("SELL", price))  # stop triggers, fills at market = this trade
                active = False
            elif price >= tp:
                out.append(("SELL", tp))  # take-profit limit fills at its price
                active = False
        if not active:
            # a new bracket right after the trade: market entry at that trade (no book)
            out.append(("BUY", price))
            tp, floor = _levels(price)
            peak = price
            stop = max(floor, peak * (1 - Decimal("0.015")))
            active = True
    return out


def test_real_klines_through_brackets_with_trailing_stop_match_an_independent_computation() -> None:
    ticks = _path()
    assert len(ticks) == 4 * 1440 * len(DAYS)
    account = Account(AccountConfig())
    fills: list[FillEvent] = []
    working: str | None = None
    for t, price in ticks:
        fills += [e for e in account.on_market(trade(price, t), t) if isinstance(e, FillEvent)]
        if working is not None and account.order(working).status is OrderStatus.FILLED:
            working = None
        if working is None:
            tp, floor = _levels(price)
            order, events = account.place(
                buy(
                    OrderType.BRACKET,
                    str(QTY),
                    take_profit=tp,
                    stop_loss=floor,
                    trail_percent="1.5",
                ),
                t,
            )
            assert order.status is OrderStatus.NEW, order.reason
            working = order.id
            fills += [e for e in events if isinstance(e, FillEvent)]

    expected = _expected(ticks)
    got = [(f.side.value, f.price) for e in fills for f in e.fills]
    assert got == expected
    assert len(expected) > 20  # many round trips, both exits exercised
    exits = {f.fill.liquidity.value for f in fills if f.fill.side.value == "SELL"}
    assert exits == {"maker", "taker"}

    # money: realized P&L and fees from the independent fills, to the last digit
    realized = Decimal(0)
    fees = Decimal(0)
    for (side, price), (next_side, exit_price) in zip(expected[::2], expected[1::2], strict=False):
        assert (side, next_side) == ("BUY", "SELL")
        realized += (exit_price - price) * QTY
    for _, price in expected:
        fees += price * QTY * FEE
    p = account.portfolio()
    assert p.realized_pnl == realized
    assert p.fees_paid == fees
    last_price = ticks[-1][1]
    open_entry = expected[-1][1] if len(expected) % 2 else None
    unrealized = (last_price - open_entry) * QTY if open_entry is not None else Decimal(0)
    assert p.unrealized_pnl == unrealized
    assert p.equity == Decimal(10000) + realized + unrealized - fees
