"""Identify, the pipeline's sixth step for a record without a link: is it already in the target?

Candidates come from the console's index of the target's records (``TargetRecord`` and its
blocking keys), which the console keeps from its own writes and from reading the target
(``refresh_match_index``). They are scored field by field by the data class's match spec
(``integration_console.matching``); a pair a person called distinct is never offered again.

A page of records costs three queries here whatever the number of records the target holds:
the candidates' keys (each key's walk stops after CANDIDATES_PER_KEY entries), the distinct
pairs (and, on a page that has some, their rows in the index), and the values of the
candidates to score (at most MAX_SCORED a record).
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone

from integration_console.matching.decide import Decision, decide
from integration_console.matching.keys import blocking_keys, most_shared, walk_limit
from integration_console.matching.scoring import Prepared, forms_digest
from integration_console.matching.spec import MatchSpec
from integration_console.storable import storable, storable_id

from .models import DistinctPair, Flow, RecordLink, TargetRecord, TargetRecordKey

# A key shared by more target records than this (a company's info@ address, a common surname's
# phonetic key) offers only the most recent of them: a look-up stays bounded however large the
# target grows, and the other keys of a true duplicate still find it.
CANDIDATES_PER_KEY = 20
# SQLite refuses a compound select of more than 500 terms.
KEYS_PER_STATEMENT = 400


@dataclass(frozen=True)
class Matching:
    """Where a flow's records are matched: its target's resource, with its data class's spec."""

    spec: MatchSpec
    system_id: int
    resource: str


def matching_for(flow: Flow) -> Matching | None:
    spec = flow.data_class.match_spec
    if spec is None:
        return None
    return Matching(spec, flow.target_system_id, flow.target_resource)


def match_records(
    matching: Matching,
    flow: Flow,
    payloads: Mapping[str, Mapping[str, Any]],
    *,
    ask: Callable[[Mapping[str, Any]], list[dict[str, Any]]] | None = None,
) -> dict[str, Decision]:
    """The decision for each record (source id -> its payload as it would be sent). With
    ``ask`` (the target's own look-up: a payload -> the target's records that share its
    e-mail), a record the index offers no candidate for is looked for in the target too, and
    what the target answers goes into the index."""
    keys_of = {
        source_id: blocking_keys(payload, matching.spec) for source_id, payload in payloads.items()
    }
    wanted = sorted(set().union(*keys_of.values())) if keys_of else []
    records_of_key = _records_of_keys(matching, wanted)
    distinct = _distinct_pairs(flow, payloads) if records_of_key else set()
    distinct_records = _records_of_pairs(matching, distinct)
    chosen = {}
    for source_id in payloads:
        offered = {
            key: [r for r in records_of_key.get(key, ()) if (source_id, r) not in distinct_records]
            for key in keys_of[source_id]
        }
        chosen[source_id] = most_shared(keys_of[source_id], offered)
    # Only the candidates that will be scored are read: at most MAX_SCORED a record.
    needed = {r for found in chosen.values() for r in found}
    digest = forms_digest(matching.spec)
    rows = (
        # The system and resource too: a hash shared with another resource's key is no match.
        TargetRecord.objects.filter(
            pk__in=needed, system_id=matching.system_id, resource=matching.resource
        ).values_list("pk", "target_id", "values", "forms")
        if needed
        else ()
    )
    # Prepared from the forms stored with each record: no candidate is normalised here.
    target_of: dict[int, str] = {}
    prepared = {}
    for pk, target_id, values, forms in rows:
        target_of[pk] = target_id
        prepared[target_id] = Prepared.restored(values, forms, matching.spec, digest)
    decisions = {}
    for source_id, payload in payloads.items():
        found = [target_of[r] for r in chosen[source_id] if r in target_of]
        if not found and ask is not None:
            answered = _asked(matching, ask(payload))
            prepared.update(
                (target_id, Prepared(values, matching.spec))
                for target_id, values in answered.items()
            )
            found = sorted(answered)
        candidates = [
            (target_id, prepared[target_id])
            for target_id in found
            if target_id in prepared and (source_id, target_id) not in distinct
        ]
        decisions[source_id] = decide(payload, candidates, matching.spec)
    return decisions


def _records_of_keys(matching: Matching, keys: list[str]) -> dict[str, list[int]]:
    """Key -> the rows of the target records that have it, the newest first: at most
    CANDIDATES_PER_KEY of a strong key, and of a weak key just enough to tell whether it is
    rare (``walk_limit``). Each key is read by a bounded walk down its hash's index entries,
    which stops there: a crowded key costs no more in a target of millions. One statement on
    PostgreSQL (a LATERAL join); on SQLite, one per KEYS_PER_STATEMENT keys (a UNION ALL of
    limited selects, under SQLite's limit on compound selects)."""
    found: dict[str, list[int]] = {}
    if not keys:
        return found
    keys_of_hash: dict[int, list[str]] = {}
    for key in keys:
        key_hash = TargetRecordKey.hash_of(matching.system_id, matching.resource, key)
        keys_of_hash.setdefault(key_hash, []).append(key)
    hashes = list(keys_of_hash)
    walks = [max(walk_limit(key, CANDIDATES_PER_KEY) for key in keys_of_hash[h]) for h in hashes]
    table = TargetRecordKey._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT k.hash, t.record_id FROM unnest(%s::bigint[], %s::int[]) AS k(hash, walk) "
                f"CROSS JOIN LATERAL (SELECT record_id FROM {table} WHERE key_hash = k.hash "
                f"ORDER BY record_id DESC LIMIT k.walk) AS t",
                [hashes, walks],
            )
            rows = cursor.fetchall()
        else:
            rows = []
            one = (
                f"SELECT * FROM (SELECT key_hash, record_id FROM {table} WHERE key_hash = %s "
                f"ORDER BY record_id DESC LIMIT %s)"
            )
            for start in range(0, len(hashes), KEYS_PER_STATEMENT):
                part = hashes[start : start + KEYS_PER_STATEMENT]
                params: list[Any] = []
                for key_hash, walk in zip(
                    part, walks[start : start + KEYS_PER_STATEMENT], strict=True
                ):
                    params += [key_hash, walk]
                cursor.execute(" UNION ALL ".join([one] * len(part)), params)
                rows += cursor.fetchall()
    for key_hash, record in rows:
        for key in keys_of_hash[key_hash]:
            found.setdefault(key, []).append(record)
    return found


def _distinct_pairs(flow: Flow, payloads: Mapping[str, Any]) -> set[tuple[str, str]]:
    """The pairs (source id, target id) a person called distinct, for the page's records."""
    return set(
        DistinctPair.objects.filter(flow=flow, source_id__in=list(payloads)).values_list(
            "source_id", "target_id"
        )
    )


def _records_of_pairs(matching: Matching, pairs: set[tuple[str, str]]) -> set[tuple[str, int]]:
    """The same pairs with the row of each target record in the index: a query more only on
    the rare page that has some."""
    if not pairs:
        return set()
    record_of = _rows_of(matching, {target_id for _, target_id in pairs})
    return {(source, record_of[target]) for source, target in pairs if target in record_of}


def _rows_of(matching: Matching, target_ids: Iterable[str]) -> dict[str, int]:
    """Target id -> the row of that record in the index, for those it holds."""
    return dict(
        TargetRecord.objects.filter(
            system_id=matching.system_id, resource=matching.resource, target_id__in=target_ids
        ).values_list("target_id", "pk")
    )


def _asked(matching: Matching, records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The target's answer to a look-up, by target id, kept in the index."""
    rows = dict(row for row in map(_indexable, records or ()) if row is not None)
    if rows:
        _store(matching, rows, timezone.now())
    return rows


def _indexable(record: Any) -> tuple[str, dict[str, Any]] | None:
    """A record the target answered, as the index keeps it (target id, storable values), or
    None when it has no usable id."""
    target_id = record.get("id") if isinstance(record, dict) else None
    if target_id in (None, "") or isinstance(target_id, bool | dict | list | float):
        return None
    values = {name: value for name, value in record.items() if name != "id"}
    return storable_id(str(target_id)), storable(values)


def linked_elsewhere(flow: Flow, target_ids: Iterable[str]) -> dict[str, str]:
    """Which of these target records another source record of the flow is linked to: target
    id -> that source id. Linking a second source record to one of them would have two source
    records write one target record, so a person decides."""
    links = RecordLink.objects.filter(
        data_class_id=flow.data_class_id,
        source_system_id=flow.source_system_id,
        target_system_id=flow.target_system_id,
        target_id__in=list(target_ids),
    ).values_list("target_id", "source_id")
    return dict(links)


def remember_written(matching: Matching, written: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
    """Keep the index up to date with records the console wrote (target id, values as sent in
    full): their values replace what was known, and their keys are computed again."""
    now = timezone.now()
    rows = {target_id: dict(values) for target_id, values in written if target_id}
    if not rows:
        return
    _store(matching, rows, now)


def _store(matching: Matching, rows: dict[str, dict[str, Any]], now) -> None:
    digest = forms_digest(matching.spec)
    TargetRecord.objects.bulk_create(
        [
            TargetRecord(
                system_id=matching.system_id,
                resource=matching.resource,
                target_id=target_id,
                values=values,
                forms=Prepared(values, matching.spec).stored(digest),
                seen_at=now,
            )
            for target_id, values in rows.items()
        ],
        update_conflicts=True,
        unique_fields=["system", "resource", "target_id"],
        update_fields=["values", "forms", "seen_at"],
    )
    record_of = _rows_of(matching, list(rows))
    TargetRecordKey.objects.filter(record_id__in=record_of.values()).delete()
    TargetRecordKey.objects.bulk_create(
        [
            TargetRecordKey(
                key_hash=TargetRecordKey.hash_of(matching.system_id, matching.resource, key),
                record_id=record_of[target_id],
            )
            for target_id, values in rows.items()
            for key in blocking_keys(values, matching.spec)
        ],
        ignore_conflicts=True,
    )


def forget(matching: Matching, target_ids: Iterable[str]) -> None:
    """Take records out of the index (merged away, archived or deleted in the target); their
    keys go with them (TargetRecordKey.record cascades)."""
    TargetRecord.objects.filter(
        system_id=matching.system_id, resource=matching.resource, target_id__in=list(target_ids)
    ).delete()


def refresh_from_target(matching: Matching, connector: Any, *, batch: int = 500) -> int:
    """Read every record of the target's resource into the index (a read-only sync of the
    target), then drop what the target no longer has. Returns how many records were read."""
    started = timezone.now()
    rows: dict[str, dict[str, Any]] = {}
    read = 0
    for record in connector.iter_records(matching.resource, page_size=100):
        row = _indexable(record)
        if row is None:
            continue
        rows[row[0]] = row[1]
        if len(rows) >= batch:
            read += len(rows)
            _store(matching, rows, timezone.now())
            rows = {}
    if rows:
        read += len(rows)
        _store(matching, rows, timezone.now())
    gone = TargetRecord.objects.filter(
        system_id=matching.system_id, resource=matching.resource, seen_at__lt=started
    )
    gone.delete()  # with their keys
    return read
