"""The simulated order book on its own: sorted levels on the grid, Binance update ids."""

from __future__ import annotations

import random

import pytest

from workspace.sim.book import DepthRecorder, SimBook

TICK = 1_000_000  # 0.01
STEP = 1_000  # 0.00001


def new_book(depth: int = 200, seed: int = 1) -> SimBook:
    book = SimBook(
        tick=TICK,
        step=STEP,
        level_qty=40_000_000,
        gap_ticks=3,
        depth=depth,
        rng=random.Random(seed),
        first_update_id=1000,
    )
    book.align(9_700_000_000_000, 9_700_001_000_000)
    return book


def assert_well_formed(book: SimBook) -> None:
    bids = book.bids(10_000)
    asks = book.asks(10_000)
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)
    assert bids[0][0] < asks[0][0]
    for price, qty in bids + asks:
        assert price % TICK == 0
        assert qty > 0
        assert qty % STEP == 0


def test_a_new_book_has_depth_levels_per_side_behind_the_quote() -> None:
    book = new_book()
    assert book.level_count() == (200, 200)
    assert book.best_bid()[0] == 9_700_000_000_000
    assert book.best_ask()[0] == 9_700_001_000_000
    assert_well_formed(book)


def test_following_a_random_walk_keeps_the_book_sorted_and_its_depth() -> None:
    book = new_book()
    rng = random.Random(3)
    bid = 9_700_000_000_000
    for _ in range(2000):
        bid += rng.choice((-3, -1, 0, 1, 2, 40)) * TICK
        book.align(bid, bid + TICK)
        if rng.random() < 0.5:
            book.take(rng.random() < 0.5, rng.randint(1, 80) * STEP)
        book.churn()
        book.align(bid, bid + TICK)
        book.maintain()
        assert book.best_bid()[0] == bid
        assert book.best_ask()[0] == bid + TICK
    assert_well_formed(book)
    bids, asks = book.level_count()
    assert 200 <= bids <= 220
    assert 200 <= asks <= 220


def test_a_trade_shrinks_the_best_level_and_never_prints_more_than_it_holds() -> None:
    book = new_book()
    price, size = book.best_ask()
    assert book.take(True, STEP) == (price, STEP)
    assert book.best_ask() == (price, size - STEP)
    _, left = book.best_ask()
    assert book.take(True, left + 50 * STEP) == (price, left)
    assert book.best_ask()[0] > price  # emptied: the level is gone


def test_every_change_takes_the_next_update_id_and_reaches_the_recorders() -> None:
    book = new_book()
    recorder = DepthRecorder()
    book.recorders.append(recorder)
    first = book.update_id
    book.churn(50)
    book.align(book.best_bid()[0] + 5 * TICK, book.best_bid()[0] + 6 * TICK)
    u_first, u_last, bids, asks = recorder.take()
    assert u_first == first + 1
    assert u_last == book.update_id
    assert recorder.empty
    # The last recorded quantity of each level is the one the book holds now.
    for recorded, levels in ((dict(bids), book.bids(10_000)), (dict(asks), book.asks(10_000))):
        now = dict(levels)
        for price, qty in recorded.items():
            assert now.get(price, 0) == qty


@pytest.mark.parametrize("depth", [0, -1])
def test_a_book_needs_positive_depth(depth: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        SimBook(
            tick=TICK, step=STEP, level_qty=1, gap_ticks=1, depth=depth,
            rng=random.Random(1), first_update_id=1,
        )  # fmt: skip
