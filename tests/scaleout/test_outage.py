"""The gap a follower's feed reports itself (``Outage``): from the last event it handed
on before its state turned unhealthy to the first after, once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from workspace.engine.feed_port import GapLike
from workspace.market.records import Trade
from workspace.scaleout.outage import Outage


def trade(event_ms: int) -> Trade:
    return Trade(
        event_type="trade",
        event_time=event_ms,
        symbol="BTCUSDT",
        trade_id=event_ms,
        price=Decimal("97000.01"),
        quantity=Decimal("0.01"),
        trade_time=event_ms,
        buyer_is_maker=False,
    )


def test_an_outage_is_one_gap_from_the_last_event_before_to_the_first_after() -> None:
    gaps: list[GapLike] = []
    handed: list[Any] = []
    outage = Outage(gaps.append)
    deliver = outage.passing(handed.append)
    deliver(trade(1_000))
    deliver(trade(1_100))
    outage.began("the feed owner stopped")
    outage.began("the feed owner restarted")  # the first reason stays
    deliver((trade(5_000), trade(5_100)))  # a feed may hand a tuple
    deliver(trade(5_200))
    assert len(handed) == 4
    assert len(gaps) == 1
    (gap,) = gaps
    assert (gap.last_event_ms_before, gap.first_event_ms_after) == (1_100, 5_000)
    assert gap.reason == "the feed owner stopped"
    assert gap.symbol is None


def test_nothing_is_open_before_any_data_flowed() -> None:
    gaps: list[GapLike] = []
    outage = Outage(gaps.append)
    outage.began("the feed owner's feed is down")
    outage.delivered(trade(2_000))
    assert gaps == []
    outage.began("the feed owner stopped")
    outage.delivered(trade(9_000))
    assert [(g.last_event_ms_before, g.first_event_ms_after) for g in gaps] == [(2_000, 9_000)]
