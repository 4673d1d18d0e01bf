"""Child process for the crash test: trades in a loop and acknowledges every append.

Usage: ``python crash_child.py JOURNAL``.  After each ``Journal.append`` returns, it
prints ``<last seq> <balance> <fees_paid>`` and flushes: from that moment the events
are acknowledged, and the parent may SIGKILL at any instant.
"""

from __future__ import annotations

import sys
from decimal import Decimal

from workspace.journal import Journal
from workspace.market.records import Trade
from workspace.trading import OrderRequest, OrderType, Side


def main(path: str) -> None:
    journal = Journal.open(path)
    account = journal.rebuild()
    price = Decimal("100.00")
    t = 1_700_000_000_000 + journal.last_seq
    i = 0
    while True:
        i += 1
        t += 1
        # a deterministic zig-zag walk, so that limits, stops and trails fire
        price += Decimal("0.37") if (i // 7) % 2 == 0 else Decimal("-0.41")
        record = Trade(
            event_type="aggTrade",
            event_time=t,
            symbol="BTCUSDT",
            price=price,
            quantity=Decimal(1),
            trade_time=t,
            buyer_is_maker=False,
        )
        events = account.on_market(record, t)
        if i % 3 == 0:
            side = Side.BUY if i % 2 else Side.SELL
            kind = (OrderType.MARKET, OrderType.LIMIT, OrderType.TRAILING_STOP)[(i // 3) % 3]
            limit = price - Decimal("0.5") if side is Side.BUY else price + Decimal("0.5")
            request = OrderRequest(  # only the prices its type takes (the others refuse)
                symbol="BTCUSDT",
                side=side,
                type=kind,
                quantity=Decimal("0.01"),
                price=limit if kind is OrderType.LIMIT else None,
                trail_percent=Decimal("0.5") if kind is OrderType.TRAILING_STOP else None,
            )
            _, placed = account.place(request, t)
            events += placed
        if i % 50 == 0:
            events.append(account.mark(t))
        if events:
            seqs = journal.append(events)
            p = account.portfolio()
            sys.stdout.write(f"{seqs[-1]} {p.balance} {p.fees_paid}\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1])
