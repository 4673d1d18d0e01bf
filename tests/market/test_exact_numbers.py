"""The numbers the records keep as wire strings read back as the exact decimals sent.

Tickers, mini tickers and book tickers decode the numbers the engine reads on every
record into ``Decimal`` fields and keep the others as the exchange's strings, with
``Decimal`` views built on first read (workspace/market/records.py).  The feed's hot path
decodes a combined frame in one pass (``decode_feed_frame``) and checks the strings in
one pass (workspace/market/decimal_text.py).  Every recorded frame goes through all of it.
"""

from __future__ import annotations

import json
import pickle
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from workspace.market.decimal_text import plain_decimals
from workspace.market.decode import decode_feed_frame, decode_frame
from workspace.market.records import BookTicker, MiniTicker, Ticker
from workspace.market.sanity import MAX_PRICE, MAX_VOLUME, SanityLimits, problem

FIXTURES = Path(__file__).parent.parent / "fixtures" / "binance"
SESSION = FIXTURES / "replay" / "session.combined.mainnet-2021-08-14.jsonl"
NOW_MS = 1_737_600_000_000

# Record type -> its numbers: (wire key, attribute), and which attributes are views.
NUMBERS: dict[type, list[tuple[str, str]]] = {
    Ticker: [("p", "price_change"), ("P", "price_change_percent"), ("w", "weighted_avg_price"),
             ("c", "last_price"), ("o", "open_price"), ("h", "high_price"), ("l", "low_price"),
             ("v", "volume"), ("q", "quote_volume"), ("x", "prev_close_price"),
             ("Q", "last_quantity"), ("b", "bid_price"), ("B", "bid_qty"), ("a", "ask_price"),
             ("A", "ask_qty")],
    MiniTicker: [("c", "last_price"), ("o", "open_price"), ("h", "high_price"),
                 ("l", "low_price"), ("v", "volume"), ("q", "quote_volume")],
    BookTicker: [("b", "bid_price"), ("B", "bid_qty"), ("a", "ask_price"), ("A", "ask_qty")],
}  # fmt: skip
DECODED = {"last_price", "bid_price", "ask_price", "volume"}  # Decimal fields, not views


def _payloads(session: bool) -> list[tuple[str, dict[str, object], object]]:
    """(name, payload, record) for every recorded ticker, mini ticker and book ticker:
    the fixture frames (with the items of array frames), or the recorded mainnet session."""
    found: list[tuple[str, dict[str, object], object]] = []
    if session:
        for line in SESSION.read_text().splitlines():
            frame = json.loads(line)["frame"]
            record = decode_frame(json.dumps(frame), all_records=True)
            if type(record) in NUMBERS:
                found.append((SESSION.name, frame["data"], record))
        return found
    for path in sorted(FIXTURES.glob("*.json")):
        loaded = json.loads(path.read_bytes())
        record = decode_frame(path.read_bytes(), all_records=True)
        data = loaded.get("data", loaded) if isinstance(loaded, dict) else loaded
        if isinstance(record, tuple):
            assert isinstance(data, list)
            found += [(path.name, item, one) for item, one in zip(data, record, strict=True)]
        elif type(record) in NUMBERS:
            found.append((path.name, data, record))
    return found


PAYLOADS = _payloads(session=False)
SESSION_PAYLOADS = _payloads(session=True)


def test_the_fixtures_hold_every_record_type_with_string_numbers() -> None:
    assert {type(record) for _, _, record in PAYLOADS} == set(NUMBERS)
    assert {type(record) for _, _, record in SESSION_PAYLOADS} == {BookTicker}
    assert len(SESSION_PAYLOADS) > 100


@pytest.mark.parametrize(("name", "payload", "record"), PAYLOADS, ids=[p[0] for p in PAYLOADS])
def test_every_number_reads_as_the_exact_decimal_the_exchange_sent(
    name: str, payload: dict[str, object], record: object
) -> None:
    _assert_exact(payload, record)


def test_every_number_of_the_recorded_mainnet_session_reads_exactly() -> None:
    for _, payload, record in SESSION_PAYLOADS:
        _assert_exact(payload, record)
        stream = f"{str(payload['s']).lower()}@{_kind(record, payload)}"
        frame = json.dumps({"stream": stream, "data": payload}, separators=(",", ":"))
        assert decode_feed_frame(frame.encode()) == record


def _assert_exact(payload: dict[str, object], record: object) -> None:
    for key, attribute in NUMBERS[type(record)]:
        wire = payload.get(key)
        value = getattr(record, attribute)
        if wire is None:
            assert value is None  # a rolling-window ticker has no bid, ask, last quantity
            continue
        assert isinstance(wire, str)
        assert type(value) is Decimal
        assert str(value) == str(Decimal(wire))  # the same digits and exponent
        assert value.as_tuple() == Decimal(wire).as_tuple()
        if attribute not in DECODED:
            assert getattr(record, f"{attribute}_text") == wire  # kept as sent
            assert getattr(record, attribute) is value  # built once, then kept


@pytest.mark.parametrize(("name", "payload", "record"), PAYLOADS, ids=[p[0] for p in PAYLOADS])
def test_the_feeds_one_pass_decoding_gives_the_same_record(
    name: str, payload: dict[str, object], record: object
) -> None:
    stream = f"{str(payload['s']).lower()}@{_kind(record, payload)}"
    frame = json.dumps({"stream": stream, "data": payload}, separators=(",", ":")).encode()
    assert decode_feed_frame(frame) == record
    assert problem(record, NOW_MS, SanityLimits()) is None  # type: ignore[arg-type]


def _kind(record: object, payload: dict[str, object]) -> str:
    if isinstance(record, BookTicker):
        return "bookTicker"
    if isinstance(record, MiniTicker):
        return "miniTicker"
    return "ticker" if payload.get("e") == "24hrTicker" else "ticker_1h"


def test_the_records_serialise_with_the_wire_strings_and_round_trip() -> None:
    for _, payload, record in PAYLOADS:
        kind = type(record)
        encoded = msgspec.json.encode(record)
        assert msgspec.json.decode(encoded, type=kind) == record
        data = json.loads(encoded)
        for key, _ in NUMBERS[kind]:
            if payload.get(key) is not None:
                assert str(Decimal(data[key])) == str(Decimal(str(payload[key])))
        assert pickle.loads(pickle.dumps(record)) == record


def test_a_replaced_record_reads_its_own_strings_not_the_old_views() -> None:
    book = BookTicker(
        update_id=1,
        symbol="BTCUSDT",
        bid_price=Decimal("1.5"),
        bid_qty_text="2.00000000",
        ask_price=Decimal("1.6"),
        ask_qty_text="3",
    )
    assert book.bid_qty == Decimal("2.00000000")
    changed = msgspec.structs.replace(book, bid_qty_text="7.25")
    assert (changed.bid_qty, book.bid_qty) == (Decimal("7.25"), Decimal("2.00000000"))
    with pytest.raises(AttributeError):
        book.bid_qty = Decimal(9)
    assert changed != book
    assert BookTicker.bid_qty is not None  # the view itself, read off the class


# -- plain_decimals: the quick pass may only vouch for what the exact checks accept -------

decimal_texts = st.one_of(
    st.from_regex(r"\A[0-9]{1,12}\.[0-9]{1,9}\Z"),  # the exchange's shape
    st.from_regex(r"\A-?[0-9]{0,40}(\.[0-9]{0,40})?([eE][-+]?[0-9]{1,4})?\Z"),
    st.sampled_from(["", ".", "5.", ".5", "NaN", "-0.0", "Infinity", " 1.0", "1_0.5", "１.0",
                     "1.0.0", "0x1.0", "+1.0", "1.0|2.0"]),
    st.text(max_size=12),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(decimal_texts, min_size=1, max_size=15), st.sampled_from([10, 30]))
@example(["92233720368.54775807"], 10)
@example(["1" * 31 + ".0"], 30)
def test_plain_decimals_vouches_only_for_exact_non_negative_numbers_below_the_bound(
    texts: list[str], digits: int
) -> None:
    if plain_decimals(("", *texts, ""), digits):
        for text in texts:
            value = Decimal(text)  # never raises for what was vouched for
            assert value.is_finite()
            assert 0 <= value < 10**digits


def test_plain_decimals_takes_the_exchanges_strings() -> None:
    texts = ("105766.00000000", "0.00015000", "4.376", "30565155.12273710", "0.00000000")
    assert plain_decimals(("", *texts, ""), 30)
    assert not plain_decimals(("", "105766", ""), 30)  # an integer: checked exactly instead
    assert not plain_decimals(("", "1" * 31 + ".0", ""), 30)
    assert not plain_decimals(("", "1.0", "."), 30)


# -- sanity: the quick pass and the exact checks give the same verdict --------------------

TICKER = json.loads((FIXTURES / "ticker.raw.testnet-2025-01.json").read_bytes())
NUMBER_KEYS = [key for key, _ in NUMBERS[Ticker]]


def _exact_verdict(record: Ticker) -> bool:
    """The checks of workspace/market/sanity.py on every number as a Decimal."""
    try:
        last, bid, ask = record.last_price, record.bid_price, record.ask_price
        if not (0 < last <= MAX_PRICE):
            return False
        for price in (bid, ask):
            if price is not None and not (0 < price <= MAX_PRICE):
                return False
        if bid is not None and ask is not None and bid > ask:
            return False
        others = [record.open_price, record.high_price, record.low_price, record.volume,
                  record.weighted_avg_price, record.quote_volume, record.prev_close_price,
                  record.last_quantity, record.bid_qty, record.ask_qty]  # fmt: skip
        if not all(v is None or (v.is_finite() and 0 <= v <= MAX_VOLUME) for v in others):
            return False
        return record.price_change.is_finite() and record.price_change_percent.is_finite()
    except ArithmeticError:
        return False


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(NUMBER_KEYS), decimal_texts, max_size=4))
def test_a_ticker_is_refused_exactly_when_one_of_its_numbers_is_wrong(
    changes: dict[str, str],
) -> None:
    frame = {"stream": "btcusdt@ticker", "data": {**TICKER, **changes}}
    try:
        record = decode_feed_frame(json.dumps(frame, separators=(",", ":")).encode())
    except ValueError:
        return  # not even a decimal where a Decimal field needs one: an unreadable frame
    assert isinstance(record, Ticker)
    verdict = problem(record, NOW_MS, SanityLimits()) is None  # before any view is built
    assert verdict == _exact_verdict(record)
