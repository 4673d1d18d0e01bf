"""The Redis keys of the scale-out, in one place (docs/scale-out.md, "Streams").

Every key starts with a prefix (``ws`` by default, ``--bus-prefix``) so that several
workspaces can share one Redis.  ``{...}`` parts are upper-case symbols, user names
(``workspace.users`` names: ``a-z 0-9 _ -``), gateway ids (random hex) and shard
numbers, none of which contains the separator ``:``.

=================================  ========================================================
key                                holds
=================================  ========================================================
``P:market:{SYM}:ticker``          ``MARKET_UPDATE``s of a symbol (``MAXLEN ~``)
``P:market:{SYM}:book``            ``BOOK_UPDATE``s (20 levels a side) of a symbol
``P:feed:{SYM}``                   the feed owner's market records of a symbol (tickers,
                                   trades, book tickers, depth diffs), for the engines
                                   of the other shards (``--feed bus``)
``P:status``                       the market side's state (feed, source, gaps) as STATUS
``P:events:{user}``                every account event of a user, entry id ``{seq}-0``
``P:journal:{user}``               the id of the journal ``P:events:{user}`` copies
``P:state:{user}``                 a user's ``POSITION_UPDATE`` / ``PORTFOLIO_UPDATE`` /
                                   ``STATUS``, latest few
``P:commands:{shard}``             commands for the accounts of one shard (group ``engine``)
``P:commands:market``              commands for the market side (symbols, books, candles)
``P:replies:{gateway}``            the replies a gateway waits for (expires when idle)
``P:engine:{shard}``               the shard's engine: its claim and heartbeat (expires)
``P:feed-owner``                   which engine owns the market feed (expires)
=================================  ========================================================
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "ws"
ENGINE_GROUP = "engine"
MARKET = "market"


@dataclass(frozen=True, slots=True)
class BusKeys:
    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if not self.prefix or ":" in self.prefix or len(self.prefix) > 32:
            raise ValueError(f"bus prefix {self.prefix!r}: 1 to 32 characters, no ':'")

    def ticker(self, symbol: str) -> str:
        return f"{self.prefix}:market:{symbol}:ticker"

    def book(self, symbol: str) -> str:
        return f"{self.prefix}:market:{symbol}:book"

    def feed(self, symbol: str) -> str:
        return f"{self.prefix}:feed:{symbol}"

    @property
    def status(self) -> str:
        return f"{self.prefix}:status"

    def events(self, user: str) -> str:
        return f"{self.prefix}:events:{user}"

    def journal(self, user: str) -> str:
        return f"{self.prefix}:journal:{user}"

    def state(self, user: str) -> str:
        return f"{self.prefix}:state:{user}"

    def commands(self, shard: int | str) -> str:
        return f"{self.prefix}:commands:{shard}"

    @property
    def market_commands(self) -> str:
        return self.commands(MARKET)

    def replies(self, gateway: str) -> str:
        return f"{self.prefix}:replies:{gateway}"

    def engine(self, shard: int | str) -> str:
        return f"{self.prefix}:engine:{shard}"

    @property
    def feed_owner(self) -> str:
        return f"{self.prefix}:feed-owner"
