"""From a request to a live order, or to the reason it is refused.

The checks run in the order a trader would want to hear about them: the symbol (listed,
trading), the request itself (fields, numbers), the account's kind (a spot account does
not short), the exchange's filters on every leg, the order's prices against the market,
then what it needs from the wallet.  Nothing here changes state: ``Account._place``
applies the result.

Holdings and exits: on a spot account every SELL is part of a holding the account owns
(it cannot sell more than it holds: ``WOULD_SHORT``), so a resting SELL locks the base
asset it will sell, as on Binance, and is an exit of that holding (``reduce_only``,
``position_id``).  In the margin-style mode a resting order on the other side of a
position, no larger than it, is that position's exit; anything larger opens the other
way.  A bracket's exit legs are always exits.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

import msgspec

from workspace.market.exchange_info import SymbolInfo
from workspace.trading import execution, exits, fills, rules
from workspace.trading.depth import DOWN, Depth
from workspace.trading.events import AccountEvent
from workspace.trading.groups import bracket_legs, finish, oco_legs
from workspace.trading.order_state import OrderStatus
from workspace.trading.order_store import exchange_orders
from workspace.trading.orders import LegRole, Order
from workspace.trading.positions import Position, PositionType
from workspace.trading.reasons import ReasonCode, Refusal, at_precision, plain
from workspace.trading.requests import (
    PRICE_LEVEL_FIELDS,
    RESTING_LIMITS,
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
)
from workspace.trading.rules import LegCheck
from workspace.trading.trailing import arm, trailing_bips
from workspace.trading.validation import SYMBOL_RE, check_request, raw

if TYPE_CHECKING:
    from workspace.trading.account import Account

ZERO = Decimal(0)
ONE = Decimal(1)
QUANTITY_QUANTUM = Decimal("1e-8")
S = OrderStatus
CLIENT_ID_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_replace = msgspec.structs.replace

_E = TypeVar("_E", Side, OrderType)
_GTC = TimeInForce.GTC.value
_TIME_IN_FORCE = frozenset(TimeInForce.__members__)  # (an enum's lookups cost on every order)
_PRICED_AGAINST_MARKET = frozenset(
    {
        OrderType.STOP_LOSS,
        OrderType.TAKE_PROFIT,
        OrderType.OCO,
        OrderType.BRACKET,
        OrderType.TRAILING_STOP,
    }
)


def _finite(value: object) -> Decimal | None:
    return value if isinstance(value, Decimal) and value.is_finite() else None


def _enum(kind: type[_E], value: object, fallback: _E) -> _E:
    if type(value) is kind:
        return value  # already one of them (the usual request)
    try:
        made: _E = kind(str(value).upper())  # (mypyc reads the call as Any)
        return made
    except ValueError:
        return fallback


def prepare(
    acct: Account,
    request: OrderRequest,
    ts_ms: int,
    *,
    seq_no: int,
    closing: Position | None,
) -> tuple[Order, Refusal | None]:
    """The order to apply (NEW, legs and reservation included) and ``None``, or the
    cleaned order and why it is refused.  ``closing``: the position a
    ``close_position`` closes."""
    given = raw(request, "symbol")
    symbol = given.upper() if isinstance(given, str) else given
    given_cid = raw(request, "client_order_id")
    cid = given_cid if isinstance(given_cid, str) else None
    # A rejected order is journaled and published too: it must never carry a NaN, an
    # infinity or a non-enum, so its fields are cleaned before it is built.
    base = Order(
        id=acct.ids.new_order(),
        symbol=str(symbol)[:40],
        side=_enum(Side, request.side, Side.BUY),
        type=_enum(OrderType, request.type, OrderType.MARKET),
        quantity=_finite(request.quantity) or ZERO,
        status=S.NEW,
        created_at=ts_ms,
        updated_at=ts_ms,
        seq_no=seq_no,
        price=_finite(request.price),
        stop_price=_finite(request.stop_price),
        take_profit=_finite(request.take_profit),
        stop_loss=_finite(request.stop_loss),
        trail_percent=_finite(request.trail_percent),
        trail_amount=_finite(request.trail_amount),
        trailing_delta=_finite(request.trailing_delta),
        activation_price=_finite(request.activation_price),
        position_id=closing.id if closing is not None else None,
        client_order_id=cid if cid is not None and CLIENT_ID_RE.match(cid) else None,
        reduce_only=closing is not None,
        time_in_force=_time_in_force(raw(request, "time_in_force")),
        quote_quantity=_finite(raw(request, "quote_quantity")),
    )
    looked_up = _symbol(acct, symbol)
    if isinstance(looked_up, Refusal):
        return base, looked_up
    info = looked_up
    refusal = _request(request, given_cid) or _account_kind(acct, base)
    if refusal is not None:
        return base, refusal
    if base.quote_quantity is not None:
        sized = _sized_by_quote(acct, base, info, ts_ms)
        if isinstance(sized, Refusal):
            return base, sized
        base = sized
    order = _with_legs(acct, base, ts_ms)
    reference = market_reference(acct, order.symbol, ts_ms)
    if info is not None:
        refusal = (
            _filters(acct, info, order, reference, closing)
            or _open_orders(acct, info, order)
            or _max_position(acct, info, order)
        )
    refusal = refusal or _against_market(acct, order, reference, info)
    refusal = refusal or _would_take(acct, order, ts_ms, info)
    if refusal is not None:
        return base, refusal
    order = _holding(acct, order, closing)
    order, refusal = _funds(acct, order, ts_ms, closing)
    if refusal is None:
        if reference is None and info is not None:
            order = _replace(order, unjudged=True)  # judged at the symbol's first price
        return _queued(acct, order, ts_ms), None
    return _unstarted(order), refusal


def _unstarted(order: Order) -> Order:
    """A refused order as nothing started: a REJECTED trailing stop showed a stop it
    had armed, and a REJECTED group legs that were NEW.  The legs keep their ids (they
    were issued, and a rebuild counts them from this event)."""
    if order.legs:
        return _replace(order, legs=tuple(_replace(leg, status=S.REJECTED) for leg in order.legs))
    if order.activated:
        return _replace(order, activated=False, peak_price=None, current_stop_price=None)
    return order


def _time_in_force(value: object) -> str:
    """The request's time in force by name (checked in ``validation``); GTC when absent
    or unreadable (a rejected order must still carry a valid one)."""
    name = str(value).upper() if isinstance(value, str) else _GTC
    return name if name in _TIME_IN_FORCE else _GTC


def _queued(acct: Account, order: Order, ts_ms: int) -> Order:
    """A limit that will rest, placed with a fresh book: it joins the queue at its
    price, behind what the book shows there now (the book fill model's queue)."""
    depth = acct.depth_for(order.symbol, ts_ms)
    if depth is None:
        return order
    if order.type in RESTING_LIMITS:
        assert order.price is not None
        return _replace(order, queue_ahead=depth.level(order.side, order.price))
    if order.legs:
        legs = tuple(
            _replace(leg, queue_ahead=depth.level(leg.side, leg.price))
            if leg.type is OrderType.LIMIT and leg.status is S.NEW and leg.price is not None
            else leg
            for leg in order.legs
        )
        return _replace(order, legs=legs)
    return order


# -- a MARKET order by its quote amount ------------------------------------------------------
def _sized_by_quote(
    acct: Account, order: Order, info: SymbolInfo | None, ts_ms: int
) -> Order | Refusal:
    """``order`` with the quantity its ``quote_quantity`` buys (or sells) now: the
    most of the base asset on the lot step whose value stays within it, walking the
    book when there is a fresh one, else at the top-of-book price (Binance: "will not
    break LOT_SIZE filter rules ... as close as possible to quoteOrderQty")."""
    budget = order.quote_quantity
    assert budget is not None
    symbol, side = order.symbol, order.side
    depth = acct.depth_for(symbol, ts_ms)
    price = execution.market_price(acct, symbol, side, ts_ms) if depth is None else None
    if depth is not None:
        exact = depth.walk_quote(side, budget)
    elif price is not None:
        exact = DOWN.divide(budget, price)
    else:
        return Refusal(
            ReasonCode.NO_MARKET_DATA,
            f"An order by its quote quantity is sized against the market at once: no "
            f"fresh {symbol} price or book now (subscribe to {symbol} first)",
        )
    if not exact:
        other = "asks" if side is Side.BUY else "bids"
        return Refusal(
            ReasonCode.NO_MARKET_DATA,
            f"An order by its quote quantity is sized against the book at once: the "
            f"{symbol} book shows no {other} this account can take now",
        )
    step = _quote_sized_step(info)
    quantity = rules.floor_to(exact, step)
    if quantity <= 0:
        quote, base = acct.quote_asset, acct.base_of(symbol)
        what = "buys" if side is Side.BUY else "sells for"
        return Refusal(
            ReasonCode.LOT_SIZE,
            f"{plain(budget)} {quote} {what} less than one lot step ({plain(step)} {base}) "
            f"at the market now",
        )
    return _replace(order, quantity=quantity)


def _quote_sized_step(info: SymbolInfo | None) -> Decimal:
    """The lot step a sized market order keeps to: the coarser of the symbol's lot and
    market lot steps (1e-8, Binance's finest, without a listing)."""
    steps = [s for s in (info.step_size, info.market_step_size) if s] if info else []
    return max(steps) if steps else QUANTITY_QUANTUM


# -- the symbol and the request ----------------------------------------------------------
def _symbol(acct: Account, symbol: object) -> SymbolInfo | Refusal | None:
    if not isinstance(symbol, str) or not SYMBOL_RE.match(symbol):
        return Refusal(
            ReasonCode.UNKNOWN_SYMBOL,
            f"unknown symbol {str(symbol)[:40]!r}: expected letters and digits like 'BTCUSDT'",
        )
    return acct.rules.lookup(symbol)


def _request(request: OrderRequest, given_cid: object) -> Refusal | None:
    """``given_cid``: the request's client order id as the caller set it."""
    reason = check_request(request)
    if reason is not None:
        return Refusal(ReasonCode.INVALID_PARAMS, reason)
    if given_cid is not None and not (isinstance(given_cid, str) and CLIENT_ID_RE.match(given_cid)):
        return Refusal(
            ReasonCode.INVALID_PARAMS,
            "Client order id must be 1 to 36 of the characters A-Z a-z 0-9 . : / _ -",
        )
    return None


def _account_kind(acct: Account, order: Order) -> Refusal | None:
    if acct.config.allow_short:
        return None
    if order.type is OrderType.BRACKET and order.side is Side.SELL:
        return Refusal(
            ReasonCode.WOULD_SHORT,
            "A SELL bracket opens a short to protect with its exits; a spot account "
            "cannot short (use allow_short=True for a margin-style account)",
        )
    return None


def _with_legs(acct: Account, order: Order, ts_ms: int) -> Order:
    kind = order.type
    if kind is OrderType.TRAILING_STOP:
        # it starts following the market from a fresh price (now, or the next one)
        quote = acct.quote_for(order.symbol)
        fresh = quote.fresh_last(ts_ms, acct.max_age_ms) if quote is not None else None
        return arm(order, fresh, ts_ms)
    if kind is OrderType.OCO:
        return _replace(order, legs=oco_legs(order, acct.ids.new_order))
    if kind is OrderType.BRACKET:
        return _replace(order, legs=bracket_legs(order, acct.ids.new_order))
    return order


# -- the exchange's filters ---------------------------------------------------------------
def _filters(
    acct: Account,
    info: SymbolInfo,
    order: Order,
    reference: Decimal | None,
    closing: Position | None,
) -> Refusal | None:
    if closing is not None and order.quantity == closing.quantity:
        # closing the whole holding: sell exactly what is held, even below the lot or
        # notional minimum (Binance would leave it as dust; a paper account lets it go)
        return None
    for leg in leg_checks(order, reference):
        refusal = rules.check(info, leg, reference)
        if refusal is not None:
            return refusal
    return None


def _open_orders(acct: Account, info: SymbolInfo, order: Order) -> Refusal | None:
    """MAX_NUM_ORDER_LISTS, MAX_NUM_ORDERS and MAX_NUM_ALGO_ORDERS: the symbol's open
    order lists (an OCO or bracket is one) and open orders, this one's included,
    within the exchange's most (for the orders, an OCO or bracket counts each leg)."""
    most, most_algo = info.max_num_orders, info.max_num_algo_orders
    most_lists = info.max_num_order_lists
    if most_lists is not None and order.legs:
        lists = acct.store.open_lists(order.symbol)
        if lists + 1 > most_lists:
            return Refusal(
                ReasonCode.MAX_NUM_ORDER_LISTS,
                f"{order.symbol} has {lists} open order lists (OCO, bracket) and this "
                f"{order.type} is one more: the exchange allows at most {most_lists} on "
                "one symbol",
            )
    if most is None and most_algo is None:
        return None
    have, have_algo = acct.store.open_count(order.symbol)
    adds, adds_algo = exchange_orders(order)
    if most is not None and have + adds > most:
        return Refusal(
            ReasonCode.MAX_NUM_ORDERS,
            f"{order.symbol} has {have} open orders and this {order.type} adds {adds}: the "
            f"exchange allows at most {most} open orders on one symbol",
        )
    if most_algo is not None and adds_algo and have_algo + adds_algo > most_algo:
        return Refusal(
            ReasonCode.MAX_NUM_ALGO_ORDERS,
            f"{order.symbol} has {have_algo} open stop orders (stop-loss, take-profit, "
            f"trailing stop) and this {order.type} adds {adds_algo}: the exchange allows "
            f"at most {most_algo} on one symbol",
        )
    return None


def _max_position(acct: Account, info: SymbolInfo, order: Order) -> Refusal | None:
    """MAX_POSITION (a spot account): the base asset held (free and locked), what the
    open buys of the symbol may still add and this order's buys, within the
    exchange's most.  Each buy of an order list counts, as each is an order on the
    exchange."""
    most = info.max_position
    if most is None or acct.config.allow_short:
        return None
    legs = order.legs or (order,)
    buying = sum((leg.quantity for leg in legs if leg.side is Side.BUY), ZERO)
    if not buying:
        return None
    base = info.base_asset
    held = acct.wallet.total(base)
    open_buys = acct.store.open_buys(order.symbol)
    if held + open_buys + buying <= most:
        return None
    return Refusal(
        ReasonCode.MAX_POSITION,
        f"Buying {plain(buying)} {base} would take the position to "
        f"{plain(held + open_buys + buying)} {base} ({plain(held)} held, "
        f"{plain(open_buys)} in open buys): the exchange allows at most {plain(most)} "
        f"{base} on {order.symbol}",
    )


def leg_checks(order: Order, reference: Decimal | None) -> list[LegCheck]:
    """What the filters must see: the order itself, or each leg of a group."""
    if order.legs:
        return [_leg_check(leg, reference, order) for leg in order.legs]
    return [_leg_check(order, reference, None)]


def _leg_check(order: Order, reference: Decimal | None, group: Order | None) -> LegCheck:
    kind = order.type
    if group is None:
        prices = tuple(
            (name, value)
            for name in PRICE_LEVEL_FIELDS
            if (value := getattr(order, name)) is not None
        )
    else:  # a leg carries its group's prices under the leg's own field names
        prices = _leg_prices(order, group)
    if kind is OrderType.MARKET:
        return LegCheck(
            order.side, order.quantity, prices, None, reference, at_market=True, market_order=True
        )
    if kind in RESTING_LIMITS:
        return LegCheck(order.side, order.quantity, prices, order.price, order.price, False, False)
    if kind is OrderType.TRAILING_STOP:
        at = order.activation_price or order.stop_loss or reference
        bips = trailing_bips(order, at)
        amount = order.trail_amount  # (one trail field: when set, the BIPS are its share)
        return LegCheck(order.side, order.quantity, prices, None, at, True, False, bips, amount)
    # STOP_LOSS / TAKE_PROFIT: stop-market, or stop-limit with a price
    limit = order.price
    at = limit if limit is not None else order.stop_price
    return LegCheck(order.side, order.quantity, prices, limit, at, limit is None, False)


def _leg_prices(leg: Order, group: Order) -> tuple[tuple[str, Decimal], ...]:
    """A leg's price levels, named as the ticket names the group's fields (a bracket's
    stop leg carries the group's ``stop_loss`` as its own ``stop_price``)."""
    role = leg.role
    found: list[tuple[str, Decimal]] = []
    if role is LegRole.ENTRY and leg.price is not None:
        found.append(("price", leg.price))
    elif role is LegRole.TAKE_PROFIT and leg.price is not None:
        found.append(("take_profit", leg.price))
    elif role is LegRole.STOP_LOSS:
        bracket = group.type is OrderType.BRACKET
        if leg.stop_price is not None:
            found.append(("stop_loss" if bracket else "stop_price", leg.stop_price))
        elif leg.stop_loss is not None:
            found.append(("stop_loss", leg.stop_loss))
        if leg.activation_price is not None:
            found.append(("activation_price", leg.activation_price))
    return tuple(found)


# -- prices against the market --------------------------------------------------------------
def _would_take(acct: Account, order: Order, ts_ms: int, info: SymbolInfo | None) -> Refusal | None:
    """A LIMIT_MAKER (post-only) that would take liquidity at once is refused, as
    Binance refuses it ("Order would immediately match and take"): it may only rest.
    It would take when the fresh book has liquidity up to its price, or, without one,
    when the top-of-book price reaches it (as a LIMIT would then fill)."""
    if order.type is not OrderType.LIMIT_MAKER:
        return None
    limit = order.price
    assert limit is not None
    buy = order.side is Side.BUY
    depth = acct.depth_for(order.symbol, ts_ms)
    if depth is not None:
        reached = depth.walk(order.side, order.quantity, limit)
        best = reached[0][0] if reached else None
    else:
        best = execution.market_price(acct, order.symbol, order.side, ts_ms)
        if best is not None and (best > limit if buy else best < limit):
            best = None
    if best is None:
        return None
    decimals = info.price_precision if info is not None else None
    quote = acct.quote_asset
    return Refusal(
        ReasonCode.WOULD_TAKE,
        f"A LIMIT_MAKER {order.side.value} at {at_precision(limit, decimals)} {quote} would "
        f"take liquidity at once (the best {'ask' if buy else 'bid'} is "
        f"{at_precision(best, decimals)} {quote}): it may only rest and fill as a maker",
    )


def _against_market(
    acct: Account, order: Order, reference: Decimal | None, info: SymbolInfo | None
) -> Refusal | None:
    """Stops on the right side of the market, OCO / bracket prices in the right order."""
    kind = order.type
    if kind not in _PRICED_AGAINST_MARKET:
        return None  # (MARKET, LIMIT: nothing to check here)
    buy = order.side is Side.BUY
    side = order.side.value

    def price(value: Decimal) -> str:
        decimals = info.price_precision if info is not None else None
        return f"{at_precision(value, decimals)} {acct.quote_asset}"

    if kind in (OrderType.STOP_LOSS, OrderType.TAKE_PROFIT) and reference is not None:
        assert order.stop_price is not None
        above = (kind is OrderType.STOP_LOSS) == buy
        name = "stop-loss" if kind is OrderType.STOP_LOSS else "take-profit"
        if above and order.stop_price <= reference:
            return Refusal(
                ReasonCode.INVALID_PARAMS,
                f"Stop price {price(order.stop_price)} must be above the market "
                f"({price(reference)}) for a {side} {name}: it would trigger at once",
            )
        if not above and order.stop_price >= reference:
            return Refusal(
                ReasonCode.INVALID_PARAMS,
                f"Stop price {price(order.stop_price)} must be below the market "
                f"({price(reference)}) for a {side} {name}: it would trigger at once",
            )
    if kind is OrderType.TRAILING_STOP and not buy and order.trail_amount is not None:
        at = order.activation_price or reference
        if at is not None and order.trail_amount >= at:
            return Refusal(
                ReasonCode.INVALID_PARAMS,
                f"Trail amount {price(order.trail_amount)} must be below the price the "
                f"{side} trails from ({price(at)}): its stop would start at or below 0",
            )
    if kind is OrderType.OCO:
        tp, stop = order.take_profit, order.stop_price
        assert tp is not None
        assert stop is not None
        if not buy and not tp > stop:
            return Refusal(
                ReasonCode.INVALID_PARAMS,
                f"An OCO SELL needs its take-profit price ({price(tp)}) above its stop "
                f"price ({price(stop)})",
            )
        if buy and not tp < stop:
            return Refusal(
                ReasonCode.INVALID_PARAMS,
                f"An OCO BUY needs its take-profit price ({price(tp)}) below its stop "
                f"price ({price(stop)})",
            )
        if reference is not None and not (min(tp, stop) < reference < max(tp, stop)):
            return Refusal(
                ReasonCode.INVALID_PARAMS,
                f"An OCO {side} needs the market ({price(reference)}) between its "
                f"take-profit price ({price(tp)}) and its stop price ({price(stop)})",
            )
    if kind is OrderType.BRACKET:
        tp, sl = order.take_profit, order.stop_loss
        assert tp is not None
        assert sl is not None
        entry = order.price if order.price is not None else reference
        if not buy and not tp < sl:
            return Refusal(
                ReasonCode.INVALID_PARAMS,
                f"A BRACKET SELL needs its take-profit price ({price(tp)}) below its "
                f"stop-loss price ({price(sl)})",
            )
        if buy and not tp > sl:
            return Refusal(
                ReasonCode.INVALID_PARAMS,
                f"A BRACKET BUY needs its take-profit price ({price(tp)}) above its "
                f"stop-loss price ({price(sl)})",
            )
        if entry is not None and not (min(tp, sl) < entry < max(tp, sl)):
            return Refusal(
                ReasonCode.INVALID_PARAMS,
                f"A BRACKET {side} needs its entry ({price(entry)}) between its stop-loss "
                f"price ({price(sl)}) and its take-profit price ({price(tp)})",
            )
    return None


# -- holdings and exits ----------------------------------------------------------------------
def _holding(acct: Account, order: Order, closing: Position | None) -> Order:
    """Mark the order as an exit of the holding it sells (see the module's docstring)."""
    if closing is not None or order.type is OrderType.BRACKET:
        return order
    position = acct.position_on(order.symbol)
    if not acct.config.allow_short:
        if order.side is Side.SELL:
            return _exit_of(order, position)
        return order
    if position is None or order.type is OrderType.MARKET:
        return order
    reduces = (position.type is PositionType.BUY) == (order.side is Side.SELL)
    if reduces and order.quantity <= position.quantity:
        return _exit_of(order, position)
    return order


def _exit_of(order: Order, position: Position | None) -> Order:
    position_id = position.id if position is not None else None
    if not order.legs:
        return _replace(order, reduce_only=True, position_id=position_id)
    legs = tuple(_replace(leg, reduce_only=True, position_id=position_id) for leg in order.legs)
    return _replace(order, reduce_only=True, position_id=position_id, legs=legs)


# -- what it needs from the wallet ----------------------------------------------------------
def _funds(
    acct: Account, order: Order, ts_ms: int, closing: Position | None
) -> tuple[Order, Refusal | None]:
    config = acct.config
    market_entry = order.type is OrderType.MARKET or (
        order.type is OrderType.BRACKET and order.price is None
    )
    now_price: Decimal | None = None
    depth = acct.depth_for(order.symbol, ts_ms) if market_entry else None
    if market_entry:
        now_price = execution.market_price(acct, order.symbol, order.side, ts_ms)
        if now_price is None and depth is None:
            immediate = order.time_in_force != TimeInForce.GTC
            if config.market_wait_ms == 0 or closing is not None or immediate:
                return order, Refusal(ReasonCode.NO_MARKET_DATA, _no_data(acct, order, ts_ms))
            expires = ts_ms + config.market_wait_ms
            order = _replace(order, expires_at=expires)
            if order.legs:
                entry = order.leg_by_role(LegRole.ENTRY)
                assert entry is not None
                order = order.with_leg(_replace(entry, expires_at=expires))
    executes_now = market_entry and (now_price is not None or depth is not None)
    if not config.allow_short and order.side is Side.SELL:
        refusal = _sell_holding(acct, order, closing)
        if refusal is not None:
            return order, refusal
        if executes_now and depth is None:
            return order, None  # it fills now, whole: nothing to hold back
        # it rests, or walks a book that may not fill it all at once
        base = acct.base_of(order.symbol)
        return _replace(order, reserved=order.quantity, reserved_asset=base), None
    fee = config.taker_fee
    if executes_now and depth is not None:
        # the book fill model: what walking the book would cost, the part beyond its
        # visible depth valued at its last level (Binance refuses a market order the
        # wallet cannot pay in full)
        return _market_reservation(acct, order, depth, fee, now_price)
    if executes_now:
        assert now_price is not None
        notional = order.quantity * now_price
        refusal = fills.fill_refusal(acct, order, order.quantity, notional, fee, None)
        return order, refusal
    opening = _opening(acct, order)
    if opening <= 0:
        return order, None  # it only reduces a position: nothing to hold back
    ref = _reservation_price(acct, order)
    if ref is None:
        return order, None  # no price at all yet: judged when it fills
    fee = max(config.maker_fee, config.taker_fee)
    quote = acct.quote_asset
    amount = opening * ref * (ONE + fee)
    free = acct.wallet.free(quote)
    if amount > free:
        return order, Refusal(
            ReasonCode.INSUFFICIENT_BALANCE,
            f"Insufficient balance: this order needs {plain(amount)} {quote} (fees "
            f"included) and {plain(free)} {quote} is free",
        )
    return _replace(order, reserved=amount, reserved_asset=quote), None


def _market_reservation(
    acct: Account, order: Order, depth: Depth, fee: Decimal, top: Decimal | None
) -> tuple[Order, Refusal | None]:
    """A market order (or market bracket entry) about to walk the book: check the
    wallet for the whole of it and hold back what it may cost (the quote of a buy)."""
    opening = _opening(acct, order)
    if opening <= 0:
        return order, None
    slices, got, notional = depth.walk_totals(order.side, opening, None)
    last = slices[-1][0] if slices else top if top is not None else _reference(acct, order)
    if got < opening:
        if last is None:
            return order, None  # nothing to value it at: judged when it fills
        notional += (opening - got) * last
    if not acct.config.allow_short or order.side is Side.BUY:
        refusal = fills.fill_refusal(acct, order, opening, notional, fee, None)
        if refusal is not None:
            return order, refusal
    if order.side is Side.SELL:
        return order, None  # margin-style: the collateral is judged at each fill
    amount = notional * (ONE + fee)
    return _replace(order, reserved=amount, reserved_asset=acct.quote_asset), None


def _reference(acct: Account, order: Order) -> Decimal | None:
    quote = acct.quote_for(order.symbol)
    return quote.reference() if quote is not None else None


def market_reference(acct: Account, symbol: str, ts_ms: int) -> Decimal | None:
    """The price "the market" is judged at (PERCENT_PRICE, a market order's notional):
    the last price, else the middle of the book ticker's bid and ask, else of a fresh
    order book's best bid and ask (a symbol whose first data was its book: a market
    order placed then was not judged against MIN_NOTIONAL at all)."""
    quote = acct.quote_for(symbol)
    reference = quote.reference() if quote is not None else None
    if reference is not None:
        return reference
    depth = acct.depth_for(symbol, ts_ms)
    if depth is None:
        return None
    bid, ask = depth.book.best_bid(), depth.book.best_ask()
    if bid is None or ask is None:
        return None
    return (bid[0] + ask[0]) / 2


def judge_at_first_price(
    acct: Account, symbol: str, ts_ms: int, events: list[AccountEvent]
) -> bool:
    """Once ``symbol`` has its first price, judge the open orders it had, accepted
    without being judged against the market (PERCENT_PRICE, a market order's
    MIN_NOTIONAL, a stop's side of the market, a post-only that would take), as Binance
    judges every order.  One it would have refused ends EXPIRED with the code it would
    have given, "... (at its first price)".  False while there is no price yet."""
    reference = market_reference(acct, symbol, ts_ms)
    if reference is None:
        return False
    info = acct.rules.lookup(symbol)
    if not isinstance(info, SymbolInfo):
        return True  # no rules to judge by: nothing more to wait for
    for order in acct.store.open_on(symbol):
        if order.filled_quantity or order.triggered:
            continue  # (it acted on a price already)
        refusal = (
            _filters(acct, info, order, reference, None)
            or _against_market(acct, order, reference, info)
            or _would_take(acct, order, ts_ms, info)
        )
        if refusal is not None:
            reason = f"{refusal.reason} (at its first price)"
            acct.emit_order(
                finish(order, S.EXPIRED, ts_ms, reason, refusal.code.value), ts_ms, events
            )
    return True


def _no_data(acct: Account, order: Order, ts_ms: int) -> str:
    quote = acct.quote_for(order.symbol)
    if quote is None or quote.last is None:
        return f"no {order.symbol} price has arrived yet: a market order needs a fresh one"
    if quote.last_ms is None:
        return (
            f"the last {order.symbol} price is from before the restart: a market order "
            "needs a fresh one"
        )
    age = (ts_ms - quote.last_ms) / 1000
    return (
        f"the last {order.symbol} price is {age:.1f} s old (the limit is "
        f"{acct.max_age_ms / 1000:g} s): a market order needs a fresh one"
    )


def _sell_holding(acct: Account, order: Order, closing: Position | None) -> Refusal | None:
    base = acct.base_of(order.symbol)
    wallet = acct.wallet
    held = wallet.total(base)
    quantity = order.quantity
    if quantity > held:
        return Refusal(
            ReasonCode.WOULD_SHORT,
            f"Selling {plain(quantity)} {base} needs {plain(quantity)} {base} but the account "
            f"holds {plain(held)} {base}: a spot account cannot sell what it does not hold",
        )
    if closing is not None:
        return None  # the close frees what its holding's exits hold back
    free = wallet.free(base)
    if quantity > free:
        holders = ", ".join(
            o.id for o in acct.store.open_on(order.symbol) if exits.base_held(o, base)
        )
        return Refusal(
            ReasonCode.INSUFFICIENT_BALANCE,
            f"Selling {plain(quantity)} {base} needs {plain(quantity)} {base} free; "
            f"{plain(free)} {base} is free, {plain(held - free)} {base} is locked by open "
            f"orders ({holders}): cancel them, or close the position",
        )
    return None


def _opening(acct: Account, order: Order) -> Decimal:
    """How much of the order would open or grow exposure (the rest reduces)."""
    if not acct.config.allow_short:
        return order.quantity if order.side is Side.BUY else ZERO
    if order.reduce_only:
        return ZERO
    position = acct.position_on(order.symbol)
    if position is None or (position.type is PositionType.BUY) == (order.side is Side.BUY):
        return order.quantity
    return max(ZERO, order.quantity - position.quantity)


def _reservation_price(acct: Account, order: Order) -> Decimal | None:
    kind = order.type
    quote = acct.quote_for(order.symbol)
    reference = quote.reference() if quote is not None else None
    if kind in RESTING_LIMITS:
        return order.price
    if kind in (OrderType.STOP_LOSS, OrderType.TAKE_PROFIT):
        return order.price if order.price is not None else order.stop_price
    if kind is OrderType.OCO:
        assert order.take_profit is not None
        assert order.stop_price is not None
        return max(order.take_profit, order.stop_price)
    if kind is OrderType.BRACKET:
        return order.price if order.price is not None else reference
    if kind is OrderType.TRAILING_STOP:
        return order.current_stop_price or order.activation_price or reference
    return reference  # a MARKET order waiting for a fresh price
