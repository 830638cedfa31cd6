"""Turning a source record into a target payload with a field-map version's rules."""

from typing import Any

from integration_console.catalog.models import FieldRule
from integration_console.catalog.schema import is_blank
from integration_console.catalog.transforms import TransformError, apply_chain

from .failures import FailureKind, RecordFailure, describe_field_errors


def get_path(record: dict[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def transform_record(rules: list[FieldRule], record: dict[str, Any]) -> dict[str, Any]:
    """The target payload for ``record``. Raises RecordFailure(mapping_error) listing every
    field whose transform failed or whose required source value is missing."""
    payload: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for rule in rules:
        value = get_path(record, rule.source_path)
        try:
            value = apply_chain(rule.transform, value)
        except TransformError as exc:
            errors.setdefault(rule.target_path, []).append(str(exc))
            continue
        if rule.required and is_blank(value):
            errors.setdefault(rule.target_path, []).append(
                f"Required, but the source field {rule.source_path!r} is empty."
            )
            continue
        payload[rule.target_path] = value
    if errors:
        raise RecordFailure(
            kind=FailureKind.MAPPING_ERROR,
            reason=f"The field map could not transform the record. {describe_field_errors(errors)}",
            field_errors=errors,
        )
    return payload
