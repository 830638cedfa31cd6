"""Scoring a pair of records, field by field, so that the score explains itself.

Each compared field scores from 0 (nothing alike) to 1 (the same), or ``None`` when either side
has no usable value: a missing field neither helps nor hurts. The total is the weighted mean of
the fields that count, then capped by the person rules below.

How each method scores (both values normalised first, see ``normalise``):

- ``exact``: 1 or 0. A field that plays a role is normalised for it (a postcode as a postcode,
  a phone as E.164), any other field by ``normalise.exact``.
- ``email``: 1 for the same address; 0.8 for one typo; 0.6 for two typos in a longer address,
  or the same local part at another domain; else 0.5. People have several addresses and
  change them, so another address is weak evidence against, not proof; and a near miss is no
  proof for: spouses' ``jon.smith@`` and ``jo.smith@`` are one typo apart.
- ``phone``: 1 for the same E.164 number; 0.8 for the same national number under another
  country code; 0.6 for one digit off; else 0.5 (people have several numbers, as addresses).
  Numbers whose last six digits differ by more than one are not read with ``phonenumbers``
  at all (it is slow): they are other numbers however they are written.
- ``name``: Jaro-Winkler similarity, or 0.95 for a nickname of the other given name ("Bob",
  "Robert"), 0.9 when one name's words are all in the other ("Garcia" in "Garcia Lopez"),
  0.85 for an initial that fits ("J", "John"). Given and family names are compared both ways
  round, and the better way (by a margin) is taken, so swapped names score as the same.
- ``token_set``: rapidfuzz's token-set ratio of the normalised texts (companies, addresses).
- ``date``: 1 for the same day; 0.9 for day and month transposed; 0.7 within a week; 0.6 when
  only one of year, month and day differs (a typo); else 0.

Person rules, for a spec whose roles include a given and a family name. They read the values
by role, whether or not the spec weighs those fields, and each one that lowers the total is
named in ``MatchScore.caps``:

- names that differ (a given or family name below ``NAME_CONFLICT``) with neither the e-mail
  nor the date of birth the same: capped below ``review``. That is a household (same family
  name, address and phone) or a namesake's relative, not a duplicate.
- names that differ at all: capped below ``auto_link``; a person decides (twins on one e-mail,
  a name changed by marriage).
- names not close enough to be sure (each known name at least ``NAME_AGREE``: "Shane" and
  "Jane" are not), dates of birth that differ, or no e-mail, phone or date of birth the same:
  capped below ``auto_link``. Names and a postcode alone identify nobody.
- only the phone the same (no e-mail, no date of birth) while the given names are not the same
  (a typo, "Carl" and "Carol") or the e-mails differ: capped below ``auto_link``. A household
  shares its phone, and a son may carry his father's name.
"""

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date as date_type
from functools import lru_cache
from typing import Any, cast

import phonenumbers
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler

from integration_console.storable import storable

from . import normalise
from .spec import FieldComparison, MatchSpec

# A field score this high is "alike" to a person: the same value, however it was typed.
ALIKE = 0.999
NAME_AGREE = 0.88
NAME_CONFLICT = 0.75
NICKNAME = 0.95
CONTAINED = 0.9
INITIAL = 0.85
SWAP_MARGIN = 0.05
# People have several addresses and numbers and change them: another e-mail address or phone
# number is weak evidence that two records are different people, not proof.
OTHER_EMAIL = 0.5
OTHER_PHONE = 0.5
# How far below a threshold a capped total lands.
CAP_GAP = 0.01
# Raised whenever a normaliser changes what it returns: forms stored before are then not used.
FORMS_VERSION = 1


@dataclass(frozen=True)
class FieldScore:
    """One field compared: the values as given, and its score (``None``: it does not count)."""

    field: str
    method: str
    weight: float
    left: Any
    right: Any
    score: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "method": self.method,
            "weight": self.weight,
            "left": storable(self.left),
            "right": storable(self.right),
            "score": None if self.score is None else round(self.score, 4),
        }


@dataclass(frozen=True)
class MatchScore:
    """A pair's score: ``total`` is the weighted mean of the fields that count, lowered by the
    person rules named in ``caps`` (``uncapped`` keeps the mean itself)."""

    total: float
    fields: tuple[FieldScore, ...]
    uncapped: float | None = None
    caps: tuple[str, ...] = ()
    names_swapped: bool = False

    def to_json(self) -> dict[str, Any]:
        """For a review item: ``{"total", "fields": [...]}``, plus ``uncapped``, ``caps`` and
        ``names_swapped``. Every value is one that PostgreSQL's ``jsonb`` stores."""
        return {
            "total": round(self.total, 4),
            "fields": [field_score.to_json() for field_score in self.fields],
            "uncapped": round(self.total if self.uncapped is None else self.uncapped, 4),
            "caps": list(self.caps),
            "names_swapped": self.names_swapped,
        }


def score(record: Mapping[str, Any], candidate: Mapping[str, Any], spec: MatchSpec) -> MatchScore:
    """How alike ``record`` and ``candidate`` (two payloads) are, field by field."""
    return score_prepared(Prepared(record, spec), Prepared(candidate, spec), spec)


class Prepared:
    """A record with the values ``spec`` looks at normalised once: scoring one record against
    many candidates (``decide``) prepares it once."""

    __slots__ = ("record", "values", "given", "family", "email", "phone", "born")

    def __init__(self, record: Mapping[str, Any], spec: MatchSpec) -> None:
        record = record if isinstance(record, Mapping) else {}
        roles = spec.roles
        country = normalise.country(record.get(roles["country"])) if "country" in roles else None
        found: dict[tuple[str, str], Any] = {}

        def normalised(kind: str, payload_field: str | None) -> Any:
            if payload_field is None:
                return None
            key = (kind, payload_field)
            if key not in found:
                found[key] = _NORMALISERS[kind](record.get(payload_field), country)
            return found[key]

        self.record = record
        self.values = tuple(
            normalised(_kind_of(comparison, spec), comparison.field) for comparison in spec.fields
        )
        self.given = normalised("name", roles.get("given_name"))
        self.family = normalised("name", roles.get("family_name"))
        self.email = normalised("email", roles.get("email"))
        self.phone = normalised("phone", roles.get("phone"))  # a _Phone: read on demand
        self.born = normalised("date", roles.get("birth_date"))

    def stored(self, digest: str) -> dict[str, Any]:
        """The normalised forms as JSON, to keep beside the record (``restored`` reads them
        back): matching a record against stored candidates then normalises only the record.
        ``digest`` is ``forms_digest`` of the spec they were made for."""
        return {
            "for": digest,
            "values": [_Phone.dump(v) if isinstance(v, _Phone) else v for v in self.values],
            "given": self.given,
            "family": self.family,
            "email": self.email,
            "phone": _Phone.dump(self.phone) if self.phone is not None else None,
            "born": self.born,
        }

    @classmethod
    def restored(
        cls, record: Mapping[str, Any], stored: Any, spec: MatchSpec, digest: str
    ) -> "Prepared":
        """The record prepared from its ``stored`` forms, or normalised again when they were
        made for another spec or another version of the normalisers (or are unreadable)."""
        if not isinstance(stored, dict) or stored.get("for") != digest:
            return cls(record, spec)
        try:
            values = tuple(_Phone.load(v) if isinstance(v, list) else v for v in stored["values"])
            if len(values) != len(spec.fields):
                return cls(record, spec)
            prepared = cls.__new__(cls)
            prepared.record = record if isinstance(record, Mapping) else {}
            prepared.values = values
            prepared.given, prepared.family = stored["given"], stored["family"]
            prepared.email, prepared.born = stored["email"], stored["born"]
            prepared.phone = _Phone.load(stored["phone"]) if stored["phone"] else None
        except (KeyError, TypeError, ValueError):
            return cls(record, spec)
        return prepared


def forms_digest(spec: MatchSpec) -> str:
    """What stored forms depend on: the roles, the fields with the normaliser each uses, and
    the normalisers' version (not the thresholds or weights, which only scoring reads)."""
    made_of = {
        "version": FORMS_VERSION,
        "roles": sorted(spec.roles.items()),
        "fields": [[c.field, _kind_of(c, spec)] for c in spec.fields],
    }
    text = json.dumps(made_of, sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def score_prepared(left: Prepared, right: Prepared, spec: MatchSpec) -> MatchScore:
    """``score`` for two records already prepared for ``spec``."""
    # Every total is at least minus infinity: this always scores in full.
    return cast(MatchScore, score_at_least(left, right, spec, -math.inf))


def score_at_least(
    left: Prepared, right: Prepared, spec: MatchSpec, at_least: float
) -> MatchScore | None:
    """``score_prepared`` if its total reaches ``at_least``, else ``None``; cheaper than
    scoring in full for the many candidates that fall short."""
    names = _compare_names(left, right, spec)
    values: list[float | None] = []
    weights = weighted = 0.0
    for i, comparison in enumerate(spec.fields):
        value = _field_score(comparison, left.values[i], right.values[i], names, spec)
        values.append(value)
        if value is not None:
            weights += comparison.weight
            weighted += comparison.weight * value
    mean = weighted / weights if weights else 0.0
    if mean < at_least:
        return None
    total, caps = _person_caps(mean, left, right, names, spec)
    if total < at_least:
        return None
    return MatchScore(
        total=total,
        fields=tuple(
            FieldScore(
                field=comparison.field,
                method=comparison.method,
                weight=comparison.weight,
                left=left.record.get(comparison.field),
                right=right.record.get(comparison.field),
                score=value,
            )
            for comparison, value in zip(spec.fields, values, strict=True)
        ),
        uncapped=mean if caps else None,
        caps=tuple(caps),
        names_swapped=names.swapped if names else False,
    )


_NORMALISERS: dict[str, Callable[[Any, str | None], Any]] = {
    "exact": lambda value, country: normalise.exact(value),
    "email": lambda value, country: normalise.email(value),
    "phone": lambda value, country: _Phone.of(value, country),
    "e164": normalise.phone,
    "name": lambda value, country: normalise.name(value),
    "date": lambda value, country: normalise.date(value),
    "postcode": normalise.postcode,
    "country": lambda value, country: normalise.country(value),
}
# Which normaliser ``exact`` uses for a field that plays a role.
_EXACT_BY_ROLE = {
    "email": "email",
    "phone": "e164",
    "postcode": "postcode",
    "country": "country",
    "birth_date": "date",
    "given_name": "name",
    "family_name": "name",
    "company": "name",
}


def _kind_of(comparison: FieldComparison, spec: MatchSpec) -> str:
    if comparison.method == "exact":
        return _EXACT_BY_ROLE.get(spec.role_of.get(comparison.field, ""), "exact")
    if comparison.method == "token_set":
        return "name"
    return comparison.method


@dataclass(frozen=True)
class _Names:
    given: float | None
    family: float | None
    swapped: bool


def _compare_names(left: Prepared, right: Prepared, spec: MatchSpec) -> _Names | None:
    if "given_name" not in spec.roles or "family_name" not in spec.roles:
        return None
    g1, f1, g2, f2 = left.given, left.family, right.given, right.family
    straight_given, straight_family = _given_similarity(g1, g2), _name_similarity(f1, f2)
    if g1 is None or f1 is None or g2 is None or f2 is None:
        return _Names(straight_given, straight_family, swapped=False)
    swapped_given, swapped_family = _given_similarity(g1, f2), _name_similarity(f1, g2)
    # The way round in which more names agree; with as many, the clearly closer one. Unrelated
    # names score about 0.5 by chance, so a sum alone would swap "Damien Smith" and "Damien
    # Parker".
    straight = _agreeing(straight_given, straight_family)
    swapped = _agreeing(swapped_given, swapped_family)
    if swapped[0] > straight[0] or (
        swapped[0] == straight[0] >= 1 and swapped[1] > straight[1] + 2 * SWAP_MARGIN
    ):
        return _Names(swapped_given, swapped_family, swapped=True)
    return _Names(straight_given, straight_family, swapped=False)


def _agreeing(*scores: float | None) -> tuple[int, float]:
    known = [s for s in scores if s is not None]
    return sum(s >= NAME_AGREE for s in known), sum(known)


def _field_score(
    comparison: FieldComparison,
    a: Any,
    b: Any,
    names: _Names | None,
    spec: MatchSpec,
) -> float | None:
    method = comparison.method
    role = spec.role_of.get(comparison.field) if method == "name" else None
    if names is not None and role in ("given_name", "family_name"):
        return names.given if role == "given_name" else names.family
    if a is None or b is None:
        return None
    if method == "exact":
        return 1.0 if a == b else 0.0
    if role == "given_name":
        return _given_similarity(a, b)
    return _SIMILARITIES[method](a, b)


def _email_similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    typos = OSA.distance(a, b, score_cutoff=2)
    if typos == 1:
        return 0.8
    if typos == 2 and min(len(a), len(b)) >= 12:
        return 0.6
    if a.split("@")[0] == b.split("@")[0]:
        return 0.6
    return OTHER_EMAIL


class _Phone:
    """A phone number read only when it may be the same as another: reading one with
    ``phonenumbers`` costs more than all the rest of a record, and most candidates' numbers
    differ in their last six digits, which no way of writing a number changes."""

    __slots__ = ("text", "country", "tail", "_e164", "_read")

    def __init__(self, text: str, country: str | None, tail: str) -> None:
        self.text, self.country, self.tail = text, country, tail
        self._e164: str | None = None
        self._read = False

    @classmethod
    def of(cls, value: Any, country: str | None) -> "_Phone | None":
        number = normalise.phone_part(value)
        if not number:
            return None
        digits = _NOT_DIGIT.sub("", number)
        if len(digits) < 5:
            return None
        return cls(number, country, digits[-6:])

    @property
    def e164(self) -> str | None:
        if not self._read:
            self._e164, self._read = normalise.phone(self.text, self.country), True
        return self._e164

    @staticmethod
    def dump(phone: "_Phone") -> list[Any]:
        """As JSON, read in full: a stored number is never parsed again."""
        return [phone.text, phone.country, phone.tail, phone.e164]

    @classmethod
    def load(cls, stored: list[Any]) -> "_Phone":
        text, country, tail, e164 = stored
        phone = cls(str(text), country, str(tail))
        phone._e164, phone._read = e164, True
        return phone


_NOT_DIGIT = re.compile(r"\D+")


def _same_phone(a: _Phone | None, b: _Phone | None) -> bool:
    if a is None or b is None or a.tail != b.tail:
        return False
    return a.e164 is not None and a.e164 == b.e164


def _phone_similarity(phone_a: _Phone, phone_b: _Phone) -> float | None:
    if phone_a.tail != phone_b.tail and OSA.distance(phone_a.tail, phone_b.tail) > 1:
        return OTHER_PHONE
    a, b = phone_a.e164, phone_b.e164
    if a is None or b is None:
        return None
    if a == b:
        return 1.0
    national_a, national_b = _national(a), _national(b)
    if national_a and national_a == national_b:
        return 0.8
    if len(a) == len(b) and OSA.distance(a, b, score_cutoff=1) == 1:
        return 0.6
    return OTHER_PHONE


@lru_cache(maxsize=1 << 16)
def _national(e164: str) -> str | None:
    try:
        return str(phonenumbers.parse(e164, None).national_number)
    except phonenumbers.NumberParseException:
        return None


def _name_similarity(a: str | None, b: str | None) -> float | None:
    if a is None or b is None:
        return None
    if a == b:
        return 1.0
    best = JaroWinkler.similarity(a, b)
    if " " in a or " " in b:
        best = max(best, JaroWinkler.similarity(a.replace(" ", ""), b.replace(" ", "")))
        words_a, words_b = set(a.split()), set(b.split())
        if words_a <= words_b or words_b <= words_a:
            best = max(best, CONTAINED)
    if (len(a) == 1 and b.startswith(a)) or (len(b) == 1 and a.startswith(b)):
        best = max(best, INITIAL)
    return best


def _given_similarity(a: str | None, b: str | None) -> float | None:
    best = _name_similarity(a, b)
    if best is None or best >= NICKNAME:
        return best
    if normalise.given_name_forms(a) & normalise.given_name_forms(b):
        return NICKNAME
    return best


def _token_set_similarity(a: str, b: str) -> float:
    return fuzz.token_set_ratio(a, b, processor=None) / 100.0


def _date_similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    day_a, day_b = date_type.fromisoformat(a), date_type.fromisoformat(b)
    if (day_a.year, day_a.month, day_a.day) == (day_b.year, day_b.day, day_b.month):
        return 0.9
    if abs((day_a - day_b).days) <= 7:
        return 0.7
    differing = sum(x != y for x, y in zip(a.split("-"), b.split("-"), strict=True))
    return 0.6 if differing == 1 else 0.0


_SIMILARITIES: dict[str, Callable[[Any, Any], float | None]] = {
    "email": _email_similarity,
    "phone": _phone_similarity,
    "name": lambda a, b: _name_similarity(a, b) or 0.0,
    "token_set": _token_set_similarity,
    "date": _date_similarity,
}


def _person_caps(
    mean: float, left: Prepared, right: Prepared, names: _Names | None, spec: MatchSpec
) -> tuple[float, list[str]]:
    if names is None:
        return mean, []
    same_email = left.email is not None and left.email == right.email
    other_email = None not in (left.email, right.email) and not same_email
    same_phone = _same_phone(left.phone, right.phone)
    born = _date_similarity(left.born, right.born) if left.born and right.born else None

    known = [s for s in (names.given, names.family) if s is not None]
    names_differ = any(s < NAME_CONFLICT for s in known)
    names_agree = bool(known) and all(s >= NAME_AGREE for s in known)
    same_given = names.given is not None and names.given >= NICKNAME

    below_review = max(0.0, spec.review - CAP_GAP)
    below_auto_link = max(0.0, spec.auto_link - CAP_GAP)
    rules = [
        (
            names_differ and not same_email and born != 1.0,
            below_review,
            "the names differ and neither the e-mail nor the date of birth is the same",
        ),
        (names_differ, below_auto_link, "the names differ"),
        (not names_agree, below_auto_link, "the names are not close enough to be sure"),
        (born == 0.0, below_auto_link, "the dates of birth differ"),
        (
            not (same_email or same_phone or born == 1.0),
            below_auto_link,
            "no e-mail, phone or date of birth is the same",
        ),
        (
            same_phone and not (same_email or born == 1.0) and not (same_given and not other_email),
            below_auto_link,
            "only the phone is the same, which a household shares, and the given names or the "
            "e-mails differ",
        ),
    ]
    total, caps = mean, []
    for applies, cap, reason in rules:
        if applies and total > cap:
            total = cap
            caps.append(reason)
    return (total if math.isfinite(total) else 0.0), caps
