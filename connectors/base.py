"""What the sync engine needs from a connector. Connectors know payloads, ids and errors only."""

from collections.abc import Iterator
from typing import Any, Protocol

Record = dict[str, Any]


class Connector(Protocol):
    def iter_records(
        self, resource: str, *, updated_since: str | None = None, page_size: int = 50
    ) -> Iterator[Record]:
        """Yield every record of ``resource`` (changed since ``updated_since``), page by page,
        holding one page in memory at a time."""
        ...

    def get(self, resource: str, record_id: str) -> Record: ...

    def create(self, resource: str, payload: Record, *, idempotency_key: str) -> Record:
        """Create a record and return it as stored, with its ``id``. Sending the same
        idempotency key twice must not create a second record."""
        ...

    def update(self, resource: str, record_id: str, payload: Record) -> Record: ...

    def close(self) -> None: ...
