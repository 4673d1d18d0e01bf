"""The scale-out's transport: Redis Streams (docs/scale-out.md).

``keys`` names every stream, ``entries`` says what an entry holds, ``rpc`` carries
commands from gateways to engines and their replies, ``tail`` follows many streams with
one reader, ``link`` opens Redis and survives its restarts, ``local_redis`` runs a
private ``redis-server`` (tests, benchmarks).  Nothing here knows the engine or the
server: ``workspace.scaleout`` puts them on the bus.

The ``redis`` package comes with the ``scale`` extra (``pip install -e '.[scale]'``);
the single-process workspace never imports this package.
"""
