"""Ports for tests that need one to stay theirs: a server restarted on the port it had,
or a port nobody listens on (an exchange that is down).

A port the kernel hands out for port 0 comes from the ephemeral range
(``net.ipv4.ip_local_port_range``, 32768-60999 here).  Between a server's stop and its
restart on that port, anything binding port 0 may get it: in a fresh clone's run the
restarted workspace's own simulator did, and the server's restart failed "address
already in use".  Outgoing connections take their local ports from the same range (a
client reconnecting to a port in it may even connect to itself).  A port below the
range is never handed out that way; each pytest-xdist worker takes its own share of
them, so two workers never pick the same one.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10_000  # (below: well-known and registered services' ports)
SHARES = 8


def _ephemeral_start() -> int:
    try:
        return int(RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def quiet_port() -> int:
    """A free port on 127.0.0.1 below the ephemeral range, in this worker's share."""
    top = _ephemeral_start()
    if top - LOWEST < SHARES * 100:
        raise RuntimeError(f"no room for test ports below the ephemeral range ({top})")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    share = int(worker[2:]) % SHARES if worker[2:].isdigit() else 0
    size = (top - LOWEST) // SHARES
    low = LOWEST + share * size
    for _ in range(500):
        port = random.randrange(low, low + size)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {low}-{low + size}")
