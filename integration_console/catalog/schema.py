"""The data-class contract: checking a schema definition, and checking a payload against it."""

import re
from typing import Any

# "object" and "list" hold a target's nested records (a party's addresses, say), which field
# rules fill through paths such as ``addresses[0].city``.
FIELD_TYPES = ("string", "integer", "number", "boolean", "date", "datetime", "object", "list")
_TYPE_CHECKS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "date": (str,),
    "datetime": (str,),
    "object": (dict,),
    "list": (list,),
}


def schema_errors(schema: Any) -> list[str]:
    """Problems with a schema definition, as sentences; empty when it is well formed."""
    if not isinstance(schema, dict) or not isinstance(schema.get("fields"), list):
        return ['The schema must be an object with a "fields" list.']
    errors = []
    seen: set[str] = set()
    for index, field in enumerate(schema["fields"], start=1):
        if not isinstance(field, dict) or not field.get("name"):
            errors.append(f"Field {index} needs a name.")
            continue
        name = field["name"]
        if name in seen:
            errors.append(f"Field {name!r} is defined twice.")
        seen.add(name)
        if field.get("type", "string") not in FIELD_TYPES:
            errors.append(f"Field {name!r} has an unknown type {field.get('type')!r}.")
        if not isinstance(field.get("sensitive", False), bool):
            errors.append(f'Field {name!r}: "sensitive" must be true or false.')
        if field.get("pattern"):
            try:
                re.compile(field["pattern"])
            except re.error as exc:
                errors.append(f"Field {name!r} has an invalid pattern: {exc}.")
    return errors


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def payload_errors(fields: list[dict], payload: dict[str, Any]) -> dict[str, list[str]]:
    """Field-level errors of ``payload`` against a data class's fields (required, type,
    allowed values, pattern). Fields the schema does not know are reported too."""
    errors: dict[str, list[str]] = {}
    known = {field["name"] for field in fields}
    for field in fields:
        name = field["name"]
        value = payload.get(name)
        if is_blank(value):
            if field.get("required"):
                errors.setdefault(name, []).append("This field is required.")
            continue
        expected = _TYPE_CHECKS[field.get("type", "string")]
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            errors.setdefault(name, []).append(f"Expected a {field.get('type', 'string')}.")
            continue
        # A sensitive value is never repeated in an error: errors reach items and the audit.
        shown = "The value" if field.get("sensitive") is True else repr(value)
        allowed = field.get("allowed_values")
        if allowed and value not in allowed:
            errors.setdefault(name, []).append(
                f"{shown} is not one of the allowed values: {', '.join(map(str, allowed))}."
            )
        pattern = field.get("pattern")
        if pattern and isinstance(value, str) and not re.fullmatch(pattern, value):
            errors.setdefault(name, []).append(f"{shown} does not match the expected format.")
    for name in payload.keys() - known:
        errors.setdefault(name, []).append("Not a field of this data class.")
    return errors
