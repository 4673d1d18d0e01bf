"""The browser side of each panel: ESM and CSS read from ``widgets/static/``.

There is no front-end build: every panel's module is ``common.js`` (helpers shared by
all panels: formatting, the error bar, latency sampling) followed by the panel's own
``<name>.js``, and its stylesheet is ``common.css`` followed by ``<name>.css``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

STATIC = Path(__file__).parent / "static"


@cache
def _read(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def panel_esm(name: str) -> str:
    return f"{_read('common.js')}\n// ---- {name}.js ----\n{_read(name + '.js')}"


def panel_css(name: str) -> str:
    return f"{_read('common.css')}\n/* ---- {name}.css ---- */\n{_read(name + '.css')}"
