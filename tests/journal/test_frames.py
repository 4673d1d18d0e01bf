"""pandas views of the journal: float columns, UTC datetimes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.trading.scripted import Script, buy, sell
from workspace.journal import Journal, equity_curve, fills_frame, orders_frame, positions_frame
from workspace.trading import OrderType


def _journal(path: Path) -> Journal:
    journal = Journal.open(path)
    s = Script()
    journal.append(s.trades("100"))
    journal.append(s.place(buy(OrderType.MARKET, "2"))[1])
    journal.append(s.place(sell(OrderType.LIMIT, "1", price="110"))[1])
    journal.append(s.place(buy(OrderType.BRACKET, "1", take_profit="130", stop_loss="90"))[1])
    journal.append(s.trades("111"))
    journal.append([s.account.mark(s.tick())])
    journal.append(s.trades("80"))
    return journal


def test_fills_frame_has_a_utc_time_index_and_float_columns(tmp_path: Path) -> None:
    with _journal(tmp_path / "j.db") as journal:
        fills = fills_frame(journal)
    assert isinstance(fills.index, pd.DatetimeIndex)
    assert str(fills.index.tz) == "UTC"
    assert fills["price"].dtype == "float64"
    assert list(fills["price"]) == [100.0, 100.0, 110.0, 80.0]
    assert abs(fills["fee"].sum() - (0.2 + 0.1 + 0.11 + 0.08)) < 1e-12


def test_orders_frame_lists_orders_and_legs_in_their_latest_state(tmp_path: Path) -> None:
    with _journal(tmp_path / "j.db") as journal:
        orders = orders_frame(journal)
    assert list(orders["status"])[:3] == ["FILLED", "FILLED", "FILLED"]
    legs = orders[orders["parent_id"].notna()]
    assert list(legs["role"]) == ["entry", "take_profit", "stop_loss"]
    assert list(legs["status"]) == ["FILLED", "CANCELED", "FILLED"]
    assert str(orders["created_at"].dt.tz) == "UTC"


def test_positions_frame_has_open_and_closed_positions(tmp_path: Path) -> None:
    with _journal(tmp_path / "j.db") as journal:
        positions = positions_frame(journal)
    assert list(positions["status"]) == ["open"]  # one netted BTCUSDT position, still open
    assert positions["quantity"].iloc[0] == 1.0
    assert positions["realized_pnl"].iloc[0] == 10.0 - 20.0  # +10 at the limit, -20 at stop


def test_equity_curve_samples_fills_and_marks_and_ends_at_the_account_equity(
    tmp_path: Path,
) -> None:
    with _journal(tmp_path / "j.db") as journal:
        curve = equity_curve(journal)
        final = journal.rebuild().portfolio()
    assert isinstance(curve.index, pd.DatetimeIndex)
    assert curve.index.is_monotonic_increasing
    assert len(curve) == 5  # 4 fill times + 1 mark
    assert curve["equity"].iloc[-1] == float(final.equity)
    pnl = curve["realized_pnl"] + curve["unrealized_pnl"] - curve["fees_paid"]
    assert (curve["equity"] - float(final.initial_balance) - pnl).abs().max() < 1e-9
