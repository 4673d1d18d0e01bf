"""The scale-out (docs/scale-out.md): engines and stateless gateways on Redis Streams.

``engine_node`` runs accounts (and the market feed) and publishes them to the bus
(``event_publisher``, ``market_publisher``); ``gateway`` serves ``/api/ws/realtime``
from the bus; ``shards`` says which engine owns which account.  Needs the ``scale``
extra (the ``redis`` package); the single-process workspace never imports it.
"""
