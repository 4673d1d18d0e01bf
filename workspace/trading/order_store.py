"""Every order of the account and the indexes derived from them: open orders, legs by
id, client order ids, resting levels (``TriggerIndex``), market orders waiting for a
price, exits by symbol.

Changed only through ``put`` (called by ``Account.apply``), which checks the order's
and every leg's transition against ``order_state``'s table; the indexes are rebuilt
from the snapshot, so a journal rebuild gives the same ones.

Inside a step the account may have to take back (its journal append failed), the
store logs how to undo each change (``begin`` / ``rollback`` / ``commit``): ``put``
logs the snapshot it replaced, ``fire`` the orders it took out of the trigger index.

Final orders beyond a bound leave memory (``trim``, oldest final first): they stay in
the journal, which is where views of old orders read them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

from workspace.errors import NotFound
from workspace.trading.order_state import OrderStatus, check_transition, is_final
from workspace.trading.orders import Order
from workspace.trading.requests import RESTING_LIMITS, OrderType, Side
from workspace.trading.trigger_index import Direction, TriggerIndex

ZERO = Decimal(0)

S = OrderStatus
LIVE = (S.NEW, S.TRIGGERED, S.PARTIALLY_FILLED)


_Undo = tuple[str | None, Order | None, tuple[str, ...]]
"""(order id, the snapshot ``put`` replaced, ids of legs it saw first) for a ``put``;
(None, None, order ids) for the orders ``fire`` took out of the trigger index."""


class OrderStore:
    __slots__ = (
        "_client_ids",
        "_counts",
        "_exits",
        "_final",
        "_index",
        "_liquidity",
        "_liquidity_symbol",
        "_open",
        "_orders",
        "_parent_of",
        "_undo",
        "_waiting",
        "evicted",
    )

    def __init__(self) -> None:
        self._orders: dict[str, Order] = {}  # top-level orders, final ones included
        self._open: dict[str, Order] = {}  # top-level orders that are not final
        self._parent_of: dict[str, str] = {}  # leg id -> group id
        self._client_ids: dict[str, str] = {}  # client_order_id -> open top-level order id
        self._index = TriggerIndex()
        self._waiting: dict[str, dict[str, int]] = {}  # symbol -> {market order id: expiry}
        # symbol -> {open order id holding exits: seq_no} (orders that belong to a holding)
        self._exits: dict[str, dict[str, int]] = {}
        # symbol -> {order or leg id: seq_no}: market orders and triggered stops that
        # took all the book had and wait for more (the book fill model, GTC)
        self._liquidity: dict[str, dict[str, int]] = {}
        self._liquidity_symbol: dict[str, str] = {}
        # final top-level orders still in memory, in the order they became final
        self._final: dict[str, None] = {}
        # symbol -> [open orders, open algo orders, open order lists] as the exchange
        # counts them (MAX_NUM_ORDERS, MAX_NUM_ALGO_ORDERS, MAX_NUM_ORDER_LISTS): kept
        # as orders open and end
        self._counts: dict[str, list[int]] = {}
        self._undo: list[_Undo] | None = None  # a step that may be taken back
        self.evicted = 0  # final orders that left memory (``trim``)

    # -- the one change ------------------------------------------------------------------
    def put(self, order: Order) -> tuple[Order | None, list[Order]]:
        """Store the new snapshot of a top-level order; returns the one it replaces and
        the legs seen for the first time (their ids count)."""
        old = self._orders.get(order.id)
        check_transition(order.id, old.status if old is not None else None, order.status)
        old_legs = {leg.id: leg for leg in old.legs} if old is not None else {}
        new_legs: list[Order] = []
        for leg in order.legs:
            prior = old_legs.get(leg.id)
            if prior is None or prior.status != leg.status:
                check_transition(leg.id, prior.status if prior is not None else None, leg.status)
            if prior is None:
                self._parent_of[leg.id] = order.id
                new_legs.append(leg)
        if old is not None:
            if not is_final(old.status):
                self._follow(old, False)
            self._unindex(old)
        self._orders[order.id] = order
        if is_final(order.status):
            self._open.pop(order.id, None)
            self._final[order.id] = None
        else:
            self._open[order.id] = order
            self._follow(order, True)
            self._index_order(order)
        if self._undo is not None:
            self._undo.append((order.id, old, tuple(leg.id for leg in new_legs)))
        return old, new_legs

    # -- taking a step back -----------------------------------------------------------
    def begin(self) -> None:
        """Log every change from now on, so that ``rollback`` can take them back."""
        self._undo = []

    def commit(self) -> None:
        self._undo = None

    def rollback(self) -> None:
        """Undo every change since ``begin``, newest first: the store is then exactly
        as it was (the same snapshots, indexes and open-order order)."""
        undo, self._undo = self._undo, None
        if not undo:
            return
        reopened = False
        for order_id, old, ids in reversed(undo):
            if order_id is None:
                for fired_id in ids:
                    self._reindex(fired_id)
                continue
            current = self._orders[order_id]
            if not is_final(current.status):
                self._follow(current, False)
            self._unindex(current)
            for leg_id in ids:
                self._parent_of.pop(leg_id, None)
            if is_final(current.status) and (old is None or not is_final(old.status)):
                self._final.pop(order_id, None)
            if old is None:
                del self._orders[order_id]
                self._open.pop(order_id, None)
                continue
            self._orders[order_id] = old
            if is_final(old.status):
                self._open.pop(order_id, None)
            else:
                reopened = reopened or order_id not in self._open
                self._open[order_id] = old
                self._follow(old, True)
                self._index_order(old)
        if reopened:
            # open orders are kept in placement order (a rebuild's order)
            self._open = dict(sorted(self._open.items(), key=lambda item: item[1].seq_no))

    def _reindex(self, order_id: str) -> None:
        """Put an order the trigger index gave up back in, as its snapshot says."""
        top_id = self.top_id(order_id)
        if top_id is None:
            return
        order = self._orders[top_id]
        self._unindex(order)
        if not is_final(order.status):
            self._index_order(order)

    # -- memory ------------------------------------------------------------------------
    def trim(self, keep: int) -> None:
        """Let the oldest final orders (and their legs) leave memory until at most
        ``keep`` remain; never during a step that may be taken back."""
        final = self._final
        if len(final) <= keep or self._undo is not None:
            return
        excess = len(final) - keep
        gone = list(itertools.islice(final, excess))
        self.evicted += len(gone)
        for order_id in gone:
            del final[order_id]
            order = self._orders.pop(order_id, None)
            if order is not None:
                for leg in order.legs:
                    self._parent_of.pop(leg.id, None)

    @property
    def final_in_memory(self) -> int:
        return len(self._final)

    def _follow(self, order: Order, live: bool) -> None:
        """Add an open order to (or remove it from) the client-id, exit and
        waiting-market indexes."""
        cid = order.client_order_id
        if cid is not None:
            if live:
                self._client_ids[cid] = order.id
            elif self._client_ids.get(cid) == order.id:
                del self._client_ids[cid]
        if order.reduce_only or any(leg.reduce_only for leg in order.legs):
            _keep(self._exits, order.symbol, order.id, order.seq_no, live)
        if order.expires_at is not None:
            _keep(self._waiting, order.symbol, order.id, order.expires_at, live)
        orders, algo = exchange_orders(order)
        lists = 1 if order.legs else 0
        counts = self._counts.get(order.symbol)
        if counts is None:
            counts = self._counts[order.symbol] = [0, 0, 0]
        if live:
            counts[0] += orders
            counts[1] += algo
            counts[2] += lists
        else:
            counts[0] -= orders
            counts[1] -= algo
            counts[2] -= lists
            if not counts[0] and not counts[2]:
                del self._counts[order.symbol]

    # -- reading ---------------------------------------------------------------------------
    @property
    def orders(self) -> Mapping[str, Order]:
        return MappingProxyType(self._orders)

    @property
    def open_orders(self) -> list[Order]:
        return list(self._open.values())

    def open_on(self, symbol: str) -> list[Order]:
        """The open top-level orders of ``symbol``, in placement order."""
        return sorted((o for o in self._open.values() if o.symbol == symbol), key=_seq_no)

    def open_count(self, symbol: str) -> tuple[int, int]:
        """The open orders of ``symbol`` as the exchange counts them: all, and the
        algo orders among them (``exchange_orders``)."""
        counts = self._counts.get(symbol)
        return (counts[0], counts[1]) if counts is not None else (0, 0)

    def open_lists(self, symbol: str) -> int:
        """The open order lists (OCOs and brackets) of ``symbol``."""
        counts = self._counts.get(symbol)
        return counts[2] if counts is not None else 0

    def open_buys(self, symbol: str) -> Decimal:
        """What the open orders of ``symbol`` may still buy, as the exchange adds it up
        for ``MAX_POSITION``: the rest of every open BUY order, each leg of an order
        list its own order (an OCO's two buy legs count both)."""
        total = ZERO
        for order in self._open.values():
            if order.symbol != symbol:
                continue
            if not order.legs:
                if order.side is Side.BUY:
                    total += order.remaining
                continue
            for leg in order.legs:
                if leg.side is Side.BUY and not is_final(leg.status):
                    total += leg.remaining
        return total

    def symbols(self) -> set[str]:
        return {o.symbol for o in self._open.values()}

    def order(self, order_id: str) -> Order:
        """An order or a leg by id.  Raises ``NotFound``."""
        top = self._orders.get(order_id)
        if top is not None:
            return top
        parent = self._parent_of.get(order_id)
        if parent is None:
            raise NotFound(f"no order {order_id!r}")
        return self._orders[parent].leg(order_id)

    def top_id(self, order_id: str) -> str | None:
        """The top-level order id of an order or a leg, if known."""
        return order_id if order_id in self._orders else self._parent_of.get(order_id)

    def top(self, order_id: str) -> Order:
        return self._orders[order_id]

    def locate(self, order_id: str) -> tuple[Order, Order | None]:
        """(group, leg) for a leg id, (order, None) for a top-level id."""
        top = self._orders.get(order_id)
        if top is not None:
            return top, None
        parent = self._orders[self._parent_of[order_id]]
        return parent, parent.leg(order_id)

    def by_client_id(self, client_order_id: str) -> Order | None:
        order_id = self._client_ids.get(client_order_id)
        return None if order_id is None else self._orders[order_id]

    @property
    def has_waiting(self) -> bool:
        return bool(self._waiting)

    def waiting(self, symbol: str) -> list[str]:
        """Market orders of ``symbol`` waiting for a fresh price, in placement order."""
        found = self._waiting.get(symbol)
        if not found:
            return []
        return sorted(found, key=lambda order_id: self._orders[order_id].seq_no)

    def deadlines(self) -> list[tuple[int, str]]:
        """(expiry, order id) of every waiting market order, soonest first."""
        return sorted(
            (expires, order_id)
            for found in self._waiting.values()
            for order_id, expires in found.items()
        )

    def exits_on(self, symbol: str) -> list[str]:
        """Open orders of ``symbol`` that hold exits of its holding, in placement order."""
        found = self._exits.get(symbol)
        if not found:
            return []
        return sorted(found, key=found.__getitem__)

    def may_fire(self, symbol: str, price: Decimal) -> bool:
        return self._index.may_fire(symbol, price)

    def fire(self, symbol: str, price: Decimal) -> list[tuple[int, str]]:
        """Take out of the index every level order a price at ``price`` reaches."""
        fired = self._index.fire(symbol, price)
        if self._undo is not None and fired:
            self._undo.append((None, None, tuple(order_id for _, order_id in fired)))
        return fired

    def trailing(self, symbol: str) -> list[tuple[int, str]]:
        return self._index.trailing(symbol)

    def reindex(self, order_id: str) -> None:
        """Put a live order (or leg) that ``fire`` took out back where it rests: a
        trade reached it and changed nothing."""
        self._reindex(order_id)

    def wants_liquidity(self, symbol: str) -> bool:
        return bool(self._liquidity.get(symbol))

    def wanting_liquidity(self, symbol: str) -> list[str]:
        """Orders and legs of ``symbol`` waiting for book liquidity, in placement order."""
        found = self._liquidity.get(symbol)
        if not found:
            return []
        return sorted(found, key=found.__getitem__)

    # -- the trigger index is derived from order state ---------------------------------
    def _index_order(self, order: Order) -> None:
        if order.legs:
            for leg in order.legs:
                self._index_one(leg)
        else:
            self._index_one(order)

    def _unindex(self, order: Order) -> None:
        self._index.discard(order.id)
        self._forget_liquidity(order.id)
        for leg in order.legs:
            self._index.discard(leg.id)
            self._forget_liquidity(leg.id)

    def _forget_liquidity(self, order_id: str) -> None:
        symbol = self._liquidity_symbol.pop(order_id, None)
        if symbol is not None:
            _keep(self._liquidity, symbol, order_id, 0, False)

    def _index_one(self, order: Order) -> None:
        if order.status not in LIVE or order.expires_at is not None:
            return
        kind = order.type
        buy = order.side is Side.BUY
        if kind is OrderType.MARKET or (
            order.triggered and (order.price is None or kind is OrderType.TRAILING_STOP)
        ):
            # executes at market: live after its step only while the book had too little
            _keep(self._liquidity, order.symbol, order.id, order.seq_no, True)
            self._liquidity_symbol[order.id] = order.symbol
            return
        if kind is OrderType.TRAILING_STOP:
            if not order.triggered:
                self._index.add_trailing(order.symbol, order.seq_no, order.id)
            return
        if kind in RESTING_LIMITS or (order.triggered and order.price is not None):
            assert order.price is not None
            direction = Direction.FALLING if buy else Direction.RISING
            self._index.add(order.symbol, direction, order.price, order.seq_no, order.id)
        elif kind in (OrderType.STOP_LOSS, OrderType.TAKE_PROFIT) and not order.triggered:
            assert order.stop_price is not None
            rising = buy if kind is OrderType.STOP_LOSS else not buy
            direction = Direction.RISING if rising else Direction.FALLING
            self._index.add(order.symbol, direction, order.stop_price, order.seq_no, order.id)


ALGO_TYPES = frozenset({OrderType.STOP_LOSS, OrderType.TAKE_PROFIT, OrderType.TRAILING_STOP})
"""Binance's "algo" orders (MAX_NUM_ALGO_ORDERS): STOP_LOSS(_LIMIT) and
TAKE_PROFIT(_LIMIT); a trailing stop is a STOP_LOSS with a trailing delta there."""


def exchange_orders(order: Order) -> tuple[int, int]:
    """How many orders an open order is on the exchange, and how many of them are algo
    orders: an OCO or bracket is each of its legs still live (an order list's pending
    orders count from its placement), any other order is one."""
    if not order.legs:
        return 1, 1 if order.type in ALGO_TYPES else 0
    orders = algo = 0
    for leg in order.legs:
        if not is_final(leg.status):
            orders += 1
            if leg.type in ALGO_TYPES:
                algo += 1
    return orders, algo


def _keep(index: dict[str, dict[str, int]], symbol: str, key: str, value: int, on: bool) -> None:
    if on:
        index.setdefault(symbol, {})[key] = value
        return
    found = index.get(symbol)
    if found is not None:
        found.pop(key, None)
        if not found:
            del index[symbol]


def _seq_no(order: Order) -> int:
    return order.seq_no
