"""Per-connection limits: a token bucket for commands and the server's configuration.

The bucket takes its clock as an argument so it is tested without sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerLimits:
    max_frame_bytes: int = 64 * 1024  # larger frames close the connection with 1009
    commands_per_s: float = 20.0  # sustained command rate before RATE_LIMITED
    command_burst: float = 40.0
    # A client whose rejected commands outrun this second bucket keeps flooding: 1008.
    rejections_per_s: float = 20.0
    rejection_burst: float = 100.0
    max_symbols: int = 200
    max_alerts: int = 200
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


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; ``take(now)`` spends one."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at = now

    def take(self, now: float) -> bool:
        elapsed = max(0.0, now - self._at)
        self._at = now
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class CommandGate:
    """The rate-limit policy of one connection: ``admit`` says whether a command runs;
    ``flooding`` turns true once rejected commands keep coming faster than the
    rejection bucket refills."""

    def __init__(self, limits: ServerLimits, now: float) -> None:
        self._commands = TokenBucket(limits.commands_per_s, limits.command_burst, now)
        self._rejections = TokenBucket(limits.rejections_per_s, limits.rejection_burst, now)
        self.flooding = False
        self.rejected = 0

    def admit(self, now: float) -> bool:
        if self._commands.take(now):
            return True
        self.rejected += 1
        if not self._rejections.take(now):
            self.flooding = True
        return False
