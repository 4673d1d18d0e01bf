"""An order accepted before its symbol had any price is judged at the first one
(docs/trading.md, "A symbol's first price"); a rebuild from the journal (a restart)
knows which symbols still wait for that judgement and which were judged already.

Measured before: the symbols waiting were kept in memory only.  An order placed
unjudged before a restart, on a symbol with no price before it either, rested for
good after it: a buy limit at 10,000 with BTC at 97,000 (Binance's band: at least
0.2x) never expired."""

from __future__ import annotations

from pathlib import Path

from tests.trading.scripted import Script, buy, listing, trade
from workspace.journal import Journal
from workspace.trading import AccountConfig, OrderStatus, OrderType


def _placed_unjudged(path: Path) -> tuple[str, str, int]:
    """A far buy limit (outside the band at 97,000) and a near one, both placed before
    any BTCUSDT price, journaled; the session then ends (no price came)."""
    with Journal.open(path, AccountConfig()) as journal:
        s = Script(config=journal.config, binance=True)
        far, events = s.place(buy(OrderType.LIMIT, "0.001", price="10000"))
        journal.append(events)
        near, events = s.place(buy(OrderType.LIMIT, "0.001", price="96000"))
        journal.append(events)
        assert (far.status, near.status) == (OrderStatus.NEW, OrderStatus.NEW)
        return far.id, near.id, s.t


def test_orders_placed_unjudged_before_a_restart_are_judged_at_the_first_price_after_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite"
    far, near, t = _placed_unjudged(path)
    with Journal.open(path) as journal:
        account = journal.rebuild(rules=listing())
        assert account.unjudged == {"BTCUSDT"}
        account.attach_journal(journal.append)
        account.on_market(trade("97000.00", t + 10), t + 10)
        done = account.order(far)
        assert (done.status, done.reason_code) == (OrderStatus.EXPIRED, "PERCENT_PRICE")
        assert (done.reason or "").endswith("(at its first price)")
        assert account.order(near).status is OrderStatus.NEW
        assert account.unjudged == set()


def test_orders_judged_before_a_restart_are_not_judged_again_after_it(tmp_path: Path) -> None:
    """The near limit passed at the first price (97,000); after a restart the market
    is at 500,000, where 96,000 is under the band: Binance judged it once, and so do
    we, although no order, fill or position recorded that price."""
    path = tmp_path / "journal.sqlite"
    far, near, t = _placed_unjudged(path)
    with Journal.open(path) as journal:
        account = journal.rebuild(rules=listing())
        account.attach_journal(journal.append)
        account.on_market(trade("97000.00", t + 10), t + 10)  # judged here
    with Journal.open(path) as journal:
        again = journal.rebuild(rules=listing())
        assert again.unjudged == set()
        again.attach_journal(journal.append)
        events = again.on_market(trade("500000.00", t + 20), t + 20)
        assert again.order(near).status is OrderStatus.NEW
        assert again.order(far).status is OrderStatus.EXPIRED
        assert not [e for e in events if e.kind == "order"]
