"""What a data class's duplicate matching looks at: its match spec.

An admin edits the spec as JSON on a data class::

    {"roles": {"email": "email", "given_name": "first_name", ...},
     "blocking": ["email", "phone", "name_postcode", "surname_phonetic", "birth_date"],
     "fields": [{"field": "email", "method": "email", "weight": 4}, ...],
     "auto_link": 0.85, "review": 0.7}

``roles`` say which payload field holds what the matcher knows about people (an e-mail, a
given name...): blocking keys and the person rules of scoring use them. ``fields`` say which
payload fields are compared, how, and how much each counts. A spec is checked when it is built,
whether from JSON or in code, and every problem is reported at once in words an admin can act on.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

METHODS = ("exact", "email", "phone", "name", "token_set", "date")
ROLES = (
    "email",
    "phone",
    "given_name",
    "family_name",
    "postcode",
    "country",
    "birth_date",
    "company",
)
BLOCKING_KINDS = ("email", "phone", "name_postcode", "surname_phonetic", "birth_date")
FIELD_BLOCKING_PREFIX = "field:"
# The roles each kind of blocking key is made of.
BLOCKING_ROLES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "email": ("email",),
        "phone": ("phone",),
        "name_postcode": ("family_name", "postcode"),
        "surname_phonetic": ("family_name", "given_name"),
        "birth_date": ("birth_date", "given_name"),
    }
)
CONFIG_KEYS = ("roles", "blocking", "fields", "auto_link", "review", "ask_target")

# Tuned with bench/duplicate_matching.py (10,000 targets, 5,000 incoming, seeds 1 and 2; checked
# at 100,000 targets). The person rules of scoring, not these numbers alone, keep households and
# namesakes from being linked: see scoring.py.
DEFAULT_AUTO_LINK = 0.85
DEFAULT_REVIEW = 0.7
# Weights of the default people spec, by role. An e-mail address and a date of birth say most
# about who someone is; a phone and an address are shared by a household; a company by many.
DEFAULT_WEIGHTS: Mapping[str, tuple[str, float]] = MappingProxyType(
    {
        "email": ("email", 4.0),
        "given_name": ("name", 2.0),
        "family_name": ("name", 2.0),
        "birth_date": ("date", 3.0),
        "phone": ("phone", 2.0),
        "postcode": ("exact", 1.0),
        "company": ("token_set", 0.5),
    }
)


class MatchSpecError(ValueError):
    """A match spec that cannot be used; ``problems`` lists each thing to fix."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class FieldComparison:
    """One payload field compared between two records, by ``method``, counting ``weight``."""

    field: str
    method: str
    weight: float

    def to_config(self) -> dict[str, Any]:
        return {"field": self.field, "method": self.method, "weight": self.weight}


@dataclass(frozen=True)
class MatchSpec:
    """How records of one data class are matched: checked on construction (``MatchSpecError``)."""

    roles: Mapping[str, str]
    blocking: tuple[str, ...]
    fields: tuple[FieldComparison, ...]
    auto_link: float = DEFAULT_AUTO_LINK
    review: float = DEFAULT_REVIEW
    # Ask the target itself (its connector's find(), by e-mail) for a record the index holds no
    # candidate of: for targets that others write to between two readings of the index. Costs
    # a look-up in the target for every new record.
    ask_target: bool = False
    # Payload field -> role, the other way round: filled in from ``roles``.
    role_of: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        roles = self.roles
        if isinstance(roles, Mapping):
            roles = MappingProxyType(dict(roles))
        object.__setattr__(self, "roles", roles)
        object.__setattr__(self, "blocking", _as_tuple(self.blocking))
        object.__setattr__(self, "fields", _as_tuple(self.fields))
        problems = _problems(self)
        if problems:
            raise MatchSpecError(problems)
        object.__setattr__(self, "auto_link", float(self.auto_link))
        object.__setattr__(self, "review", float(self.review))
        if not isinstance(self.ask_target, bool):
            raise MatchSpecError(
                [f"ask_target: must be true or false, not {_kind(self.ask_target)}"]
            )
        object.__setattr__(
            self, "role_of", MappingProxyType({f: role for role, f in self.roles.items()})
        )

    def __hash__(self) -> int:
        return hash(
            (
                tuple(sorted(self.roles.items())),
                self.blocking,
                self.fields,
                self.auto_link,
                self.review,
                self.ask_target,
            )
        )

    def field_of(self, role: str) -> str | None:
        """The payload field that plays ``role``, if any."""
        return self.roles.get(role)

    @classmethod
    def from_config(cls, config: Mapping) -> "MatchSpec":
        """The spec an admin wrote as JSON. ``auto_link`` and ``review`` may be left out (the
        defaults apply); every other key is required. Raises ``MatchSpecError`` naming each
        problem."""
        if not isinstance(config, Mapping):
            raise MatchSpecError([f"the match settings must be a JSON object, not {_kind(config)}"])
        problems = []
        unknown = sorted(str(k) for k in config if k not in CONFIG_KEYS)
        if unknown:
            problems.append(
                f"unknown setting(s) {', '.join(unknown)}: the settings are "
                f"{', '.join(CONFIG_KEYS)}"
            )
        for key in ("roles", "blocking", "fields"):
            if key not in config:
                problems.append(f"{key}: missing")
        roles = config.get("roles", {})
        blocking = config.get("blocking", ())
        raw_fields = config.get("fields", ())
        fields: list[FieldComparison] = []
        if isinstance(raw_fields, list | tuple):
            for i, item in enumerate(raw_fields):
                if not isinstance(item, Mapping):
                    problems.append(
                        f"fields[{i}]: must be an object like "
                        '{"field": "email", "method": "email", "weight": 4}, '
                        f"not {_kind(item)}"
                    )
                    continue
                extra = sorted(str(k) for k in item if k not in ("field", "method", "weight"))
                if extra:
                    problems.append(
                        f"fields[{i}]: unknown key(s) {', '.join(extra)}: "
                        "each comparison has field, method and weight"
                    )
                missing = [k for k in ("field", "method", "weight") if k not in item]
                if missing:
                    problems.append(f"fields[{i}]: missing {', '.join(missing)}")
                    continue
                fields.append(FieldComparison(item["field"], item["method"], item["weight"]))
        else:
            fields = raw_fields  # reported below, by the shared checks
        kwargs = {}
        for key in ("auto_link", "review", "ask_target"):
            if key in config:
                kwargs[key] = config[key]
        try:
            spec = cls(roles=roles, blocking=blocking, fields=fields, **kwargs)
        except MatchSpecError as error:
            problems.extend(error.problems)
        else:
            if not problems:
                return spec
        raise MatchSpecError(problems)

    def to_config(self) -> dict[str, Any]:
        """The spec as JSON, as ``from_config`` reads it."""
        return {
            "roles": dict(self.roles),
            "blocking": list(self.blocking),
            "fields": [comparison.to_config() for comparison in self.fields],
            "auto_link": self.auto_link,
            "review": self.review,
            **({"ask_target": True} if self.ask_target else {}),
        }


def default_people_spec(roles: Mapping[str, str] | None = None) -> MatchSpec:
    """Sensible matching of people or customers, for the roles a data class has (role ->
    payload field; by default each role is a field of the same name). Only what the roles
    allow is compared and blocked on."""
    if roles is None:
        roles = {role: role for role in ROLES}
    roles = dict(roles)
    fields = tuple(
        FieldComparison(roles[role], method, weight)
        for role, (method, weight) in DEFAULT_WEIGHTS.items()
        if role in roles
    )
    blocking = tuple(
        kind for kind in BLOCKING_KINDS if all(role in roles for role in BLOCKING_ROLES[kind])
    )
    return MatchSpec(
        roles=roles,
        blocking=blocking,
        fields=fields,
        auto_link=DEFAULT_AUTO_LINK,
        review=DEFAULT_REVIEW,
    )


def _as_tuple(value: Any) -> Any:
    # Lists (from JSON) become tuples; anything else is left for the checks to report.
    return tuple(value) if isinstance(value, list | tuple) else value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and len(value) <= 200


def _problems(spec: MatchSpec) -> list[str]:
    problems: list[str] = []
    roles = spec.roles
    if not isinstance(roles, Mapping):
        problems.append(
            f'roles: must be an object of role -> field (e.g. {{"email": "email"}}), '
            f"not {_kind(roles)}"
        )
        roles = {}
    for role, payload_field in roles.items():
        if role not in ROLES:
            problems.append(f"roles: unknown role {role!r}; the roles are {', '.join(ROLES)}")
        if not _is_name(payload_field):
            problems.append(f"roles.{role}: must name a payload field, not {_kind(payload_field)}")
    taken: dict[str, str] = {}
    for role, payload_field in roles.items():
        if _is_name(payload_field) and payload_field in taken:
            problems.append(
                f"roles: {taken[payload_field]} and {role} both name the field "
                f"{payload_field!r}; give each role its own field"
            )
        taken.setdefault(payload_field, role)

    blocking = spec.blocking
    if not isinstance(blocking, tuple):
        problems.append(f"blocking: must be a list of key kinds, not {_kind(blocking)}")
        blocking = ()
    elif not blocking:
        problems.append(
            "blocking: name at least one key kind (one of "
            f"{', '.join(BLOCKING_KINDS)} or field:<name>), or no candidate is ever found"
        )
    for i, kind in enumerate(blocking):
        if not isinstance(kind, str):
            problems.append(f"blocking[{i}]: must be text, not {_kind(kind)}")
        elif kind.startswith(FIELD_BLOCKING_PREFIX):
            if not _is_name(kind[len(FIELD_BLOCKING_PREFIX) :]):
                problems.append(f"blocking[{i}]: {kind!r} must name a field after 'field:'")
        elif kind not in BLOCKING_KINDS:
            problems.append(
                f"blocking[{i}]: unknown key kind {kind!r}; use one of "
                f"{', '.join(BLOCKING_KINDS)} or field:<name>"
            )
        else:
            missing = [role for role in BLOCKING_ROLES[kind] if role not in roles]
            if missing:
                problems.append(
                    f"blocking[{i}]: {kind} needs the role(s) {', '.join(missing)} in roles"
                )
    if len(set(blocking)) != len(blocking):
        problems.append("blocking: a key kind is named twice")

    fields = spec.fields
    if not isinstance(fields, tuple):
        problems.append(f"fields: must be a list of comparisons, not {_kind(fields)}")
        fields = ()
    elif not fields:
        problems.append("fields: name at least one field to compare")
    seen: set[tuple[str, str]] = set()
    for i, comparison in enumerate(fields):
        if not isinstance(comparison, FieldComparison):
            problems.append(f"fields[{i}]: must be a comparison, not {_kind(comparison)}")
            continue
        if not _is_name(comparison.field):
            problems.append(f"fields[{i}].field: must name a payload field")
        if comparison.method not in METHODS:
            problems.append(
                f"fields[{i}].method: {comparison.method!r} is not one of {', '.join(METHODS)}"
            )
        if not _is_number(comparison.weight) or comparison.weight <= 0:
            problems.append(
                f"fields[{i}].weight: must be a number above 0, not {_kind(comparison.weight)}"
            )
        pair = (str(comparison.field), str(comparison.method))
        if pair in seen:
            problems.append(
                f"fields[{i}]: {comparison.field!r} is compared by {comparison.method} twice"
            )
        seen.add(pair)

    auto_link, review = spec.auto_link, spec.review
    for name, value in (("auto_link", auto_link), ("review", review)):
        if not _is_number(value) or not 0 <= value <= 1:
            problems.append(f"{name}: must be a number from 0 to 1, not {_kind(value)}")
    if _is_number(auto_link) and _is_number(review) and not review < auto_link:
        problems.append(
            f"review ({review}) must be below auto_link ({auto_link}): candidates between "
            "the two go to a person"
        )
    return problems
