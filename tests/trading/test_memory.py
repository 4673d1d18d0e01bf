"""The account's records stay out of the cycle collector (``gc=False``): they cannot
form cycles, and tracking them would make every fill bring a collection closer."""

from __future__ import annotations

import gc
from decimal import Decimal

from workspace.trading import Account, AccountConfig, OrderRequest, OrderType, Side

from .scripted import trade


def test_orders_fills_positions_events_and_quotes_are_not_tracked_by_the_gc() -> None:
    account = Account(AccountConfig(initial_balance=Decimal(10**6)))
    account.on_market(trade("100", 1), 1)
    oco = OrderRequest(
        symbol="BTCUSDT",
        side=Side.SELL,
        type=OrderType.OCO,
        quantity=Decimal(1),
        take_profit=Decimal(110),
        stop_price=Decimal(90),
    )
    market = OrderRequest(
        symbol="BTCUSDT", side=Side.BUY, type=OrderType.MARKET, quantity=Decimal(1)
    )
    _, placed = account.place(market, 2)
    group, more = account.place(oco, 3)
    records: list[object] = [*placed, *more, group, *group.legs, account.mark(4)]
    records += [account.portfolio(), account.quote("BTCUSDT"), *account.fills]
    records += [*account.positions, *account.open_orders, *account.orders.values()]
    assert len(records) > 8
    assert [r for r in records if gc.is_tracked(r)] == []
