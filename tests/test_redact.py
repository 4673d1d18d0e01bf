"""``workspace.redact``: what a token looks like in a log line, blanked."""

from __future__ import annotations

import pytest

from workspace.redact import redacted


@pytest.mark.parametrize(
    ("line", "clean"),
    [
        ("< GET /api/ws/realtime?token=abc HTTP/1.1", "< GET /api/ws/realtime?token=*** HTTP/1.1"),
        (
            "> GET /x?since=5&token=a%2Fb&journal_id=j HTTP/1.1",
            "> GET /x?since=5&token=***&journal_id=j HTTP/1.1",
        ),
        ("< Authorization: Bearer abc.def", "< Authorization: Bearer ***"),
        ("< authorization: bearer abc", "< authorization: bearer ***"),
        ("GET /health?TOKEN=abc#frag", "GET /health?TOKEN=***#frag"),
        ("< GET /api/ws/realtime?since=3 HTTP/1.1", "< GET /api/ws/realtime?since=3 HTTP/1.1"),
        ("a tokenizer=abc stays", "a tokenizer=abc stays"),
    ],
)
def test_tokens_are_blanked_and_nothing_else(line: str, clean: str) -> None:
    assert redacted(line) == clean
