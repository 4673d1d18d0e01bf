"""Every real Binance frame in tests/fixtures/binance/ decodes; bad frames are errors."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from workspace.market.decode import (
    ControlReply,
    FrameError,
    ServerShutdown,
    decode_feed_frame,
    decode_frame,
    parse_depth_snapshot,
    parse_klines,
)
from workspace.market.records import (
    BookTicker,
    DepthSnapshot,
    DepthUpdate,
    Kline,
    MiniTicker,
    PartialDepth,
    Ticker,
    Trade,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "binance"
FRAMES = sorted(FIXTURES.glob("*.json"))

# Stream kind -> the record type the feed normalises it into (None = recognised, skipped).
EXPECTED: dict[str, type] = {
    "aggTrade": Trade,
    "trade": Trade,
    "ticker": Ticker,
    "ticker_1h": Ticker,
    "miniTicker": MiniTicker,
    "bookTicker": BookTicker,
    "allMiniTickers-arr": tuple,
    "allTickers-arr": tuple,
    "allTickers_1h-arr": tuple,
    "avgPrice": type(None),
    "depth5": PartialDepth,
    "depth5_100ms": PartialDepth,
    "depthUpdate": DepthUpdate,
    "depthUpdate_100ms": DepthUpdate,
    "kline_1m": Kline,
}
BOOK_AND_KLINE = (DepthUpdate, PartialDepth, Kline)


def _payload(path: Path) -> dict[str, object]:
    loaded = json.loads(path.read_bytes())
    assert isinstance(loaded, dict)
    data = loaded.get("data", loaded)
    assert isinstance(data, dict)
    return data


def test_fixture_folder_holds_every_stream_kind_we_expect() -> None:
    kinds = {path.name.split(".")[0] for path in FRAMES}
    assert kinds == set(EXPECTED)


@pytest.mark.parametrize("path", FRAMES, ids=[p.name for p in FRAMES])
def test_every_fixture_frame_decodes_to_its_record_type_or_is_skipped(path: Path) -> None:
    decoded = decode_frame(path.read_bytes(), all_records=True)
    assert type(decoded) is EXPECTED[path.name.split(".")[0]]


@pytest.mark.parametrize("path", FRAMES, ids=[p.name for p in FRAMES])
def test_without_all_records_book_and_kline_frames_stay_skipped(path: Path) -> None:
    """The replay's view (tickers and trades only) is what it was before books existed."""
    expected = EXPECTED[path.name.split(".")[0]]
    decoded = decode_frame(path.read_bytes())
    if expected in BOOK_AND_KLINE:
        assert decoded is None
    else:
        assert type(decoded) is expected


@pytest.mark.parametrize("path", FRAMES, ids=[p.name for p in FRAMES])
def test_text_and_bytes_frames_decode_identically(path: Path) -> None:
    assert decode_frame(path.read_text(), all_records=True) == decode_frame(
        path.read_bytes(), all_records=True
    )


def _levels(wire: object) -> tuple[tuple[Decimal, Decimal], ...]:
    assert isinstance(wire, list)
    return tuple((Decimal(price), Decimal(qty)) for price, qty in wire)


@pytest.mark.parametrize(
    "path", [p for p in FRAMES if p.name.startswith("depthUpdate")], ids=lambda p: p.name
)
def test_diff_depth_levels_are_exact_decimals_in_wire_order(path: Path) -> None:
    record = decode_frame(path.read_bytes(), all_records=True)
    wire = _payload(path)
    assert isinstance(record, DepthUpdate)
    assert record.event_type == "depthUpdate"
    assert (record.event_time, record.symbol) == (wire["E"], wire["s"])
    assert (record.first_update_id, record.final_update_id) == (wire["U"], wire["u"])
    assert record.bids == _levels(wire["b"])
    assert record.asks == _levels(wire["a"])
    assert all(type(p) is Decimal and type(q) is Decimal for p, q in record.bids + record.asks)
    # The wire strings themselves are kept: the exact digits the exchange sent.
    assert record.bid_levels == tuple(tuple(level) for level in wire["b"])  # type: ignore[attr-defined]


def test_a_zero_quantity_level_keeps_its_exact_zero() -> None:
    record = decode_frame(
        (FIXTURES / "depthUpdate.raw.testnet-2025-01.json").read_bytes(), all_records=True
    )
    assert isinstance(record, DepthUpdate)
    assert record.bids[1] == (Decimal("104774.76000000"), Decimal("0E-8"))
    assert str(record.bids[1][0]) == "104774.76000000"  # the exchange's own digits


def test_diff_depth_with_an_empty_side_decodes() -> None:
    record = decode_frame(
        (FIXTURES / "depthUpdate_100ms.combined.mainnet-2021-08.json").read_bytes(),
        all_records=True,
    )
    assert isinstance(record, DepthUpdate)
    assert (record.symbol, record.bids) == ("XMRBTC", ())
    assert record.asks[0] == (Decimal("0.00578700"), Decimal("31.23100000"))


def test_partial_depth_takes_its_symbol_from_the_stream_name() -> None:
    path = FIXTURES / "depth5_100ms.combined.testnet-2025-01.json"
    record = decode_frame(path.read_bytes(), all_records=True)
    wire = _payload(path)
    assert isinstance(record, PartialDepth)
    assert (record.symbol, record.last_update_id) == ("BTCUSDT", 5137787)
    assert record.bids == _levels(wire["bids"])
    assert record.asks == _levels(wire["asks"])
    assert len(record.bids) == len(record.asks) == 5


def test_raw_partial_depth_has_no_symbol_on_the_wire() -> None:
    record = decode_frame(
        (FIXTURES / "depth5.raw.testnet-2025-01.json").read_bytes(), all_records=True
    )
    assert isinstance(record, PartialDepth)
    assert (record.symbol, record.last_update_id) == ("", 5129092)
    assert record.bids[0] == (Decimal("104920.00000000"), Decimal("0.00263000"))


@pytest.mark.parametrize("levels", [10, 20])
@pytest.mark.parametrize("speed", ["", "@100ms"])
def test_every_partial_depth_stream_name_decodes(levels: int, speed: str) -> None:
    data = (FIXTURES / "depth5.raw.testnet-2025-01.json").read_bytes()
    frame = b'{"stream":"ethusdt@depth%d%s","data":%s}' % (levels, speed.encode(), data)
    record = decode_frame(frame, all_records=True)
    assert isinstance(record, PartialDepth)
    assert record.symbol == "ETHUSDT"


@pytest.mark.parametrize(
    "path", [p for p in FRAMES if p.name.startswith("kline")], ids=lambda p: p.name
)
def test_kline_is_flat_with_exact_prices_and_the_event_time(path: Path) -> None:
    record = decode_frame(path.read_bytes(), all_records=True)
    wire = _payload(path)
    k = wire["k"]
    assert isinstance(record, Kline)
    assert isinstance(k, dict)
    assert record.event_time == wire["E"]
    assert (record.symbol, record.interval) == (k["s"], "1m")
    assert (record.open_time, record.close_time) == (k["t"], k["T"])
    assert (record.open_price, record.high_price) == (Decimal(k["o"]), Decimal(k["h"]))
    assert (record.low_price, record.close_price) == (Decimal(k["l"]), Decimal(k["c"]))
    assert (record.volume, record.quote_volume) == (Decimal(k["v"]), Decimal(k["q"]))
    assert (record.taker_buy_volume, record.taker_buy_quote_volume) == (
        Decimal(k["V"]),
        Decimal(k["Q"]),
    )
    assert (record.first_trade_id, record.last_trade_id) == (k["f"], k["L"])
    assert (record.trade_count, record.closed) == (k["n"], k["x"])


def test_open_and_closed_candles_are_told_apart() -> None:
    opened = decode_frame(
        (FIXTURES / "kline_1m.combined.mainnet-2021-08-open.json").read_bytes(), all_records=True
    )
    closed = decode_frame(
        (FIXTURES / "kline_1m.combined.mainnet-2021-08-closed.json").read_bytes(),
        all_records=True,
    )
    assert isinstance(opened, Kline)
    assert isinstance(closed, Kline)
    assert (opened.closed, closed.closed) == (False, True)
    assert opened.open_time == closed.open_time


@pytest.mark.parametrize(
    "interval",
    ["1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d",
     "1w", "1M"],
)  # fmt: skip
def test_every_binance_kline_interval_decodes(interval: str) -> None:
    data = json.loads((FIXTURES / "kline_1m.raw.testnet-2025-01.json").read_bytes())
    data["k"]["i"] = interval
    for frame in (
        json.dumps({"stream": f"btcusdt@kline_{interval}", "data": data}),
        json.dumps({"stream": f"btcusdt@kline_{interval}@+08:00", "data": data}),
        json.dumps(data),
    ):
        record = decode_frame(frame, all_records=True)
        assert isinstance(record, Kline)
        assert record.interval == interval


def _csv_rows_as_rest_klines(path: Path) -> list[list[object]]:
    """The archive's CSV rows are the REST answer's rows: numbers as Binance sends them."""
    rows = []
    for line in path.read_text().splitlines():
        cells = line.split(",")
        rows.append(
            [int(cells[0]), *cells[1:6], int(cells[6]), cells[7], int(cells[8]), *cells[9:12]]
        )
    return rows


def test_rest_klines_parse_into_the_same_records_with_exact_values() -> None:
    path = FIXTURES / "replay" / "klines" / "BTCUSDT-1m-2020-01-01.csv"
    rows = _csv_rows_as_rest_klines(path)
    body = json.dumps(rows).encode()
    now_ms = rows[-1][6] - 1  # type: ignore[operator]  # the last candle is still forming
    klines = parse_klines("BTCUSDT", "1m", body, now_ms)
    assert len(klines) == 1440
    first, last = klines[0], klines[-1]
    assert first.open_time == 1577836800000 == rows[0][0]
    assert str(first.open_price) == rows[0][1]
    assert (first.high_price, first.close_price) == (Decimal(rows[0][2]), Decimal(rows[0][4]))  # type: ignore[arg-type]
    assert first.trade_count == rows[0][8]
    assert (first.first_trade_id, first.event_time) == (None, None)
    assert first.closed
    assert not last.closed
    assert all(k.symbol == "BTCUSDT" and k.interval == "1m" for k in klines)


def test_rest_depth_snapshot_parses_with_the_symbol_and_receive_time() -> None:
    body = (FIXTURES / "depth5.raw.testnet-2025-01.json").read_bytes()  # same shape as REST
    snapshot = parse_depth_snapshot("BTCUSDT", body, received_ms=1737541559100)
    assert isinstance(snapshot, DepthSnapshot)
    assert (snapshot.symbol, snapshot.last_update_id) == ("BTCUSDT", 5129092)
    assert snapshot.received_ms == 1737541559100
    assert snapshot.asks[-1] == (Decimal("104921.64000000"), Decimal("0.00372000"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"code":-1121,"msg":"Invalid symbol."}', "unreadable depth snapshot"),
        (b'{"lastUpdateId":1,"bids":[["1"]],"asks":[]}', "unreadable depth snapshot"),
        (b"<html>", "unreadable depth snapshot"),
    ],
)
def test_bad_depth_snapshots_are_frame_errors(body: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        parse_depth_snapshot("BTCUSDT", body)


@pytest.mark.parametrize(
    "body",
    [b"{}", b"[[1,2,3]]", b'[[1,"1","1","1","x","1",2,"1",3,"1","1","0"]]'],
)
def test_bad_kline_answers_are_frame_errors(body: bytes) -> None:
    with pytest.raises(FrameError, match="unreadable klines"):
        parse_klines("BTCUSDT", "1m", body, 0)


@pytest.mark.parametrize(
    "frame",
    [
        b'{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":0,'
        b'"T":59999,"s":"BTCUSDT","i":"1m","f":1,"L":2,"o":"1","c":"nan","h":"1","l":"1",'
        b'"v":"1","n":2,"x":false,"q":"1","V":"1","Q":"1","B":"0"}}}',
    ],
)
def test_non_finite_candles_are_refused(frame: bytes) -> None:
    with pytest.raises(FrameError, match="non-finite"):
        decode_frame(frame, all_records=True)


@pytest.mark.parametrize(
    "path", [p for p in FRAMES if p.name.startswith("ticker.")], ids=lambda p: p.name
)
def test_ticker_prices_are_exact_decimals_from_the_wire_strings(path: Path) -> None:
    record = decode_frame(path.read_bytes())
    wire = _payload(path)
    assert isinstance(record, Ticker)
    assert record.event_type == "24hrTicker"
    assert record.event_time == wire["E"]
    assert record.symbol == wire["s"]
    assert record.last_price == Decimal(str(wire["c"]))
    assert record.bid_price == Decimal(str(wire["b"]))
    assert record.ask_qty == Decimal(str(wire["A"]))
    assert record.trade_count == wire["n"]


def test_rolling_window_ticker_has_no_bid_ask_fields() -> None:
    record = decode_frame((FIXTURES / "ticker_1h.combined.testnet-2025-01.json").read_bytes())
    assert isinstance(record, Ticker)
    assert record.event_type == "1hTicker"
    assert record.bid_price is None
    assert record.last_price == Decimal("105795.14000000")


def test_book_ticker_keeps_no_event_time() -> None:
    record = decode_frame((FIXTURES / "bookTicker.combined.mainnet-2021-08.json").read_bytes())
    assert isinstance(record, BookTicker)
    assert not hasattr(record, "event_time")
    assert (record.symbol, record.update_id) == ("FTMUSDT", 800360982)
    assert (record.bid_price, record.ask_price) == (Decimal("0.33989000"), Decimal("0.34012000"))


def test_agg_trade_id_is_the_aggregate_id() -> None:
    record = decode_frame((FIXTURES / "aggTrade.combined.mainnet-2021-08.json").read_bytes())
    assert isinstance(record, Trade)
    assert record.event_type == "aggTrade"
    assert record.id == 31718372
    assert record.price == Decimal("0.33993000")
    assert record.buyer_is_maker is True


def test_current_trade_shape_decodes_without_order_ids() -> None:
    record = decode_frame((FIXTURES / "trade.combined.testnet-2025-01.json").read_bytes())
    assert isinstance(record, Trade)
    assert record.id == 1075762
    assert record.buyer_order_id is None


def test_legacy_trade_shape_with_order_ids_decodes() -> None:
    record = decode_frame((FIXTURES / "trade.combined.mainnet-2021-12-legacy.json").read_bytes())
    assert isinstance(record, Trade)
    assert record.event_type == "trade"
    assert record.id == 705291099
    assert record.buyer_order_id == 7038593583
    assert record.price == Decimal("4149.74000000")


def test_array_frame_becomes_a_tuple_of_records() -> None:
    records = decode_frame((FIXTURES / "allMiniTickers-arr.raw.testnet-2025-01.json").read_bytes())
    assert isinstance(records, tuple)
    assert [r.symbol for r in records] == ["XRPUSDT", "EOSUSDT"]
    assert all(isinstance(r, MiniTicker) for r in records)


def test_subscribe_success_reply_is_matched_by_id() -> None:
    reply = decode_frame(b'{"result":null,"id":7}')
    assert reply == ControlReply(7, None)
    assert isinstance(reply, ControlReply)
    assert reply.ok


def test_subscribe_error_reply_carries_code_and_message() -> None:
    reply = decode_frame(b'{"error":{"code":2,"msg":"Invalid request: unknown method"},"id":3}')
    assert isinstance(reply, ControlReply)
    assert not reply.ok
    assert (reply.id, reply.error_code) == (3, 2)
    assert reply.error_msg == "Invalid request: unknown method"


def test_list_subscriptions_reply_carries_the_streams() -> None:
    reply = decode_frame(b'{"result":["btcusdt@ticker"],"id":9}')
    assert reply == ControlReply(9, ["btcusdt@ticker"])


def test_server_shutdown_event_is_recognised() -> None:
    assert decode_frame(b'{"e":"serverShutdown","E":1700000000000}') == ServerShutdown(
        1700000000000
    )


def test_unknown_stream_in_a_combined_frame_is_skipped_not_an_error() -> None:
    frame = b'{"stream":"btcusdt@referencePrice","data":{"e":"referencePrice","s":"BTCUSDT"}}'
    assert decode_frame(frame) is None


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"not json at all", "unreadable"),
        (b"", "unreadable"),
        (b"\xff\xfe\x00", "unreadable"),
        (b"42", "not a JSON object"),
        (b"null", "not a JSON object"),
        (b"{}", "neither a stream event nor a control reply"),
        (b'{"stream":"btcusdt@ticker"}', "has no data"),
        (b'{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT"}}', "missing required"),
        (
            b'{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT","b":"x1",'
            b'"B":"1","a":"2","A":"1"}}',
            "decimal",
        ),
        (b'{"stream":"btcusdt@ticker","data":[1,2]}', "Expected `object`"),
        (b'{"e":"somethingNew","E":1}', "unknown event type"),
        (b"[1, 2]", "unreadable"),
    ],
)
def test_bad_frames_raise_a_frame_error_that_says_what_is_wrong(frame: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        decode_frame(frame)


def test_frame_error_is_a_value_error() -> None:
    assert issubclass(FrameError, ValueError)


@pytest.mark.parametrize("path", FRAMES[:6], ids=[p.name for p in FRAMES[:6]])
def test_memoryview_and_bytearray_frames_decode_like_bytes(path: Path) -> None:
    raw = path.read_bytes()
    assert decode_frame(memoryview(raw)) == decode_frame(raw)
    assert decode_frame(bytearray(raw)) == decode_frame(raw)


@pytest.mark.parametrize(
    "frame",
    [
        b'{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,'
        b'"p":"NaN","q":"1","f":1,"l":1,"T":1,"m":true,"M":true}}',
        b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,'
        b'"p":"1","q":"Infinity","T":1,"m":true,"M":true}}',
        b'{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT","b":"1","B":"1",'
        b'"a":"-inf","A":"1"}}',
        b'{"stream":"btcusdt@miniTicker","data":{"e":"24hrMiniTicker","E":1,"s":"BTCUSDT",'
        b'"c":"nan","o":"1","h":"1","l":"1","v":"1","q":"1"}}',
        b'{"e":"24hrMiniTicker","E":1,"s":"BTCUSDT","c":"sNaN","o":"1","h":"1","l":"1",'
        b'"v":"1","q":"1"}',
    ],
)
def test_non_finite_prices_are_refused(frame: bytes) -> None:
    with pytest.raises(FrameError, match="non-finite"):
        decode_frame(frame)


def test_ticker_with_a_nan_bid_is_refused() -> None:
    path = FIXTURES / "ticker.raw.testnet-2025-01.json"
    frame = path.read_bytes().replace(b'"b":"105498.24000000"', b'"b":"NaN"')
    with pytest.raises(FrameError, match=r"non-finite .* Ticker for BTCUSDT"):
        decode_frame(frame)


class SessionLine(msgspec.Struct):
    frame: msgspec.Raw


SESSION = FIXTURES / "replay" / "session.combined.mainnet-2021-08-14.jsonl"


def _session_frames() -> list[memoryview]:
    lines = msgspec.json.Decoder(SessionLine)
    return [memoryview(lines.decode(line).frame) for line in SESSION.read_bytes().splitlines()]


def test_every_frame_of_the_recorded_mainnet_session_decodes() -> None:
    kinds: dict[str, int] = {}
    for frame in _session_frames():
        decoded = decode_frame(frame, all_records=True)  # the frame's own bytes
        kinds[type(decoded).__name__] = kinds.get(type(decoded).__name__, 0) + 1
    assert kinds == {"BookTicker": 412, "Trade": 28, "DepthUpdate": 546, "Kline": 17}
    # The replay's tick-only view: depth and klines are recognised and skipped.
    legacy = [type(decode_frame(frame)).__name__ for frame in _session_frames()]
    assert legacy.count("NoneType") == 546 + 17


def test_recorded_diff_depth_events_chain_by_update_id_per_symbol() -> None:
    """The real session's 546 diff events: per symbol, every U is the previous u + 1."""
    last: dict[str, int] = {}
    for frame in _session_frames():
        record = decode_frame(frame, all_records=True)
        if isinstance(record, DepthUpdate):
            if record.symbol in last:
                assert record.first_update_id == last[record.symbol] + 1
            assert record.first_update_id <= record.final_update_id
            last[record.symbol] = record.final_update_id
    assert set(last) == {"FTMUSDT", "SXPBTC", "BADGERBTC", "XMRBTC"}


# -- the feed's one-pass decoding ------------------------------------------------------------

COMBINED = [p for p in FRAMES if ".combined." in p.name]


@pytest.mark.parametrize("path", COMBINED, ids=[p.name for p in COMBINED])
def test_the_feeds_decoding_gives_the_records_of_decode_frame(path: Path) -> None:
    expected = decode_frame(path.read_bytes(), all_records=True)
    loaded = json.loads(path.read_bytes())
    compact = json.dumps(loaded, separators=(",", ":")).encode()
    spaced = json.dumps(loaded).encode()  # not Binance's spelling: the general path
    data_first = json.dumps({"data": loaded["data"], "stream": loaded["stream"]}).encode()
    escaped = compact.replace(b"@", b"\\u0040", 1)  # the stream name, JSON-escaped
    for frame in (compact, spaced, data_first, escaped):
        assert decode_feed_frame(frame) == expected


def test_the_feeds_decoding_refuses_what_decode_frame_refuses() -> None:
    for frame in (b'{"stream":"btcusdt@ticker","data":{"e":"24hrTicker"}}',
                  b'{"stream":"btcusdt@ticker","data":', b'{"stream":"btcusdt@ticker',
                  b'{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"X","b":"x","B":"1",'
                  b'"a":"1","A":"1"}}'):  # fmt: skip
        with pytest.raises(FrameError):
            decode_feed_frame(frame)


def test_the_stream_names_the_feed_learns_are_bounded() -> None:
    from workspace.market import decode

    for n in range(decode._MAX_STREAM_NAMES + 10):
        frame = b'{"stream":"s%d@avgPrice","data":{"e":"avgPrice","s":"S"}}' % n
        assert decode_feed_frame(frame) is None
    assert len(decode._COMBINED_BY_STREAM) <= decode._MAX_STREAM_NAMES
