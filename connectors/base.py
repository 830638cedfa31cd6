"""What the sync engine needs from a connector. Connectors know payloads, ids and errors only.

Ordering: a connector reads a resource in ascending (updated_at, id) order, as the source
defines it, and resumes strictly after a Position in that order (a keyset). A record edited
while a run pages through the resource moves behind the reader, where it is read again,
instead of pushing an unread record back onto a page already read. Incremental runs and the
resumption of a run after its worker died both rely on this.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

Record = dict[str, Any]


@dataclass(frozen=True)
class Position:
    """A place in a resource's (updated_at, id) order: just after the record that had this
    ``updated_at`` (as the source wrote it) and this id."""

    updated_at: str
    record_id: str


class Connector(Protocol):
    def iter_records(
        self, resource: str, *, after: Position | None = None, page_size: int = 50
    ) -> Iterator[Record]:
        """Yield the records of ``resource`` after ``after`` (all of them without it), in
        (updated_at, id) order, page by page, holding one page in memory at a time."""
        ...

    def get(self, resource: str, record_id: str) -> Record: ...

    def create(self, resource: str, payload: Record, *, idempotency_key: str) -> Record:
        """Create a record and return it as stored, with its ``id``. Sending the same
        idempotency key twice must not create a second record."""
        ...

    def find_created(self, resource: str, idempotency_key: str) -> Record | None:
        """The record a create with this idempotency key made, or None when the target made
        none: how a create whose answer was lost is found again instead of repeated."""
        ...

    def update(self, resource: str, record_id: str, payload: Record) -> Record: ...

    def close(self) -> None: ...


def record_position(record: Record) -> Position | None:
    """The position just after ``record``, or None when it lacks an id or an updated_at."""
    updated_at, record_id = record.get("updated_at"), record.get("id")
    if not isinstance(updated_at, str) or not updated_at or record_id in (None, ""):
        return None
    return Position(updated_at=updated_at, record_id=str(record_id))
