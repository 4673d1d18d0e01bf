"""Every relative link in the README and docs/ reaches a file, and every ``#anchor`` a
heading of it, as GitHub renders them: the README's benchmark table alone links a
dozen dated sections of docs/trading.md, and renaming a heading broke none visibly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (backticks,
    parentheses, commas, dots), spaces become hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """The anchors of a file's headings (outside code fences); a repeated heading gets
    ``-1``, ``-2`` ... as GitHub numbers them."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match is None:
            continue
        name = slug(match.group(2))
        count = seen.get(name, 0)
        seen[name] = count + 1
        found.add(name if count == 0 else f"{name}-{count}")
    return found


def headings(page: Path) -> set[str]:
    return anchors(page.read_text(encoding="utf-8"))


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, fragment = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif fragment and destination.suffix == ".md" and fragment not in headings(destination):
            broken.append(f"{target}: no such heading")
    return broken


@pytest.mark.parametrize("page", DOCS, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_reaches_its_file_and_heading(page: Path) -> None:
    assert broken_links(page) == []


def test_the_checker_sees_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text(
        "# A heading (`with code`), 2026-12-07\n## Twice\n## Twice\n"
    )
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#a-heading-with-code-2026-12-07) [ok](other.md#twice-1) "
        "[file](gone.md) [heading](other.md#nowhere) [web](https://example.com/x#y)\n"
        "```\n# not a heading\n```\n[fenced](#not-a-heading)\n"
    )
    assert broken_links(page) == [
        "gone.md: no such file",
        "other.md#nowhere: no such heading",
        "#not-a-heading: no such heading",
    ]
