"""Every real Binance frame in tests/fixtures/binance/ decodes; bad frames are errors."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from workspace.market.decode import ControlReply, FrameError, ServerShutdown, decode_frame
from workspace.market.records import BookTicker, MiniTicker, Ticker, Trade

FIXTURES = Path(__file__).parent.parent / "fixtures" / "binance"
FRAMES = sorted(FIXTURES.glob("*.json"))

# Stream kind -> the record type the feed normalises it into (None = recognised, skipped).
EXPECTED = {
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
    "depth5": type(None),
    "depth5_100ms": type(None),
    "depthUpdate": type(None),
    "depthUpdate_100ms": type(None),
    "kline_1m": type(None),
}


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
    decoded = decode_frame(path.read_bytes())
    assert type(decoded) is EXPECTED[path.name.split(".")[0]]


@pytest.mark.parametrize("path", FRAMES, ids=[p.name for p in FRAMES])
def test_text_and_bytes_frames_decode_identically(path: Path) -> None:
    assert decode_frame(path.read_text()) == decode_frame(path.read_bytes())


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


def test_every_frame_of_the_recorded_mainnet_session_decodes() -> None:
    path = FIXTURES / "replay" / "session.combined.mainnet-2021-08-14.jsonl"
    kinds: dict[str, int] = {}
    lines = msgspec.json.Decoder(SessionLine)
    for line in path.read_bytes().splitlines():
        decoded = decode_frame(memoryview(lines.decode(line).frame))  # the frame's own bytes
        kinds[type(decoded).__name__] = kinds.get(type(decoded).__name__, 0) + 1
    # 412 bookTicker + 28 aggTrade become records; 546 depth + 17 kline are skipped.
    assert kinds == {"BookTicker": 412, "Trade": 28, "NoneType": 563}
