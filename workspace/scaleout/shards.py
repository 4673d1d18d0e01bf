"""Which engine owns which account: ``--shard i/N``, users assigned by a stable hash
(the first 8 bytes of SHA-256 of the name, modulo N), the same on every machine and
every run, whatever the order of the users file."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from workspace.errors import InvalidParams

SINGLE_USER = "default"
"""The account's name on the bus when the engine runs without a users file."""


@dataclass(frozen=True, slots=True)
class Shard:
    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise InvalidParams(f"shard {self.index}/{self.count}: expected i/N with 0 <= i < N")

    @classmethod
    def parse(cls, text: str) -> Shard:
        index, sep, count = text.partition("/")
        if not sep or not index.strip().isdigit() or not count.strip().isdigit():
            raise InvalidParams(f"--shard {text!r}: expected i/N (e.g. 0/2)")
        return cls(int(index), int(count))

    def owns(self, user: str) -> bool:
        return shard_of(user, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(user: str, count: int) -> int:
    digest = hashlib.sha256(user.encode()).digest()
    return int.from_bytes(digest[:8], "big") % count
