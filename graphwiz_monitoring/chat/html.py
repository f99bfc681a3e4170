"""HTML parse mode for everything the bot writes: user data escaped, an alert message rebuilt for editing.

Only ``<``, ``>`` and ``&`` are special in Telegram's HTML mode; every value that did not come from
this code (user names, command arguments, alert titles, rule names, labels, trader reasons) goes
through ``escape``. To append "acknowledged by ..." to an alert message, the bot edits it: a
``callback_query`` carries the message as plain text plus ``entities`` (offsets in UTF-16 code
units), which ``entities_html`` turns back into the HTML the channel sent, so the edit keeps its bold.
"""

from __future__ import annotations

from typing import Any

from graphwiz_monitoring.alerting.channels.telegram import escape

__all__ = ["entities_html", "escape"]

TAGS = {"bold": "b", "italic": "i", "underline": "u", "strikethrough": "s", "code": "code", "pre": "pre",
        "spoiler": "tg-spoiler"}


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le")


def entities_html(text: str, entities: list[dict[str, Any]] | None) -> str:
    """``text`` as HTML with its formatting entities; entities that overlap or are unknown become plain text."""
    raw, out, pos = _utf16(text), [], 0
    spans: list[tuple[int, int, str]] = sorted(
        (int(e["offset"]), int(e["length"]), str(e.get("type"))) for e in entities or []
        if isinstance(e, dict) and isinstance(e.get("offset"), int) and isinstance(e.get("length"), int))
    for offset, length, kind in spans:
        start, end = 2 * offset, 2 * (offset + length)
        if kind not in TAGS or start < pos or end > len(raw):  # nested/overlapping: keep the text, drop the style
            continue
        tag = TAGS[kind]
        out.append(escape(raw[pos:start].decode("utf-16-le", errors="replace")))
        out.append(f"<{tag}>{escape(raw[start:end].decode('utf-16-le', errors='replace'))}</{tag}>")
        pos = end
    out.append(escape(raw[pos:].decode("utf-16-le", errors="replace")))
    return "".join(out)
