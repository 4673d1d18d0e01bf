"""The engine: feed -> account -> journal -> publishers on whatever asyncio loop runs.

Modules: ``hub`` (the one fan-out into subscribers' outboxes, indexed by symbol),
``callbacks`` (strategy callbacks and listeners), ``market_messages`` (Ticker ->
MARKET_UPDATE), ``metrics``, ``tasks``, ``clock``.
"""
