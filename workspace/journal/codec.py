"""Compact binary encoding of account events (msgspec MessagePack).

One encoder and one decoder, built once per journal: the decoder knows the tagged
union of every event type, so a row decodes straight into its event struct.
"""

from __future__ import annotations

import msgspec

from workspace.trading.config import AccountConfig
from workspace.trading.events import AccountEvent


class EventCodec:
    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder: msgspec.msgpack.Decoder[AccountEvent] = msgspec.msgpack.Decoder(AccountEvent)
        self._config_decoder = msgspec.json.Decoder(AccountConfig)

    def encode(self, event: AccountEvent) -> bytes:
        return self._encoder.encode(event)

    def decode(self, body: bytes) -> AccountEvent:
        return self._decoder.decode(body)

    def encode_config(self, config: AccountConfig) -> bytes:
        return msgspec.json.encode(config)

    def decode_config(self, body: bytes) -> AccountConfig:
        return self._config_decoder.decode(body)
