"""The exchange's trading rules for a symbol (``exchangeInfo`` filters), enforced at
placement on every order and every leg, and the rounding helpers that make an order
pass them.

Binance's definitions (filters.md of binance-spot-api-docs), with the account's reading:

- PRICE_FILTER: every price level (limit, stop, take-profit, stop-loss, activation)
  ``>= minPrice``, ``<= maxPrice``, and ``price % tickSize == 0``.
- LOT_SIZE: the quantity ``>= minQty``, ``<= maxQty``, ``quantity % stepSize == 0``;
  MARKET_LOT_SIZE adds its own bounds for MARKET orders.
- NOTIONAL (or the legacy MIN_NOTIONAL): ``price x quantity`` within
  ``[minNotional, maxNotional]``; for orders that execute at market (MARKET, stop-market,
  trailing stops) only when ``applyMinToMarket`` / ``applyMaxToMarket`` say so, at the
  stop price or, for a MARKET order, at the current market price (Binance uses its
  average price over ``avgPriceMins``; the account uses the last price it knows).
- PERCENT_PRICE_BY_SIDE: a limit price within ``[avg x down, avg x up]`` of the market,
  with separate bounds for BUY (bid) and SELL (ask); checked when a market price is
  known.
- TRAILING_DELTA: a trailing stop's delta in BIPS (``trailing_delta``,
  ``trail_percent`` x 100, or ``trail_amount`` as a share of the price it trails from)
  within the symbol's range: "below" bounds for a SELL (a stop-loss sell), "above"
  bounds for a BUY.
- MAX_NUM_ORDERS / MAX_NUM_ALGO_ORDERS / MAX_NUM_ORDER_LISTS: the symbol's open
  orders (stop orders, order lists) within the exchange's most, counted by the order
  store (``placement._open_orders``).
- MAX_POSITION: the base asset held plus what open buys may add, for a buy
  (``placement._max_position``).
- status: only ``TRADING`` symbols take orders.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from workspace.market.exchange_info import SymbolInfo, decimals_of
from workspace.trading.reasons import ReasonCode, Refusal, at_precision, plain
from workspace.trading.requests import FIELD_LABELS, Side

HUNDRED = Decimal(100)
CENT = Decimal("0.01")
STABLE_QUOTES = frozenset({"USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI"})
"""Quote assets for which an inferred rule set uses Binance's 5-unit minimum notional."""
INFERRED_MIN_NOTIONAL = Decimal(5)
MAX_INFERRED_DECIMALS = 8


def split_symbol(symbol: str, quote: str) -> str:
    """The base asset of ``symbol`` on an account quoted in ``quote`` (BTCUSDT -> BTC).
    Binance's names are base + quote, and the account only trades its own quote, so
    this needs no listing (a journal rebuilds the wallet before any listing is known)."""
    return symbol[: -len(quote)] if symbol.endswith(quote) and symbol != quote else symbol


@dataclass(slots=True)
class LegCheck:
    """What the filters look at in one order (or one leg of a group).  Made for every
    order placed and read only (not frozen: a frozen dataclass sets each field through
    ``object.__setattr__``, four times the cost of building it)."""

    side: Side
    quantity: Decimal
    prices: tuple[tuple[str, Decimal], ...]  # (field, value): every price level it carries
    limit: Decimal | None  # the price it rests at (PERCENT_PRICE, notional)
    notional_price: Decimal | None  # the price its value is judged at
    at_market: bool  # executes at market when it fires (MARKET, stop-market, trailing)
    market_order: bool  # a MARKET order (MARKET_LOT_SIZE applies)
    trailing_bips: Decimal | None = None
    trail_amount: Decimal | None = None  # the trail, when it is an amount (for the words)


def check(info: SymbolInfo, leg: LegCheck, reference: Decimal | None) -> Refusal | None:
    """The first filter ``leg`` fails on ``info``, as a refusal; ``None`` if it passes."""
    # (a filter with nothing to look at is not called: a MARKET order carries no price
    # level, no limit and no trailing delta, and every order passes through here)
    refusal = _price_filter(info, leg) if leg.prices else None
    refusal = refusal or _lot_size(info, leg) or _notional(info, leg)
    if refusal is None and leg.limit is not None and reference is not None:
        refusal = _percent_price(info, leg, reference)
    if refusal is None and leg.trailing_bips is not None:
        refusal = _trailing_delta(info, leg)
    return refusal


def _quote_text(info: SymbolInfo, value: Decimal) -> str:
    return f"{at_precision(value, info.price_precision)} {info.quote_asset}"


def _base_text(info: SymbolInfo, value: Decimal) -> str:
    return f"{plain(value)} {info.base_asset}"


def _price_filter(info: SymbolInfo, leg: LegCheck) -> Refusal | None:
    for field, value in leg.prices:
        label = FIELD_LABELS[field]
        if info.min_price is not None and value < info.min_price:
            return Refusal(
                ReasonCode.PRICE_FILTER,
                f"{label} {_quote_text(info, value)} is below the minimum price "
                f"{_quote_text(info, info.min_price)}",
            )
        if info.max_price is not None and value > info.max_price:
            return Refusal(
                ReasonCode.PRICE_FILTER,
                f"{label} {_quote_text(info, value)} is above the maximum price "
                f"{_quote_text(info, info.max_price)}",
            )
        tick = info.tick_size
        if tick is not None and value % tick != 0:
            return Refusal(
                ReasonCode.PRICE_FILTER,
                f"{label} {_quote_text(info, value)} is not a multiple of the tick size "
                f"{plain(tick)} {info.quote_asset} (nearest: "
                f"{_quote_text(info, round_price(info, value))})",
            )
    return None


def _lot_size(info: SymbolInfo, leg: LegCheck) -> Refusal | None:
    refusal = _lot(info, leg.quantity, info.min_qty, info.max_qty, info.step_size, "")
    if refusal is None and leg.market_order:
        refusal = _lot(
            info,
            leg.quantity,
            info.market_min_qty,
            info.market_max_qty,
            info.market_step_size,
            " for market orders",
        )
    return refusal


def _lot(
    info: SymbolInfo,
    quantity: Decimal,
    low: Decimal | None,
    high: Decimal | None,
    step: Decimal | None,
    scope: str,
) -> Refusal | None:
    # the words are written only for a refusal: every order passes through here
    if low is not None and quantity < low:
        return Refusal(
            ReasonCode.LOT_SIZE,
            f"Quantity {_base_text(info, quantity)} is below the minimum "
            f"{_base_text(info, low)}{scope}",
        )
    if high is not None and quantity > high:
        return Refusal(
            ReasonCode.LOT_SIZE,
            f"Quantity {_base_text(info, quantity)} is above the maximum "
            f"{_base_text(info, high)}{scope}",
        )
    if step is not None and quantity % step != 0:
        nearest = _floor(quantity, step)
        hint = f" (nearest below: {_base_text(info, nearest)})" if nearest > 0 else ""
        return Refusal(
            ReasonCode.LOT_SIZE,
            f"Quantity {_base_text(info, quantity)} is not a multiple of the step "
            f"{_base_text(info, step)}{scope}{hint}",
        )
    return None


def _notional(info: SymbolInfo, leg: LegCheck) -> Refusal | None:
    price = leg.notional_price
    if price is None:
        return None
    value = price * leg.quantity

    def detail() -> str:
        return f"({_base_text(info, leg.quantity)} x {_quote_text(info, price)})"

    low = info.min_notional
    if low is not None and (not leg.at_market or info.apply_min_to_market) and value < low:
        return Refusal(
            ReasonCode.MIN_NOTIONAL,
            f"Order value {plain(value)} {info.quote_asset} {detail()} is below the minimum "
            f"{plain(low)} {info.quote_asset}",
        )
    high = info.max_notional
    if high is not None and (not leg.at_market or info.apply_max_to_market) and value > high:
        return Refusal(
            ReasonCode.MAX_NOTIONAL,
            f"Order value {plain(value)} {info.quote_asset} {detail()} is above the maximum "
            f"{plain(high)} {info.quote_asset}",
        )
    return None


def _percent_price(info: SymbolInfo, leg: LegCheck, reference: Decimal | None) -> Refusal | None:
    if leg.limit is None or reference is None:
        return None
    buy = leg.side is Side.BUY
    up = info.bid_multiplier_up if buy else info.ask_multiplier_up
    down = info.bid_multiplier_down if buy else info.ask_multiplier_down
    if up is not None and leg.limit > reference * up:
        market = _quote_text(info, reference)
        return Refusal(
            ReasonCode.PERCENT_PRICE,
            f"Limit price {_quote_text(info, leg.limit)} is too far above the market "
            f"({market}): a {leg.side.value} may be at most {plain(up)} x the market, "
            f"{_quote_text(info, reference * up)}",
        )
    if down is not None and leg.limit < reference * down:
        market = _quote_text(info, reference)
        return Refusal(
            ReasonCode.PERCENT_PRICE,
            f"Limit price {_quote_text(info, leg.limit)} is too far below the market "
            f"({market}): a {leg.side.value} must be at least {plain(down)} x the market, "
            f"{_quote_text(info, reference * down)}",
        )
    return None


def _trailing_delta(info: SymbolInfo, leg: LegCheck) -> Refusal | None:
    bips = leg.trailing_bips
    if bips is None:
        return None
    sell = leg.side is Side.SELL
    low = info.min_trailing_below_delta if sell else info.min_trailing_above_delta
    high = info.max_trailing_below_delta if sell else info.max_trailing_above_delta
    amount = leg.trail_amount
    if amount is None:
        text = f"Trailing delta {plain(bips)} BIPS ({plain(bips / HUNDRED)} %)"
    else:  # an amount is judged as the BIPS it is of the price it trails from
        at = leg.notional_price
        assert at is not None  # (an amount has BIPS only against a price)
        shown = bips.quantize(CENT, ROUND_HALF_UP)
        text = (
            f"Trail amount {_quote_text(info, amount)} ({plain(shown)} BIPS of "
            f"{_quote_text(info, at)})"
        )
    if low is not None and bips < low:
        return Refusal(
            ReasonCode.TRAILING_DELTA,
            f"{text} is below the minimum {low} BIPS ({plain(Decimal(low) / HUNDRED)} %)",
        )
    if high is not None and bips > high:
        return Refusal(
            ReasonCode.TRAILING_DELTA,
            f"{text} is above the maximum {high} BIPS ({plain(Decimal(high) / HUNDRED)} %)",
        )
    return None


# -- rounding ------------------------------------------------------------------------------
def _floor(value: Decimal, step: Decimal) -> Decimal:
    return (value - value % step).quantize(step.normalize())


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded down to a multiple of ``step`` (> 0)."""
    return _floor(value, step)


def round_qty(info: SymbolInfo | None, quantity: Decimal) -> Decimal:
    """``quantity`` rounded down to the symbol's lot step (never more than asked)."""
    if info is None or info.step_size is None:
        return quantity
    return _floor(quantity, info.step_size)


def round_price(info: SymbolInfo | None, price: Decimal) -> Decimal:
    """``price`` rounded to the nearest tick (half a tick rounds up)."""
    if info is None or info.tick_size is None:
        return price
    tick = info.tick_size
    ticks = (price / tick).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return (ticks * tick).quantize(tick.normalize(), rounding=ROUND_DOWN)


# -- the account's view of the listing ------------------------------------------------------
class SymbolRules:
    """Which symbols the account may trade, and their filters.

    Three states: *permissive* (no listing given: any well-formed symbol quoted in the
    account's currency, no filters: pure tests and old behaviour), *listed* (a listing
    from ``exchangeInfo``, or inferred for a replay: anything else is UNKNOWN_SYMBOL),
    and *pending* (a listing is expected but not loaded yet: orders are refused with
    NO_MARKET_DATA rather than accepted unchecked).
    """

    def __init__(
        self,
        quote: str,
        listing: Mapping[str, SymbolInfo] | None = None,
        allowed: Collection[str] | None = None,
    ) -> None:
        self.quote = quote
        self._listing: Mapping[str, SymbolInfo] | None = listing
        self._allowed = None if allowed is None else frozenset(s.upper() for s in allowed)
        self.pending = False

    @property
    def listing(self) -> Mapping[str, SymbolInfo] | None:
        return self._listing

    def set_listing(self, listing: Mapping[str, SymbolInfo] | None) -> None:
        self._listing = listing
        self.pending = False

    def info(self, symbol: str) -> SymbolInfo | None:
        return None if self._listing is None else self._listing.get(symbol)

    def lookup(self, symbol: str) -> SymbolInfo | Refusal | None:
        """The rules of ``symbol`` (upper case, well formed), ``None`` when the account is
        permissive, or why the symbol cannot be traded."""
        quote = self.quote
        listing = self._listing
        if listing is not None:
            info = listing.get(symbol)
            if info is None:
                return Refusal(ReasonCode.UNKNOWN_SYMBOL, f"{symbol} is not listed by the exchange")
            if info.quote_asset and info.quote_asset != quote:
                return Refusal(
                    ReasonCode.INVALID_PARAMS,
                    f"{symbol} is quoted in {info.quote_asset}; this account trades "
                    f"{quote}-quoted symbols only",
                )
            if not info.trading:
                return Refusal(
                    ReasonCode.MARKET_CLOSED, f"{symbol} is not trading now (status {info.status})"
                )
            return info
        if self.pending:
            return Refusal(
                ReasonCode.NO_MARKET_DATA,
                f"the exchange's rules for {symbol} are not loaded yet (exchangeInfo is "
                "unavailable): try again once the feed is connected",
            )
        if self._allowed is not None:
            if symbol not in self._allowed:
                return Refusal(
                    ReasonCode.UNKNOWN_SYMBOL, f"{symbol} is not one of the account's symbols"
                )
            return None
        if not symbol.endswith(quote) or symbol == quote:
            return Refusal(
                ReasonCode.INVALID_PARAMS,
                f"{symbol}: this account trades {quote}-quoted symbols only",
            )
        return None


def inferred_info(
    symbol: str, quote: str, prices: Iterable[Decimal], quantities: Iterable[Decimal]
) -> SymbolInfo:
    """Rules for a symbol known only from recorded data (a replay): the tick is the
    finest price step the data shows (so every recorded price is valid), the lot step
    the finest quantity step, the minimum quantity one step; the minimum order value is
    Binance's 5 for stablecoin quotes.  Deterministic: the same data gives the same
    rules."""
    tick = Decimal(1).scaleb(-_finest(prices))
    step = Decimal(1).scaleb(-_finest(quantities, default=MAX_INFERRED_DECIMALS))
    return SymbolInfo(
        symbol=symbol,
        status="TRADING",
        base_asset=split_symbol(symbol, quote),
        quote_asset=quote,
        tick_size=tick,
        step_size=step,
        min_qty=step,
        min_price=tick,
        min_notional=INFERRED_MIN_NOTIONAL if quote in STABLE_QUOTES else None,
        apply_min_to_market=True,
    )


def _finest(values: Iterable[Decimal], default: int = 0) -> int:
    finest = -1
    for value in values:
        places = decimals_of(value, 0)
        if places > finest:
            finest = places
            if finest >= MAX_INFERRED_DECIMALS:
                return MAX_INFERRED_DECIMALS
    return default if finest < 0 else finest
