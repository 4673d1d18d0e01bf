"""The least any ``Decimal`` / struct account must do for the 20-level walk of
``benchmarks/fills.py`` (issue 11): a reference for its ``place`` figure.

    .venv/bin/python benchmarks/fills_floor.py

One function does only what the events of a 20-level MARKET buy carry:
- it reads the 20 levels from the same 1,000-level ``OrderBook`` (``taker_levels``,
  as the account's walk reads them);
- it makes each level's fill and execution structs with their fees;
- it adds up the totals, grows the position (entry price, mark) and moves the wallet;
- it builds the order twice (NEW, then FILLED with its 20 executions) and the four
  events.

There is no validation, no filter, no reservation, no order store or index, no step
taken back on failure, and the events are not applied one by one: this is not an
account, only a floor under one.  The gap between this figure and ``fills.py``'s
``walk_20`` is what the account's generic machinery costs on top of the arithmetic
and objects the events need.

The last line is one JSON object: p50 / p90 / p99 in us.
"""

from __future__ import annotations

import json
import sys
import time
from decimal import Context, Decimal, localcontext
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import fills as walk_benchmark

from workspace.market.book import OrderBook
from workspace.trading.average_cost import remark
from workspace.trading.events import AccountEvent, FillEvent, OrderEvent, PositionEvent
from workspace.trading.order_state import OrderStatus
from workspace.trading.orders import Execution, Fill, Liquidity, Order
from workspace.trading.positions import Position, PositionStatus, PositionType
from workspace.trading.requests import Side

ZERO = Decimal(0)
RATE = Decimal("0.001")
CTX = Context(prec=60)
replace = msgspec.structs.replace


def least_work(
    book: OrderBook, want: Decimal, order: Order, position: Position, wallet: dict[str, Decimal],
    first_fill: int,
) -> list[AccountEvent]:  # fmt: skip
    """The events of a MARKET buy of ``want`` walking ``book``, made as cheaply as the
    structs allow."""
    fill_like = Fill(
        id="", order_id=order.id, parent_id=None, symbol=order.symbol, side=Side.BUY,
        quantity=ZERO, price=ZERO, fee=ZERO, fee_asset="USDT", liquidity=Liquidity.TAKER,
        ts_ms=2, position_id=position.id,
    )  # fmt: skip
    execution_like = Execution(
        price=ZERO, quantity=ZERO, fee=ZERO, fee_asset="USDT", maker=False, ts_ms=2
    )
    with localcontext(CTX):
        made: list[Fill] = []
        executions: list[Execution] = []
        got = value = fees = ZERO
        number = first_fill
        price = ZERO
        for _key, (price, quantity) in book.taker_levels(True):
            amount = quantity if quantity < want else want
            notional = price * amount
            fee = notional * RATE
            made.append(
                replace(fill_like, id=f"fill-{number}", quantity=amount, price=price, fee=fee)
            )
            executions.append(replace(execution_like, price=price, quantity=amount, fee=fee))
            got += amount
            value += notional
            fees += fee
            want -= amount
            number += 1
            if not want:
                break
        new = replace(order, status=OrderStatus.NEW, filled_quantity=ZERO, executions=())
        grown = replace(
            position, quantity=position.quantity + got, cost=position.cost + value, updated_at=2
        )
        grown.entry_price = grown.cost / grown.quantity
        remark(grown, price, CTX)
        wallet["BTC"] += got
        wallet["USDT"] -= value + fees
        average = value / got
        done = replace(
            new, status=OrderStatus.FILLED, filled_quantity=got, avg_price=average,
            fill_price=average, fee=fees, executions=tuple(executions),
        )  # fmt: skip
        return [
            OrderEvent(ts_ms=2, order=new),
            FillEvent(ts_ms=2, fill=made[0], more=tuple(made[1:])),
            PositionEvent(ts_ms=2, position=grown),
            OrderEvent(ts_ms=2, order=done),
        ]


def measure(samples: int) -> dict[str, float]:
    """p50 / p90 / p99 (us) of ``least_work`` over ``samples`` buys."""
    acct = walk_benchmark.account()
    order, _ = acct.place(walk_benchmark.request(Side.BUY), 5)  # a real order to copy
    book = OrderBook.from_snapshot(walk_benchmark.snapshot())
    position = Position(
        id="pos-1", symbol=walk_benchmark.SYMBOL, type=PositionType.BUY, quantity=Decimal(1),
        cost=Decimal(97_000), entry_price=Decimal(97_000), status=PositionStatus.OPEN,
        opened_at=1, updated_at=1, current_price=Decimal(97_000),
    )  # fmt: skip
    wallet = {"BTC": Decimal(10), "USDT": Decimal(10) ** 9}
    took: list[float] = []
    events: list[AccountEvent] = []
    for i in range(samples):
        start = time.perf_counter_ns()
        events = least_work(book, walk_benchmark.QUANTITY, order, position, wallet, i * 20)
        took.append((time.perf_counter_ns() - start) / 1000)
    fill_event = events[1]
    assert isinstance(fill_event, FillEvent)
    assert len(fill_event.fills) == walk_benchmark.WALK
    percentile = walk_benchmark.percentile
    return {
        "floor_p50_us": round(percentile(took, 0.5), 1),
        "floor_p90_us": round(percentile(took, 0.9), 1),
        "floor_p99_us": round(percentile(took, 0.99), 1),
    }


def main() -> None:
    figures = measure(2_000 if "--quick" in sys.argv else 20_000)
    print(
        f"the least work of a {walk_benchmark.WALK}-level MARKET buy's events: "
        f"p50 {figures['floor_p50_us']} us, p90 {figures['floor_p90_us']} us, "
        f"p99 {figures['floor_p99_us']} us (fills.py's walk_20 is the whole place)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
