"""One writer per record: runs, retries, links, dismissals and bulk actions on one
(flow, source record) take turns, on every worker of every machine.

On PostgreSQL an advisory lock keyed by the record; on SQLite, where every job runs in the web
process, a lock of this process. Re-entrant in a thread, so a service that holds a record's
lock may call another that takes it.
"""

import hashlib
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import connection

_held = threading.local()
_STRIPES = [threading.Lock() for _ in range(256)]


def record_lock_key(flow_id: int, source_id: str) -> int:
    digest = hashlib.sha256(f"record:{flow_id}:{source_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def record_lock(flow_id: int, source_id: str) -> Iterator[None]:
    """Hold the lock of one source record of a flow for the block.

    Inside a transaction the lock lasts until that transaction ends (it guards what the
    transaction writes); outside one it lasts for the block, and dies with the connection if
    the process does."""
    key = record_lock_key(flow_id, source_id)
    held: set[int] = _held.__dict__.setdefault("keys", set())
    if key in held:
        yield
        return
    held.add(key)
    try:
        if connection.vendor == "postgresql":
            with _advisory_lock(key):
                yield
        else:
            with _STRIPES[key % len(_STRIPES)]:
                yield
    finally:
        held.discard(key)


@contextmanager
def page_locks(flow_id: int, source_ids: Iterable[str]) -> Iterator[set[str]]:
    """Try to take the locks of many records of a flow at once, without waiting; yield the
    ids whose locks this block holds. A page of a run takes its records' locks this way in
    one statement; a record another writer holds (a retry, a link) is left to the caller to
    process on its own, afterwards, with record_lock. Held until the block ends; outside a
    transaction only, since a page spans several."""
    held: set[int] = _held.__dict__.setdefault("keys", set())
    keys = {source_id: record_lock_key(flow_id, source_id) for source_id in source_ids}
    mine = {source_id for source_id, key in keys.items() if key in held}
    wanted = {source_id: key for source_id, key in keys.items() if source_id not in mine}
    taken = _try_lock_all(wanted)
    held.update(wanted[source_id] for source_id in taken)
    try:
        yield mine | set(taken)
    finally:
        held.difference_update(wanted[source_id] for source_id in taken)
        _unlock_all([wanted[source_id] for source_id in taken])


def _try_lock_all(wanted: dict[str, int]) -> list[str]:
    if not wanted:
        return []
    if connection.vendor != "postgresql":
        # A stripe this page already holds covers every record that falls on it.
        stripes: dict[int, bool] = {}
        for key in wanted.values():
            stripe = key % len(_STRIPES)
            if stripe not in stripes:
                stripes[stripe] = _STRIPES[stripe].acquire(False)
        return [s for s, key in wanted.items() if stripes[key % len(_STRIPES)]]
    by_key = {key: source_id for source_id, key in wanted.items()}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT k FROM unnest(%s::bigint[]) AS k WHERE pg_try_advisory_lock(k)",
            [list(by_key)],
        )
        return [by_key[key] for (key,) in cursor.fetchall()]


def _unlock_all(keys: list[int]) -> None:
    if not keys:
        return
    if connection.vendor != "postgresql":
        for stripe in {key % len(_STRIPES) for key in keys}:
            _STRIPES[stripe].release()
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(k) FROM unnest(%s::bigint[]) AS k", [keys])
    except Exception:
        connection.close()
        raise


@contextmanager
def _advisory_lock(key: int) -> Iterator[None]:
    if connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [key])
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        except Exception:
            # The session is unusable; closing it is what releases its locks.
            connection.close()
            raise
