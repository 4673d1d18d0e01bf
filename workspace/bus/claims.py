"""Claims on the bus: what exactly one process may hold at a time (a shard's engine,
the market feed's owner), kept alive by a beat that renews them only while they are
still the holder's.

A plain heartbeat (``SET key value PX ttl``) would take a claim back from whoever
holds it: an engine cut off from Redis for longer than its claim lives, whose shard a
second engine claimed meanwhile, would overwrite that claim when it came back, and two
engines would run one shard (each with an account of its own, both numbering events
from the same ``seq``).  The beat here renews atomically (one Lua script) and, finding
another holder, raises :class:`ClaimLost`: the process that lost its claim stops.  A
claim is taken with ``SET NX`` (:func:`take_claim`) and given back only by its holder
(:func:`release_claim`).
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from workspace.bus.link import is_transient, raise_if_cancelled
from workspace.bus.rpc import HEARTBEAT_TTL_MS
from workspace.errors import WorkspaceError

BEAT_S = 3.0  # (a claim lapses HEARTBEAT_TTL_MS after its holder's last beat)

# nil when the claim was renewed (or free, and now taken), else who holds it
_RENEW = """
local held = redis.call('GET', KEYS[1])
if held == false or held == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return false
end
return held
"""


# deletes the claim only while it is the caller's
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return false
"""


async def take_claim(redis: Redis, key: str, mine: str) -> str | None:
    """Claim ``key`` for ``mine`` if no one holds it, or ``mine`` already does (the same
    process restarted in its place): ``None``; else who holds it.  The beat
    (:func:`claim_beat`) keeps it from then on."""
    if await redis.set(key, mine.encode(), px=HEARTBEAT_TTL_MS, nx=True):
        return None
    found = await redis.get(key)
    holder = found.decode(errors="replace") if isinstance(found, bytes) else found
    return None if holder is None or holder == mine else str(holder)


async def release_claim(redis: Redis, key: str, mine: str) -> None:
    """Give ``key`` back at once, if it is still ``mine`` (else it lapses by itself)."""
    await redis.eval(_RELEASE, 1, key, mine)


class ClaimLost(WorkspaceError):
    """Another process holds what this one claimed: it must stop doing what the claim
    allowed."""

    def __init__(self, what: str, holder: str) -> None:
        super().__init__(
            f"{what} was claimed by another engine ({holder}) while this one was cut off "
            "from Redis for longer than its claim lives: stopping, so that one runs it"
        )
        self.holder = holder


async def claim_beat(redis: Redis, key: str, mine: str, what: str, every_s: float = BEAT_S) -> None:
    """Keep the claim ``key`` = ``mine`` alive while this runs; raises
    :class:`ClaimLost` once another holder has it (``what`` names it for people).
    While this process cannot reach Redis the beat keeps trying; the claim lapses
    10 s after its last renewal, and whoever claims it then holds it."""
    while True:
        try:
            holder = await redis.eval(_RENEW, 1, key, mine, HEARTBEAT_TTL_MS)
        except Exception as error:
            raise_if_cancelled(error)
            if not is_transient(error):
                raise
        else:
            if holder is not None:
                text = holder.decode(errors="replace") if isinstance(holder, bytes) else holder
                raise ClaimLost(what, str(text))
        raise_if_cancelled()
        await asyncio.sleep(every_s)
