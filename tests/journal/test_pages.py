"""Resume reads in bounded pages (issue 16: ``resume {since: 0}`` must not build the
whole history at once): each page is one query, nothing stays open between pages, so
appends may happen in between, and ``until`` stops at a snapshot's seq."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.trading.scripted import trade
from workspace.journal import Journal
from workspace.trading import Account, OrderEvent, OrderRequest, OrderType, Side


def _limit(price: int) -> OrderRequest:
    return OrderRequest(
        symbol="BTCUSDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.01"),
        price=Decimal(price),
    )


def _journal_with_orders(path: Path, n: int) -> tuple[Journal, Account]:
    journal = Journal.open(path)
    account = Account(journal.config)
    account.attach_journal(journal.append)
    account.on_market(trade("100", 1), 1)
    for i in range(n):
        order, _ = account.place(_limit(90 - i % 40), 2 + i)
        if i % 3 == 0:
            account.cancel(order.id, 2 + i)
    account.place(
        OrderRequest(symbol="BTCUSDT", side=Side.BUY, type=OrderType.MARKET, quantity=Decimal(1)),
        n + 3,
    )
    journal.append([account.mark(n + 4)])  # not an order event: never in a page
    return journal, account


def test_pages_hold_every_order_event_once_in_order_and_no_more_than_asked(
    tmp_path: Path,
) -> None:
    journal, _ = _journal_with_orders(tmp_path / "j.sqlite", 120)
    with journal:
        everything = journal.order_events_since(0)
        assert all(isinstance(e, OrderEvent) for _, e in everything)
        pages = list(journal.order_event_pages(0, page_size=25))
        assert [len(p) for p in pages[:-1]] == [25] * (len(pages) - 1)
        assert 0 < len(pages[-1]) <= 25
        assert [item for page in pages for item in page] == everything
        middle = everything[40][0]
        assert [i for p in journal.order_event_pages(middle, 7) for i in p] == everything[41:]
        assert list(journal.order_event_pages(journal.last_seq, 7)) == []
        with pytest.raises(ValueError, match="page_size"):
            next(journal.order_event_pages(0, 0))


def test_appends_between_pages_are_not_lost_and_until_bounds_a_snapshot(tmp_path: Path) -> None:
    journal, account = _journal_with_orders(tmp_path / "j.sqlite", 30)
    with journal:
        snapshot = journal.last_seq
        pages = journal.order_event_pages(0, page_size=10, until=snapshot)
        first = next(pages)
        later, _ = account.place(_limit(50), 100)  # appended while the reader pauses
        rest = [item for page in pages for item in page]
        seqs = [seq for seq, _ in first + rest]
        assert seqs == sorted(seqs)
        assert seqs[-1] <= snapshot
        assert later.id not in {e.order.id for _, e in first + rest}
        unbounded = [i for p in journal.order_event_pages(0, page_size=10) for i in p]
        assert unbounded[-1][1].order.id == later.id
