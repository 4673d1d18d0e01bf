"""The engine: feed -> account -> journal -> publishers on whatever asyncio loop runs.

Modules: ``hub`` (fan-out with the Subscription delivery rules), ``conflation`` (the
bounded conflating queue), ``callbacks`` (strategy callbacks and listeners),
``market_messages`` (Ticker -> MARKET_UPDATE), ``metrics``, ``tasks``, ``clock``.
"""
