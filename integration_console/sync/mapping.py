"""Turning a source record into a target payload with a field-map version's rules, and the
operators' corrections that hold until the source changes."""

import re
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


_SEGMENT = re.compile(r"(?P<name>[^.\[\]]+)(?:\[(?P<index>\d+)\])?")


def target_field(path: str) -> str:
    """The data-class field a target path fills: ``addresses[0].city`` fills ``addresses``."""
    match = _SEGMENT.match(path)
    return match["name"] if match else path


def set_path(payload: dict[str, Any], path: str, value: Any) -> None:
    """Put ``value`` at ``path`` in ``payload``, building the objects and lists on the way:
    ``contact_mechanisms[0].value`` makes ``{"contact_mechanisms": [{"value": ...}]}``, so one
    record's fields can fill a target's nested records."""
    segments = [_SEGMENT.fullmatch(part) for part in path.split(".")]
    if not all(segments):
        raise ValueError(f"Not a target path: {path!r}.")
    container: Any = payload
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        name, index = segment["name"], segment["index"]
        if index is None:
            if last:
                container[name] = value
            else:
                container = container.setdefault(name, {})
            continue
        items = container.setdefault(name, [])
        while len(items) <= int(index):
            items.append({})
        if last:
            items[int(index)] = value
        else:
            container = items[int(index)]


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
            value = apply_chain(rule.transform, raw, record=record)
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
            set_path(result.payload, rule.target_path, value)
    if errors:
        raise RecordFailure(
            kind=FailureKind.MAPPING_ERROR,
            reason=f"The field map could not transform the record. {describe_field_errors(errors)}",
            field_errors=errors,
        )
    return result
