"""Resource contracts at work: inferring one from a sample of a source's records, and checking
each record against the active one before it is transformed (the path's step 2).

A contract (catalog's ResourceContract) says, per field, its JSON type, whether every record
has it, and for some fields the few values they take. A record that departs from it is not a
crash: it becomes a ``contract_drift`` failure naming each change, and the run goes on.

Inference, from a sample of at most ``sample_size`` records:
- a field present in every sampled record is required;
- its type is the JSON type of its non-null values (integers and decimals together are a
  number); a field only ever null has the type "null" and is not checked; a field seen with
  several types takes the most frequent one, and the draft's note asks a person to check it;
- a string field whose non-blank values number at least ENUM_MIN_VALUES but take at most
  ENUM_MAX_DISTINCT distinct values is an enum, with those values allowed (a sample of 40
  contacts from 12 countries makes "country" one; 40 different names do not);
- a field that flows map into a sensitive field is marked sensitive, never gets values, and
  no reason ever repeats its value.
The draft is a proposal: a person reads it, edits it if need be, submits it, and someone else
approves it (catalog.services).
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from connectors.errors import ConnectorError
from integration_console.catalog.models import ResourceContract, System
from integration_console.catalog.schema import is_blank
from integration_console.catalog.services import resource_contract_draft

from .connections import connector_for
from .failures import FailureKind, RecordFailure
from .selectors import resource_sensitive_paths as sensitive_paths_of

DEFAULT_SAMPLE_SIZE = 100
ENUM_MIN_VALUES = 30
ENUM_MAX_DISTINCT = 12
_SHOWN_VALUE_LENGTH = 80
_ARTICLES = {"integer": "an integer", "object": "an object"}


class ContractSampleError(Exception):
    """No draft could be inferred: the source could not be read, or held no records."""


# --- inference ------------------------------------------------------------------------------


@dataclass
class InferredContract:
    """A contract's fields as a sample suggests them, and what a person should check."""

    fields: dict[str, dict[str, Any]]
    sample_size: int
    remarks: list[str] = field(default_factory=list)


@dataclass
class _Seen:
    present: int = 0
    types: Counter = field(default_factory=Counter)
    non_blank_strings: int = 0
    # Distinct non-blank strings, kept only while they could still make an enum.
    distinct: set[str] | None = field(default_factory=set)


def contract_fields_from_sample(
    records: Iterable[Any], *, sensitive: Iterable[str] = ()
) -> InferredContract:
    """The fields a sample of records suggests, by the rules in this module's docstring.
    Pure: reads only ``records``. Values that are not records are left out, and said so."""
    hidden = set(sensitive)
    seen: dict[str, _Seen] = {}
    sampled = skipped = 0
    for record in records:
        if not isinstance(record, dict):
            skipped += 1
            continue
        sampled += 1
        for name, value in record.items():
            facts = seen.setdefault(str(name), _Seen())
            facts.present += 1
            if value is None:
                continue
            facts.types[json_type(value)] += 1
            if isinstance(value, str) and not is_blank(value):
                facts.non_blank_strings += 1
                if facts.distinct is not None:
                    facts.distinct.add(value)
                    if len(facts.distinct) > ENUM_MAX_DISTINCT:
                        facts.distinct = None
    remarks = [f"{skipped} sampled values were not records and were left out."] if skipped else []
    fields = {}
    for name, facts in seen.items():
        spec: dict[str, Any] = {
            "type": _type_of(name, facts, remarks),
            "required": facts.present == sampled,
        }
        if name in hidden:
            spec["sensitive"] = True
        elif (
            spec["type"] == "string"
            and facts.distinct
            and facts.non_blank_strings >= ENUM_MIN_VALUES
            and facts.types["string"] == sum(facts.types.values())
        ):
            spec["values"] = sorted(facts.distinct)
        fields[name] = spec
    return InferredContract(fields=fields, sample_size=sampled, remarks=remarks)


def _type_of(name: str, facts: _Seen, remarks: list[str]) -> str:
    types = facts.types
    if not types:
        return "null"
    if types.keys() == {"integer", "number"}:
        return "number"
    if len(types) > 1:
        seen = ", ".join(f"{kind} in {count}" for kind, count in types.most_common())
        remarks.append(f"{name!r} was seen as {seen} records: check its type before submitting.")
    return types.most_common(1)[0][0]


def resource_contract_infer(
    *,
    system: System,
    resource: str,
    user: AbstractBaseUser,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
) -> ResourceContract:
    """A new draft contract for ``resource`` of ``system``, inferred from its first
    ``sample_size`` records as its connector reads them. Reads the source, never writes to it;
    raises ContractSampleError when the source cannot be read or holds no records. Each call
    makes a new draft: nothing is submitted or approved here."""
    try:
        connector = connector_for(system)
    except ImproperlyConfigured as exc:
        raise ContractSampleError(str(exc)) from exc
    try:
        records = list(
            islice(
                connector.iter_records(resource, after=None, page_size=min(sample_size, 100)),
                sample_size,
            )
        )
    except ConnectorError as exc:
        raise ContractSampleError(f"Could not read {system}'s {resource}: {exc.message}") from exc
    finally:
        connector.close()
    inferred = contract_fields_from_sample(records, sensitive=sensitive_paths_of(system, resource))
    if not inferred.fields:
        raise ContractSampleError(f"{system}'s {resource} holds no records to infer from.")
    note = (
        f"Inferred from {inferred.sample_size} records of {system}'s {resource} on "
        f"{timezone.localdate():%Y-%m-%d}: check each field before submitting. "
        f"Required: present in every sampled record. Values: a string field with at most "
        f"{ENUM_MAX_DISTINCT} distinct values among at least {ENUM_MIN_VALUES}."
    )
    return resource_contract_draft(
        system=system,
        resource=resource,
        fields=inferred.fields,
        user=user,
        note=" ".join([note, *inferred.remarks]),
    )


# --- the check ------------------------------------------------------------------------------


def active_contract_fields(*, system_id: int, resource: str) -> dict[str, Any] | None:
    """The fields of the active contract of ``resource`` in the system, or None without one."""
    contract = (
        ResourceContract.objects.filter(
            system_id=system_id, resource=resource, status=ResourceContract.Status.ACTIVE
        )
        .only("fields")
        .first()
    )
    return contract.fields if contract is not None else None


def contract_drift(
    contract_fields: dict[str, Any], record: dict[str, Any], *, sensitive: Iterable[str] = ()
) -> list[str]:
    """How ``record`` departs from a contract's fields, one sentence per change, empty when it
    does not: a required field missing, a new field, a field renamed (exactly one required
    field missing and exactly one new field of its type), a changed type, a value outside the
    allowed ones. A null value is an empty field, not a change of type; a blank value is not a
    new value. Values of sensitive fields are never repeated. Pure."""
    return [sentence for _, sentence in _drifts(contract_fields, record, set(sensitive))]


def check_contract(
    contract_fields: dict[str, Any],
    record: dict[str, Any],
    *,
    source: str,
    sensitive: Iterable[str] = (),
) -> None:
    """Raise a ``contract_drift`` RecordFailure naming each change when ``record`` departs from
    the contract; ``source`` says whose records these are ("Simulated CRM's contacts")."""
    drifts = _drifts(contract_fields, record, set(sensitive))
    if not drifts:
        return
    field_errors: dict[str, list[str]] = {}
    for name, sentence in drifts:
        field_errors.setdefault(name, []).append(sentence)
    raise RecordFailure(
        FailureKind.CONTRACT_DRIFT,
        f"{source} changed: " + "; ".join(sentence for _, sentence in drifts),
        field_errors=field_errors,
    )


def json_type(value: Any) -> str:
    """The contract type of a JSON value: string, integer, number, boolean, object, list, null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def _fits(value: Any, expected: Any) -> bool:
    if expected in (None, "null") or value is None:
        return True
    actual = json_type(value)
    return actual == expected or (expected == "number" and actual == "integer")


def _drifts(
    contract_fields: dict[str, Any], record: dict[str, Any], sensitive: set[str]
) -> list[tuple[str, str]]:
    specs = {name: spec if isinstance(spec, dict) else {} for name, spec in contract_fields.items()}
    missing = [name for name, spec in specs.items() if spec.get("required") and name not in record]
    new = [name for name in record if name not in specs]
    renamed_to = ""
    if len(missing) == 1:
        expected = specs[missing[0]].get("type")
        fitting = [n for n in new if record[n] is not None and _fits(record[n], expected)]
        if len(fitting) == 1:
            renamed_to = fitting[0]
    drifts = []
    for name in missing:
        if renamed_to:
            drifts.append((name, f"{_quoted(name)} looks renamed to {_quoted(renamed_to)}"))
        else:
            drifts.append((name, f"field {_quoted(name)} is missing"))
    drifts += [(name, f"new field {_quoted(name)}") for name in new if name != renamed_to]
    for name, spec in specs.items():
        if name not in record:
            continue
        value, expected = record[name], spec.get("type")
        if not _fits(value, expected):
            drifts.append(
                (name, f"{_quoted(name)} was {_a(expected)}, is now {_a(json_type(value))}")
            )
        elif spec.get("values") and not is_blank(value) and value not in spec["values"]:
            hidden = spec.get("sensitive") is True or name in sensitive
            shown = "" if hidden else f" {_quoted(value)}"
            drifts.append((name, f"{_quoted(name)} has a new value{shown}"))
    return drifts


def _quoted(value: Any) -> str:
    text = repr(value)
    if len(text) > _SHOWN_VALUE_LENGTH:
        text = f"{text[: _SHOWN_VALUE_LENGTH - 1]}…"
    return text


def _a(type_name: Any) -> str:
    return _ARTICLES.get(type_name, f"a {type_name}")
