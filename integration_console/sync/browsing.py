"""Read-only browsing of a system's records, the first phase of a rollout: see what a source
holds, as its connector reads it, before any flow writes anything."""

from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from connectors.base import Position, record_position
from connectors.errors import ConnectorError
from integration_console.catalog.models import System
from integration_console.storable import storable

from .connections import connector_for
from .models import Flow
from .redaction import mask_payload
from .selectors import resource_sensitive_paths

BROWSE_PAGE_SIZE = 25


@dataclass
class BrowsedPage:
    """One page of a resource's records, sensitive fields masked, and where the next starts."""

    records: list[dict[str, Any]] = field(default_factory=list)
    next_position: Position | None = None
    error: str = ""


def system_resources(system: System) -> list[str]:
    """The resources of ``system`` that flows read or write, by name."""
    names = set(Flow.objects.filter(source_system=system).values_list("source_resource", flat=True))
    names |= set(
        Flow.objects.filter(target_system=system).values_list("target_resource", flat=True)
    )
    return sorted(names)


def system_browse(*, system: System, resource: str, after: Position | None) -> BrowsedPage:
    """One page of ``resource`` in ``system``, read through its connector, after ``after``.
    Reads only, never writes; a connector's refusal is reported on the page, not raised.
    Fields that flows map into sensitive fields are masked."""
    connector = connector_for(system)
    try:
        records = list(
            islice(
                connector.iter_records(resource, after=after, page_size=BROWSE_PAGE_SIZE),
                BROWSE_PAGE_SIZE + 1,
            )
        )
    except ConnectorError as exc:
        return BrowsedPage(error=exc.message)
    finally:
        connector.close()
    more = len(records) > BROWSE_PAGE_SIZE
    records = records[:BROWSE_PAGE_SIZE]
    hidden = resource_sensitive_paths(system, resource)
    shown = [storable(mask_payload(r, hidden) if isinstance(r, dict) else r) for r in records]
    last = records[-1] if records and isinstance(records[-1], dict) else None
    return BrowsedPage(
        records=shown, next_position=record_position(last) if more and last else None
    )
