"""The local book's diff ingestion (``workspace/market/book_ingest.py``) compiled with
mypyc and as plain Python give the same sides, level for level, on the same diffs:
the compiled module the suite runs on against the source file loaded as plain Python
beside it."""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from workspace.market import book_ingest

SOURCE = Path(__file__).resolve().parents[2] / "workspace" / "market" / "book_ingest.py"


def plain_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("book_ingest_plain", SOURCE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def diffs(seed: int, count: int) -> list[tuple[tuple[str, str], ...]]:
    """Diffs as the exchange writes them, and some it does not (the exact path's)."""
    rng = random.Random(seed)
    spelled: list[Callable[[float, float], tuple[str, str]]] = [
        lambda p, q: (f"{p:.8f}", f"{q:.8f}"),
        lambda p, q: (f"{p:.2f}", f"{q:.8f}"),  # a price not written with 8 decimals
        lambda p, q: (f"{p:.8f}", f"{q:.3f}"),  # nor a quantity
        lambda p, q: (f"0{p:.8f}", f"{q:.8f}"),  # a leading zero
        lambda p, q: (f"{p:.8f}", "0.0"),  # a zero spelled otherwise
        lambda p, q: (f"{p:.8f}", "nan00000000"),
        lambda p, q: ("", ""),
    ]
    out = []
    for _ in range(count):
        levels = []
        for _ in range(rng.randint(0, 25)):
            price = 97_000 + rng.randint(-400, 400) * 0.01
            quantity = 0.0 if rng.random() < 0.35 else rng.random() * 3
            way = spelled[0] if rng.random() < 0.9 else rng.choice(spelled)
            levels.append(way(price, quantity))
        out.append(tuple(levels))
    return out


def test_compiled_and_plain_ingestion_keep_the_same_sides_and_walks() -> None:
    plain = plain_module()
    assert plain.__file__ != book_ingest.__file__
    sides: dict[str, tuple[dict[str, str], dict[str, int], list[int], list[str]]] = {
        "compiled": ({}, {}, [], []),
        "plain": ({}, {}, [], []),
    }
    for levels in diffs(seed=11, count=3_000):
        verdicts = {
            "compiled": book_ingest.written_e8(sides["compiled"][1], levels),
            "plain": plain.written_e8(sides["plain"][1], levels),
        }
        assert verdicts["compiled"] == verdicts["plain"], levels
        if not verdicts["compiled"]:
            continue
        dead = {
            "compiled": book_ingest.apply_e8(*sides["compiled"], levels),
            "plain": plain.apply_e8(*sides["plain"], levels),
        }
        assert dead["compiled"] == dead["plain"]
        assert sides["compiled"] == sides["plain"]
    qty, listed, keys, prices = sides["compiled"]
    assert keys == sorted(keys)
    assert [listed[p] for p in prices] == keys
    assert set(qty) <= set(listed)
    # a taker's walk reads the same levels from both, each way up, skipping dead keys
    plain_levels = plain.taker_levels
    for descending in (False, True):
        compiled_walk = list(book_ingest.taker_levels(keys, prices, qty, {}, {}, descending))
        plain_walk = list(plain_levels(keys, prices, qty, {}, {}, descending))
        assert compiled_walk == plain_walk
        assert len(compiled_walk) == len(qty)
        assert [k for k, _ in compiled_walk] == sorted((listed[p] for p in qty), reverse=descending)
