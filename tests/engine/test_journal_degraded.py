"""A journal that cannot write (issue 16): the engine refuses what would change the
account, keeps prices and reads going, says ``degraded``, takes back the step that
failed (a bracket's fill sequence refused in the middle of its rows), fires nothing
while degraded, recovers by itself, and the journal always reopens to the state the
clients saw.

Failures are real SQLite failures on the engine's own journal file: a trigger that
aborts inserts (``RAISE(ABORT)``, placed and dropped from a second connection) for a
failure at an exact row, and ``PRAGMA max_page_count`` for ``SQLITE_FULL`` ("database
or disk is full") when the file would grow.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from msgspec import msgpack

from workspace.engine.config import EngineConfig
from workspace.engine.core import Engine
from workspace.errors import JournalUnavailable
from workspace.journal import Journal
from workspace.market.records import Trade
from workspace.session import Message
from workspace.trading import AccountConfig, OrderRequest, OrderType, Side
from workspace.trading.orders import LegRole

from .fakes import ManualClock

CONFIG = AccountConfig(initial_balance=Decimal(10_000), balances={"BTC": Decimal(1)})
FAST = EngineConfig(journal_probe_s=0.01, status_interval_s=3600, mark_interval_s=3600)
TIMEOUT = 10.0


def trade(price: str, t: int) -> Trade:
    return Trade(
        event_type="aggTrade",
        event_time=t,
        symbol="BTCUSDT",
        price=Decimal(price),
        quantity=Decimal(1),
        trade_time=t,
        buyer_is_maker=False,
    )


class Refusal:
    """A trigger on the journal's file that aborts the inserts it matches."""

    def __init__(self, path: Path) -> None:
        self._con = sqlite3.connect(path, isolation_level=None)

    def refuse(self, when: str = "1") -> None:
        self._con.execute(
            f"CREATE TRIGGER refuse BEFORE INSERT ON events WHEN {when} "
            "BEGIN SELECT RAISE(ABORT, 'disk I/O error (injected)'); END"
        )

    def allow(self) -> None:
        self._con.execute("DROP TRIGGER IF EXISTS refuse")

    def close(self) -> None:
        self._con.close()


class Rig:
    def __init__(self, path: Path, engine: Engine, clock: ManualClock) -> None:
        self.path = path
        self.engine = engine
        self.clock = clock
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        engine.subscribe_messages(None, listener=self.messages.put_nowait)

    def tick(self, price: str) -> None:
        self.clock.advance(0.001)
        self.engine.on_record(trade(price, self.clock.now_ms))

    async def status(self, journal: str) -> Message:
        async with asyncio.timeout(TIMEOUT):
            while True:
                message = await self.messages.get()
                if message["type"] == "STATUS" and message["journal"] == journal:
                    return message


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    path = tmp_path / "journal.sqlite"
    journal = Journal.open(path, config=CONFIG)
    clock = ManualClock()
    engine = Engine(
        account=journal.rebuild(), journal=journal, source="test", clock=clock, config=FAST
    )
    await engine.start()
    try:
        yield Rig(path, engine, clock)
    finally:
        await engine.stop()
        journal.close()


def bracket() -> OrderRequest:
    return OrderRequest(
        symbol="BTCUSDT",
        side=Side.BUY,
        type=OrderType.BRACKET,
        quantity=Decimal("0.5"),
        price=Decimal(99),
        take_profit=Decimal(110),
        stop_loss=Decimal(90),
    )


def stop() -> OrderRequest:
    return OrderRequest(
        symbol="BTCUSDT",
        side=Side.SELL,
        type=OrderType.STOP_LOSS,
        quantity=Decimal("0.5"),
        stop_price=Decimal(95),
    )


def reopened(path: Path) -> tuple[Journal, object]:
    journal = Journal.open(path)
    return journal, journal.rebuild()


async def test_a_bracket_fill_refused_in_the_middle_of_its_rows_is_taken_back_whole(
    rig: Rig,
) -> None:
    engine, account = rig.engine, rig.engine.account
    rig.tick("100")
    group, _ = engine.place(bracket())
    stop_order, _ = engine.place(stop())
    last_seq = engine.seq
    orders_before = list(account.open_orders)
    wallet_before = account.balances()
    holdings_before = [(p.id, p.quantity, p.cost) for p in account.positions]
    refusal = Refusal(rig.path)
    # the trade fills the entry (fill, position, order rows) and triggers the stop:
    # the second fill row of that one transaction fails, after the first went in
    refusal.refuse(f"NEW.kind = 'fill' AND instr(NEW.body, X'{msgpack.encode('fill-2').hex()}')")
    try:
        rig.tick("94")
        await rig.status("degraded")
        assert engine.journal_state == "degraded"
        assert "injected" in engine.journal_reason
        assert engine.health()["healthy"] is False
        assert engine.seq == last_seq  # not one row of the step is in the journal
        assert account.open_orders == orders_before
        assert account.balances() == wallet_before  # (equity moves with the price)
        assert [(p.id, p.quantity, p.cost) for p in account.positions] == holdings_before
        # while degraded: commands are refused, nothing fires, prices go on
        with pytest.raises(JournalUnavailable, match="nothing was changed"):
            engine.place(stop())
        with pytest.raises(JournalUnavailable):
            engine.cancel(stop_order.id)
        rig.tick("93")
        assert account.quote("BTCUSDT").last == Decimal(93)
        assert account.open_orders == orders_before
        assert engine.metrics.bad_records == 0
        assert engine.orders_message()["orders"]  # reads go on
    finally:
        refusal.allow()
        refusal.close()
    await rig.status("ok")
    assert engine.health()["healthy"] is True
    # the orders that could not fire then fire on the next price
    rig.tick("94")
    filled = account.order(group.id)
    assert filled.leg_by_role(LegRole.ENTRY).status.value == "FILLED"  # type: ignore[union-attr]
    assert account.order(stop_order.id).status.value == "FILLED"
    # the journal reopens to exactly this account (a second writer waits its turn)
    engine.journal.close()
    journal, rebuilt = reopened(rig.path)
    try:
        assert rebuilt.portfolio() == account.portfolio()  # type: ignore[attr-defined]
        assert dict(rebuilt.orders) == dict(account.orders)  # type: ignore[attr-defined]
        assert journal.verify().ok
    finally:
        journal.close()


async def test_a_full_disk_refuses_orders_until_space_returns_and_loses_nothing_told(
    rig: Rig,
) -> None:
    engine, account = rig.engine, rig.engine.account
    rig.tick("100")
    told: dict[str, str] = {}  # order id -> status its ORDER_UPDATE said
    con = engine.journal._con  # the engine's own connection: SQLITE_FULL on growth
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    con.execute(f"PRAGMA max_page_count = {pages}")
    refused = None
    for i in range(2000):
        request = OrderRequest(
            symbol="BTCUSDT",
            side=Side.BUY,
            type=OrderType.LIMIT,
            quantity=Decimal("0.01"),
            price=Decimal(50 + i % 40),
        )
        try:
            order, reply = engine.place(request)
        except JournalUnavailable as error:
            refused = error
            break
        told[order.id] = reply["order"]["status"]
    assert refused is not None
    assert "full" in str(refused), refused
    assert told  # some went in before the disk filled
    await rig.status("degraded")
    # no order the client was not told about, in memory or in the journal
    assert {o.id for o in account.open_orders} == set(told)
    assert {o.id for _, e in engine.journal.order_events_since(0) for o in [e.order]} == set(told)
    con.execute("PRAGMA max_page_count = 1073741823")  # space returns
    await rig.status("ok")
    after, _ = engine.place(stop())
    told[after.id] = "NEW"
    assert after.id not in {o.id for o in account.open_orders} - set(told)
    engine.journal.close()
    journal, rebuilt = reopened(rig.path)
    try:
        assert {o.id for o in rebuilt.open_orders} == set(told)  # type: ignore[attr-defined]
        assert rebuilt.portfolio() == account.portfolio()  # type: ignore[attr-defined]
    finally:
        journal.close()


async def test_a_mark_that_cannot_be_journaled_degrades_the_engine_too(rig: Rig) -> None:
    engine = rig.engine
    rig.tick("100")
    engine.place(
        OrderRequest(
            symbol="BTCUSDT", side=Side.BUY, type=OrderType.MARKET, quantity=Decimal("0.01")
        )
    )
    refusal = Refusal(rig.path)
    refusal.refuse("NEW.kind = 'mark'")
    try:
        engine._last_mark_ms = 0  # the next tick is due a mark
        rig.tick("101")
        await rig.status("degraded")
        assert engine.metrics.bad_records == 0
        assert engine.metrics.journal_failures == 1
    finally:
        refusal.allow()
        refusal.close()
    await rig.status("ok")
