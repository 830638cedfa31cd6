"""Masking values before they are stored or shown.

Two different things are masked, for two different reasons:

- a record's **sensitive fields**, which its data class declares in its schema
  (``{"name": "iban", "type": "string", "sensitive": true}``): ``sensitive_fields`` reads the
  declaration, ``mask_payload`` masks those fields of a payload or source record;
- **connector secrets** (tokens, passwords, API keys in settings and requests): ``redact``
  masks them by key name. It never guesses at record fields: "author" is not "auth", and
  whether "iban" is sensitive is for the data class to say.
"""

import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from integration_console.catalog.transforms import record_paths

MASK = "••••••"

# Words (split at separators and camelCase) that name a credential, and the pairs that do.
SECRET_WORDS = frozenset(
    {"password", "passwords", "passwd", "secret", "secrets", "token", "tokens", "apikey"}
    # an HTTP header that carries a token; "author" is a different word
    | {"authorization"}
)
SECRET_WORD_PAIRS = frozenset({("api", "key")})
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def is_secret_key(key: Any) -> bool:
    """Does ``key`` name a connector secret (``api_key``, ``accessToken``, ``db_password``)?"""
    words = [word.lower() for word in _WORD.findall(str(key))]
    return any(word in SECRET_WORDS for word in words) or any(
        pair in SECRET_WORD_PAIRS for pair in zip(words, words[1:], strict=False)
    )


def redact(value: Any) -> Any:
    """A copy of ``value`` with connector secrets masked, at any depth. For settings, request
    headers and the like; a record's fields are masked with ``mask_payload``."""
    if isinstance(value, Mapping):
        return {key: MASK if is_secret_key(key) else redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def sensitive_fields(fields: list[dict]) -> set[str]:
    """The names of a data class's fields that its schema declares ``"sensitive": true``."""
    return {
        field["name"]
        for field in fields
        if isinstance(field, dict) and field.get("name") and field.get("sensitive") is True
    }


class _Rule(Protocol):
    source_path: str
    target_path: str
    transform: str


def sensitive_source_paths(rules: Iterable[_Rule], sensitive: set[str]) -> set[str]:
    """The source paths that field-map rules read into sensitive target fields, those their
    ``template:`` and ``concat:`` steps read included: what to mask in a source record
    (``mask_payload`` follows dotted paths)."""
    paths: set[str] = set()
    for rule in rules:
        if rule.target_path in sensitive:
            paths |= {rule.source_path, *record_paths(getattr(rule, "transform", ""))}
    return paths - {""}


def mask_payload(payload: Mapping[str, Any], sensitive: Iterable[str]) -> dict[str, Any]:
    """A copy of ``payload`` with the values of the ``sensitive`` keys replaced by MASK; a
    dotted key (``bank.iban``) reaches into nested objects. Empty values (None, "") stay
    as they are: a mask would claim a value that is not there. The original is unchanged."""
    masked = dict(payload)
    for path in sensitive:
        _mask_path(masked, path)
    return masked


def _mask_path(record: dict[str, Any], path: str) -> None:
    if path in record:
        if record[path] is not None and record[path] != "":
            record[path] = MASK
        return
    head, dot, rest = path.partition(".")
    if dot and isinstance(record.get(head), Mapping):
        record[head] = dict(record[head])  # copied before it changes: the original stays whole
        _mask_path(record[head], rest)


def contains_mask(value: Any) -> bool:
    """Does ``value`` hold MASK anywhere? A payload that does must never be sent anywhere."""
    if isinstance(value, Mapping):
        return any(contains_mask(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(contains_mask(item) for item in value)
    return value == MASK
