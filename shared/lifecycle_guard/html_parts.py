"""Pieces of the report page every section uses: a table whose cells may link into HubSpot, every string escaped."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Link:
    """A table cell linking into HubSpot (plain text when the portal id, and so the address, is unknown)."""

    text: str
    href: str


@dataclass(frozen=True)
class Marked:
    """A table cell in one of the page's status styles (``FAIL``: red and bold), to stand out of its column."""

    text: str
    style: str


def cell(value: Any) -> str:
    if isinstance(value, Marked):
        return f'<span class="{html.escape(value.style)}">{html.escape(value.text)}</span>'
    if isinstance(value, Link):
        text = html.escape(value.text)
        return f'<a href="{html.escape(value.href)}">{text}</a>' if value.href else text
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "-"}[value]
    return html.escape(str(value))


def table(headers: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()

    def tag(name: str, index: int, inner: str) -> str:
        return f'<{name} class="n">{inner}</{name}>' if index in numeric else f"<{name}>{inner}</{name}>"

    head = "".join(tag("th", i, html.escape(h)) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(tag("td", i, cell(c)) for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body or '<tr><td>none</td></tr>'}</tbody></table>"
