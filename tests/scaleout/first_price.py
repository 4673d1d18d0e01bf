"""Orders on symbols nobody watches, placed through a gateway: what the scale-out tests
of a symbol's first price check (``test_first_price``, ``test_shards``)."""

from __future__ import annotations

from tests.scaleout.peer import Peer


async def placed_on_first_prices(trader: Peer) -> None:
    """Three orders, each on a symbol nobody watched, are judged as ``serve`` judges
    them: on the symbol's first price.  Before, a gateway's engine placed them unjudged:
    the far limit rested NEW (and EXPIRED later), the small market order filled, the
    quote-sized one was refused ``NO_MARKET_DATA`` on every retry."""
    refused = (
        ("ETHUSDT", {"type": "LIMIT", "quantity": "0.1", "price": "100"}, "PERCENT_PRICE"),
        ("BNBUSDT", {"type": "MARKET", "quantity": "0.001"}, "MIN_NOTIONAL"),
    )
    for symbol, fields, code in refused:
        reply = await trader.reply(
            {"action": "place_order", "symbol": symbol, "side": "BUY", **fields}
        )
        order = reply.get("order") or {}
        assert (reply["type"], order.get("status"), order.get("reason_code")) == (
            "ORDER_UPDATE",
            "REJECTED",
            code,
        ), reply
    sized = await trader.reply(
        {"action": "place_order", "symbol": "SOLUSDT", "side": "BUY", "type": "MARKET",
         "quote_quantity": "50"}
    )  # fmt: skip
    assert sized["type"] == "ORDER_UPDATE", sized
    assert sized["order"].get("reason_code") != "NO_MARKET_DATA", sized["order"]
    filled = sized
    if sized["order"]["status"] != "FILLED":
        filled = await trader.until(
            lambda m: (
                m["type"] == "ORDER_UPDATE"
                and m["order"]["id"] == sized["order"]["id"]
                and m["order"]["status"] == "FILLED"
            )
        )
    spent = float(filled["order"]["filled_quantity"]) * float(filled["order"]["avg_price"])
    assert 0 < spent <= 50
