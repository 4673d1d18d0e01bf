"""Per-connection limits: the server's configuration, a token bucket for commands and
the gate that applies it (commands, and the bulk work of resumes and replays).

The bucket takes its clock as an argument so it is tested without sleeping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from workspace.config_types import check_field_types

_ROUNDING = 1e-9  # tokens


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerLimits:
    max_frame_bytes: int = 64 * 1024  # larger frames close the connection with 1009
    commands_per_s: float = 20.0  # sustained command rate before RATE_LIMITED
    command_burst: float = 40.0
    # A client whose rejected commands outrun this second bucket keeps flooding: 1008.
    rejections_per_s: float = 20.0
    rejection_burst: float = 100.0
    # Bulk work (the order events a resume sends, the ticks a replay sends) is paid
    # from the same budget: this many messages cost one command.  A stream spends only
    # what the bucket holds above half its burst (the rest stays for commands) and
    # waits for the bucket to refill otherwise, so one connection streams at most
    # commands_per_s * bulk_messages_per_command messages a second (10,000) however
    # often it asks.
    bulk_messages_per_command: int = 500
    # A resume reads and queues the journal's events this many at a time, and waits
    # for its client to take most of a page before reading the next: the loop serves
    # everyone else between pages, and a connection never holds more than about two
    # pages of history.
    resume_page_size: int = 200
    # Order events that resumes of every connection together may start per loop turn
    # (the others wait for the next turns): what a ping waits behind, at most, when
    # many clients resume at once.
    resume_events_per_turn: int = 400
    max_symbols: int = 200
    max_alerts: int = 200
    # Connections open at once from one IP address, and with one token (when the server
    # has a token); None = no cap.  A connection beyond them is closed at once with 1008
    # and a reason that says which cap (a browser sees a close reason, never an HTTP
    # status).  A runaway client (a reconnect loop that leaks sockets) cannot take
    # every file descriptor, nor crowd out the others.
    max_connections_per_address: int | None = 512
    max_connections_per_token: int | None = 1024
    # A client whose socket takes no byte for this long (it stopped reading) is closed
    # with 1008; one that reads again in time gets its events, then fresh prices.
    stall_timeout_s: float = 10.0
    # How long a closing client may take to read the closing frame before it is cut.
    close_grace_s: float = 2.0
    # The buffers between the outbox and the client: websockets' write buffer
    # (high-water mark) and the data the kernel holds unsent (TCP_NOTSENT_LOWAT, so a
    # socket whose client stops reading stops taking data once this much is waiting;
    # the kernel's send buffer still autotunes for clients that read fast).  Small, so
    # that "the socket takes data" means "the client is reading": what the client has
    # not read is never more than these few tens of KB beyond its own receive buffer,
    # and everything newer waits in the outbox, conflated.  None = no limit.
    write_limit_bytes: int = 32 * 1024
    unsent_limit_bytes: int | None = 16 * 1024
    # A fixed kernel send buffer (SO_SNDBUF) instead of autotuning; None = the OS's.
    # Small fixed buffers hold back healthy clients when thousands share a machine.
    socket_send_buffer: int | None = None
    ping_interval_s: float | None = 20.0
    ping_timeout_s: float | None = 20.0

    def __post_init__(self) -> None:
        check_field_types(self)
        # every limit is a count, a rate or a time: > 0 (None where it means "none");
        # "not x > 0" also refuses a NaN, which fails every comparison
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if value is None and name in _NONE_MEANS_NO_LIMIT:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"ServerLimits.{name} must be a number > 0, got {value!r}")
            if value == math.inf:
                raise ValueError(f"ServerLimits.{name} must be finite (None for no limit)")
        if self.command_burst < 1 or self.rejection_burst < 1:
            raise ValueError("ServerLimits.command_burst and rejection_burst must be >= 1")


_NONE_MEANS_NO_LIMIT = frozenset(
    {
        "max_connections_per_address",
        "max_connections_per_token",
        "unsent_limit_bytes",
        "socket_send_buffer",
        "ping_interval_s",
        "ping_timeout_s",
    }
)


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; ``take(now)`` spends one."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at = now

    def level(self, now: float) -> float:
        """The tokens in the bucket at ``now`` (refilled since the last call)."""
        elapsed = max(0.0, now - self._at)
        self._at = max(self._at, now)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        return self._tokens

    def take(self, now: float) -> bool:
        if self.level(now) >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def take_above(self, cost: float, keep: float, now: float) -> float:
        """Spend ``cost`` tokens if that leaves at least ``keep``: 0.0; otherwise spend
        nothing and return the seconds until it would."""
        cost = min(cost, self.burst - keep)  # what can never be afforded waits a full refill
        missing = cost + keep - self.level(now)
        # Within rounding of the refill the wait is over: a wait of 1e-16 s would add
        # nothing to the clock and be asked for again and again.
        if missing <= _ROUNDING:
            self._tokens -= cost
            return 0.0
        return missing / self.rate


class CommandGate:
    """The rate-limit policy of one connection: ``admit`` says whether a command runs;
    ``flooding`` turns true once rejected commands keep coming faster than the
    rejection bucket refills; ``bulk`` charges a stream's messages to the same budget."""

    def __init__(self, limits: ServerLimits, now: float) -> None:
        self._commands = TokenBucket(limits.commands_per_s, limits.command_burst, now)
        self._rejections = TokenBucket(limits.rejections_per_s, limits.rejection_burst, now)
        self._per_command = max(1, limits.bulk_messages_per_command)
        self._reserve = limits.command_burst / 2
        self.flooding = False
        self.rejected = 0

    def admit(self, now: float) -> bool:
        if self._commands.take(now):
            return True
        self.rejected += 1
        if not self._rejections.take(now):
            self.flooding = True
        return False

    def bulk(self, messages: int, now: float) -> float:
        """Charge ``messages`` streamed messages: 0.0 once paid, else the seconds to
        wait before charging them again (the stream pauses; commands keep the reserve)."""
        return self._commands.take_above(messages / self._per_command, self._reserve, now)
