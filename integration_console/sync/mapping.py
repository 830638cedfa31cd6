"""Turning a source record into a target payload with a field-map version's rules, and the
operators' corrections that hold until the source changes."""

from dataclasses import dataclass, field
from typing import Any

from integration_console.catalog.models import FieldRule
from integration_console.catalog.schema import is_blank
from integration_console.catalog.transforms import TransformError, apply_chain

from .failures import FailureKind, RecordFailure, describe_field_errors


@dataclass(frozen=True)
class KeptCorrection:
    """An operator's value for one target field, kept while the source still holds
    ``source_value`` at the rule's source path."""

    target_field: str
    source_value: Any
    value: Any


@dataclass
class Transformed:
    payload: dict[str, Any]
    # target field -> {"from": what the map made of the source, "to": the operator's value}
    corrected: dict[str, dict[str, Any]] = field(default_factory=dict)
    # target field -> the source's new value, for corrections the source has overtaken
    outdated: dict[str, Any] = field(default_factory=dict)


def get_path(record: dict[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def transform_record(
    rules: list[FieldRule],
    record: dict[str, Any],
    corrections: dict[str, KeptCorrection] | None = None,
) -> Transformed:
    """The target payload for ``record``, with the corrections that still hold applied.

    An optional field with no value (None) is left out rather than sent as null: targets
    refuse null where they expect text. Raises RecordFailure(mapping_error) listing every field
    whose transform failed or whose required source value is missing."""
    result = Transformed(payload={})
    errors: dict[str, list[str]] = {}
    for rule in rules:
        raw = get_path(record, rule.source_path)
        correction = (corrections or {}).get(rule.target_path)
        if correction is not None and correction.source_value != raw:
            result.outdated[rule.target_path] = raw
            correction = None
        try:
            value = apply_chain(rule.transform, raw)
        except TransformError as exc:
            if correction is None:
                errors.setdefault(rule.target_path, []).append(str(exc))
                continue
            value = None
        if correction is not None:
            result.corrected[rule.target_path] = {"from": value, "to": correction.value}
            value = correction.value
        if rule.required and is_blank(value):
            errors.setdefault(rule.target_path, []).append(
                f"Required, but the source field {rule.source_path!r} is empty."
            )
            continue
        if value is not None:
            result.payload[rule.target_path] = value
    if errors:
        raise RecordFailure(
            kind=FailureKind.MAPPING_ERROR,
            reason=f"The field map could not transform the record. {describe_field_errors(errors)}",
            field_errors=errors,
        )
    return result
