"""Masking secrets before a payload is stored in an audit entry or a review item."""

import re
from typing import Any

MASK = "••••••"
SECRET_KEY_PATTERN = re.compile(r"pass(word)?|secret|token|api[_-]?key|auth|iban|card", re.I)


def redact(value: Any) -> Any:
    """A copy of ``value`` with the values of secret-looking keys masked, at any depth."""
    if isinstance(value, dict):
        return {
            key: MASK if SECRET_KEY_PATTERN.search(str(key)) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value
