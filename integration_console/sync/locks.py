"""One writer per record: runs, retries, links, dismissals and bulk actions on one
(flow, source record) take turns, on every worker of every machine.

On PostgreSQL an advisory lock keyed by the record; on SQLite, where every job runs in the web
process, a lock of this process. Re-entrant in a thread, so a service that holds a record's
lock may call another that takes it.
"""

import hashlib
import threading
from collections.abc import Iterator
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
