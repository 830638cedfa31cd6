"""Blocking keys: which target records are worth scoring against a record at all.

Two records are compared only when they share a key, so a look-up costs a few index reads
whatever the size of the target. Each kind of key catches duplicates the others miss:

- ``email:<address>`` and ``phone:<E.164>``: the same address or number, however typed.
- ``name_postcode:<family name>|<postcode>``: the same family at the same address, whatever
  their contact details; a household meets here too (scoring keeps it apart).
- ``surname_phonetic:<Metaphone of the family name>|<start of the given name's Metaphone>``,
  for both ways round (the given name taken as the family name too), so swapped names meet; a
  nickname also gives the key of each formal name it is a nickname of ("Bob" -> Robert's).
- ``birth_name:<YYYY-MM-DD>|<Metaphone of a name>`` (the ``birth_date`` blocking kind), for
  the given name (and each formal name it is a nickname of) and the family name: the same
  birthday and a name that sounds the same, either way round. It finds the person who moved,
  married and changed address, phone and e-mail. (A birthday with only an initial found no
  more duplicates in a target of a million, and offered a stranger or two for every record.)
- ``email_user:<local part>``, made with ``email``: the same address at another domain, or
  with a typo in the domain ("hotmial.com").
- ``field:<name>:<value>``: the exact normalised value of any payload field (a VAT number).
"""

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from . import normalise
from .spec import FIELD_BLOCKING_PREFIX, MatchSpec

MAX_KEY = 200
# Candidates scored for one record at most: those sharing the most keys with it. A true
# duplicate shares several (its e-mail, its phone, its name); a crowded key (a common surname,
# a company's switchboard) offers many records that share just that one. Scoring is what a
# candidate costs, so this keeps a record's cost the same however large the target grows.
MAX_SCORED = 12
# Keys that different people share by chance, the more often the larger the target: a family
# name that sounds alike (with the start of a given name), a birthday (with a name's sound), the
# local part of an e-mail address at any domain. Such a key offers its records by itself only
# while it is rare (RARE records or fewer have it); once crowded, it only adds weight to
# candidates another key offers. The strong keys (an e-mail, a phone, a family at a postcode, a
# named field) are shared by one person or one household whatever the size of the target, so
# what a record is compared with stays the same from ten thousand records to millions.
WEAK_KINDS = frozenset({"surname_phonetic", "birth_name", "email_user"})
RARE = 3
# How much of a given name's phonetic key a surname's key takes.
GIVEN_SOUND = 2


def blocking_keys(record: Mapping[str, Any], spec: MatchSpec) -> frozenset[str]:
    """The blocking keys of one record (a payload). Empty values make no key; a key longer
    than 200 characters is replaced by a hash of it, under the same kind."""
    if not isinstance(record, Mapping):
        return frozenset()
    keys: set[str] = set()

    def role_value(role: str) -> Any:
        payload_field = spec.roles.get(role)
        return record.get(payload_field) if payload_field is not None else None

    country = normalise.country(role_value("country"))
    for kind in spec.blocking:
        if kind == "email":
            address = normalise.email(role_value("email"))
            keys.update(_key(kind, address))
            if address and "@" in address:
                keys.update(_key("email_user", address.rpartition("@")[0]))
        elif kind == "phone":
            keys.update(_key(kind, normalise.phone(role_value("phone"), country)))
        elif kind == "name_postcode":
            family = normalise.name(role_value("family_name"))
            code = normalise.postcode(role_value("postcode"), country)
            if family and code:
                keys.update(_key(kind, f"{family}|{code}"))
        elif kind == "surname_phonetic":
            given, family = role_value("given_name"), role_value("family_name")
            for surname, first in ((family, given), (given, family)):
                sound = normalise.phonetic(surname)
                if not sound:
                    continue
                for given_sound in sorted(_given_sounds(first)):
                    keys.update(_key(kind, f"{sound}|{given_sound}"))
        elif kind == "birth_date":
            born = normalise.date(role_value("birth_date"))
            if born:
                given, family = role_value("given_name"), role_value("family_name")
                for sound in sorted(_sounds(given) | _sounds(family)):
                    keys.update(_key("birth_name", f"{born}|{sound}"))
        elif kind.startswith(FIELD_BLOCKING_PREFIX):
            payload_field = kind[len(FIELD_BLOCKING_PREFIX) :]
            keys.update(_key(kind, normalise.exact(record.get(payload_field))))
    return frozenset(keys)


def _given_sounds(given_name: Any) -> set[str]:
    """The start of the phonetic key of a given name and of each formal name it is a nickname
    of: selective enough that a common surname's block stays small in a target of millions
    ("Smith" with "John" and with "James" are two blocks, not one), tolerant of a misspelt
    ending. A given name Metaphone cannot read gives its initial."""
    sounds = set()
    for form in normalise.given_name_forms(given_name):
        sound = normalise.phonetic(form)
        sounds.add(sound[:GIVEN_SOUND] if sound else form[0])
    return sounds


def _sounds(name: Any) -> set[str]:
    """The phonetic key of a name, and of each formal name it is a nickname of."""
    return {
        sound for form in normalise.given_name_forms(name) if (sound := normalise.phonetic(form))
    }


def _key(kind: str, value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    key = f"{kind}:{value}"
    if len(key) > MAX_KEY:
        digest = hashlib.blake2b(key.encode("utf-8", "replace"), digest_size=16).hexdigest()
        key = f"{kind[:100]}:#{digest}"
    return (key,)


def is_weak(key: str) -> bool:
    return key.partition(":")[0] in WEAK_KINDS


def walk_limit(key: str, per_key: int) -> int:
    """How many of a key's records a look-up reads: ``per_key`` for a strong key; for a weak
    one, just enough to tell whether it is rare."""
    return RARE + 1 if is_weak(key) else per_key


def most_shared(
    keys: Iterable[str], ids_of_key: Mapping[str, Iterable[str]], limit: int = MAX_SCORED
) -> list[str]:
    """The ids that share the most of ``keys`` (``ids_of_key``: key -> ids, newest first), at
    most ``limit``; among ids sharing as many, the newest first. A crowded weak key (more than
    RARE ids) offers no id by itself: it counts only for ids that another key offers."""
    shared: dict[str, int] = {}
    rank: dict[str, int] = {}
    offered: set[str] = set()
    for key in sorted(keys):
        ids = list(ids_of_key.get(key, ()))
        if not (is_weak(key) and len(ids) > RARE):
            offered.update(ids)
        for position, record_id in enumerate(ids):
            shared[record_id] = shared.get(record_id, 0) + 1
            rank[record_id] = min(rank.get(record_id, position), position)
    ordered = sorted(
        offered, key=lambda record_id: (-shared[record_id], rank[record_id], record_id)
    )
    return ordered[:limit]


class BlockingIndex:
    """An in-memory index of records by blocking key (for a page of records, or a benchmark).

    ``max_block``, like the engine's cap per key, bounds what one key offers: a key shared by
    more records than that (a company's info@ address, the phonetic key of "Smith J") offers
    only the most recently added of them.
    """

    def __init__(self, spec: MatchSpec, *, max_block: int | None = None) -> None:
        self.spec = spec
        self.max_block = max_block
        self._ids_of_key: dict[str, list[str]] = {}
        self._position: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._position)

    def add(self, record_id: str, record: Mapping[str, Any]) -> frozenset[str]:
        """Index one record; returns its keys."""
        keys = blocking_keys(record, self.spec)
        self._position.setdefault(record_id, len(self._position))
        for key in keys:
            self._ids_of_key.setdefault(key, []).append(record_id)
        return keys

    def add_many(self, records: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        for record_id, record in records:
            self.add(record_id, record)

    def candidates(
        self,
        record: Mapping[str, Any],
        keys: Iterable[str] | None = None,
        *,
        limit: int | None = None,
    ) -> list[str]:
        """The ids that share a key with ``record`` (or with ``keys``), each once, in the
        order they were first added; with ``limit``, only the ``limit`` that share the most
        keys (``most_shared``), as the engine scores them."""
        if keys is None:
            keys = blocking_keys(record, self.spec)
        if limit is not None:
            # What the engine's look-up reads: the newest of each key, as many as walk_limit.
            offered = {
                key: list(reversed(ids[-walk_limit(key, self.max_block or len(ids)) :]))
                for key in keys
                if (ids := self._ids_of_key.get(key))
            }
            return most_shared(keys, offered, limit)
        found: set[str] = set()
        for key in keys:
            ids = self._ids_of_key.get(key)
            if ids:
                found.update(ids if self.max_block is None else ids[-self.max_block :])
        return sorted(found, key=self._position.__getitem__)

    def largest_blocks(self) -> dict[str, int]:
        """Key kind -> the number of records in its largest block."""
        largest: dict[str, int] = {}
        for key, ids in self._ids_of_key.items():
            parts = key.split(":", 2)
            kind = ":".join(parts[:2]) if key.startswith(FIELD_BLOCKING_PREFIX) else parts[0]
            largest[kind] = max(largest.get(kind, 0), len(ids))
        return largest
