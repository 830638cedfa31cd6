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


@dataclass(frozen=True)
class Capabilities:
    """What a connector kind can do, declared by the kind; the engine and the console choose
    their path by it rather than by the kind's name."""

    # create_many(): several records in one call, answered one by one
    batch_create: bool = False
    # create() honours an idempotency key, and find_created() finds what a key created
    idempotency_keys: bool = False
    # the system can create-or-update by an external id of ours in one call; no kind here
    # declares it yet, so the engine always looks the link up first
    upsert_by_external_id: bool = False
    # find(): look records up by field values (for matching and for lost creates)
    search_by_keys: bool = False
    # iter_records() reads in (updated_at, id) order and resumes strictly after a Position;
    # without it, incremental reads need an overlap window and de-duplication
    keyset_order: bool = True
    # archive(): the record stays in the system but inactive, left out of iter_records()
    # and find(); get() still returns it, marked as the kind documents. How a merge removes
    # the merged-away record when the system allows it
    archive: bool = False
    # restore(): an archived record made active again, back in reads and finds. What lets
    # the undo of a merge bring the merged-away record back
    restore: bool = False
    # delete(): the record is gone for good and cannot be restored; a merge falls back on it
    # only where the system cannot archive
    delete: bool = False


@dataclass(frozen=True)
class Health:
    """The answer of a connector's health check, for people: reachable, credentials taken."""

    ok: bool
    detail: str


class Connector(Protocol):
    capabilities: Capabilities

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

    def find(self, resource: str, keys: dict[str, Any]) -> list[Record]:
        """The records whose fields equal ``keys`` (capability ``search_by_keys``)."""
        ...

    def create_many(
        self, resource: str, payloads: list[Record], *, idempotency_keys: list[str] | None = None
    ) -> list[Record | Exception]:
        """Create several records at once (capability ``batch_create``); one answer per
        payload, in order: the record as stored, or the ConnectorError that refused it. A
        kind that honours idempotency keys creates nothing twice for a key sent again; a call
        that fails as a whole raises its ConnectorError."""
        ...

    def health(self) -> Health:
        """Reach the system and check the credentials, without reading or writing records."""
        ...

    def update(self, resource: str, record_id: str, payload: Record) -> Record: ...

    def archive(self, resource: str, record_id: str) -> Record:
        """Make the record inactive (capability ``archive``) and return it as stored: it stays
        in the system, left out of iter_records() and find(), while get() still returns it
        with the marker the kind documents. Idempotent: archiving an archived record changes
        nothing and succeeds. NotFoundError when the system has no such record."""
        ...

    def restore(self, resource: str, record_id: str) -> Record:
        """Make an archived record active again (capability ``restore``) and return it as
        stored, back in iter_records() and find(). Idempotent: restoring an active record
        changes nothing and succeeds. NotFoundError when the system has no such record (a
        deleted one included); AlreadyExistsError when an active record now holds a value
        the system keeps unique (the record then stays archived)."""
        ...

    def delete(self, resource: str, record_id: str) -> None:
        """Remove the record for good (capability ``delete``): it cannot be restored.
        Idempotent: deleting a record the system does not have (deleted before, or never
        there) succeeds."""
        ...

    def close(self) -> None: ...


def removal_for_merge(capabilities: Capabilities) -> str | None:
    """How a merge removes the merged-away record from a system with these capabilities:
    "archive" where it can (the record can come back), else "delete" (gone for good), else
    None (the system can neither: the console must leave the record where it is)."""
    if capabilities.archive:
        return "archive"
    if capabilities.delete:
        return "delete"
    return None


def can_bring_back(capabilities: Capabilities) -> bool:
    """Whether the undo of a merge can bring back the record the merge removed: the merge
    archives it (removal_for_merge) and the system can restore what is archived."""
    return removal_for_merge(capabilities) == "archive" and capabilities.restore


def record_position(record: Record) -> Position | None:
    """The position just after ``record``, or None when it lacks an id or an updated_at."""
    updated_at, record_id = record.get("updated_at"), record.get("id")
    if not isinstance(updated_at, str) or not updated_at or record_id in (None, ""):
        return None
    return Position(updated_at=updated_at, record_id=str(record_id))
