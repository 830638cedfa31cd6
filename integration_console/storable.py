"""Making whatever a source sends safe to store, so that recording a failure cannot fail.

PostgreSQL refuses in ``jsonb`` and ``text`` what Python holds happily: NUL characters, lone
surrogates, NaN and the infinities (SQLite stores them all). Huge values would bloat every row
that copies them. Payloads that go to a target are checked, not cleaned (see
``unsendable_values``); what is cleaned here is only the copy kept for people to read.
"""

import hashlib
import math
from typing import Any

MAX_TEXT = 10_000
MAX_ITEMS = 500
MAX_DEPTH = 20
MAX_ID = 200


def storable_text(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` with NUL shown as ``\\u0000``, lone surrogates as U+FFFD, cut to ``limit``."""
    if "\x00" in text:
        text = text.replace("\x00", "\\u0000")
    text = text.encode("utf-8", "replace").decode("utf-8")
    if len(text) > limit:
        text = f"{text[: limit - 40]}… ({len(text):,} characters in all)"
    return text


def storable(value: Any, *, depth: int = 0) -> Any:
    """A JSON value that both databases store, as close to ``value`` as that allows."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return storable_text(value)
    if depth >= MAX_DEPTH:
        return "… (nested too deep)"
    if isinstance(value, dict):
        items = list(value.items())
        kept = {
            storable_text(str(key), 200): storable(item, depth=depth + 1)
            for key, item in items[:MAX_ITEMS]
        }
        if len(items) > MAX_ITEMS:
            kept["…"] = f"{len(items) - MAX_ITEMS:,} more fields"
        return kept
    if isinstance(value, list | tuple):
        kept_list = [storable(item, depth=depth + 1) for item in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            kept_list.append(f"… {len(value) - MAX_ITEMS:,} more items")
        return kept_list
    return storable_text(repr(value))


def storable_id(value: str) -> str:
    """An id that fits the id columns: a longer one is cut and made unique by its hash."""
    value = storable_text(value, limit=10 * MAX_ID)
    if len(value) <= MAX_ID:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:12]
    return f"{value[: MAX_ID - 14]}…#{digest}"


def unsendable_values(payload: dict[str, Any]) -> dict[str, list[str]]:
    """Field errors for values no target should receive: NaN and infinities (not JSON), NUL
    characters and lone surrogates (not text)."""
    errors: dict[str, list[str]] = {}
    for name, value in payload.items():
        problem = _unsendable(value)
        if problem:
            errors[storable_text(str(name), 200)] = [problem]
    return errors


def _unsendable(value: Any, depth: int = 0) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a number a target can receive."
    if isinstance(value, str):
        if "\x00" in value:
            return "Contains a NUL character."
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "Contains characters that are not valid Unicode."
        return ""
    if depth < MAX_DEPTH and isinstance(value, dict):
        return next((p for v in value.values() if (p := _unsendable(v, depth + 1))), "")
    if depth < MAX_DEPTH and isinstance(value, list | tuple):
        return next((p for v in value if (p := _unsendable(v, depth + 1))), "")
    return ""
