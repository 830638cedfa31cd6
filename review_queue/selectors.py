from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from django.db.models import Q, QuerySet

from integration_console.catalog.models import FieldRule
from integration_console.sync.failures import FailureKind
from integration_console.sync.models import Correction, Merge, RecordLink
from integration_console.sync.redaction import (
    MASK,
    mask_payload,
    sensitive_fields,
    sensitive_source_paths,
)
from integration_console.sync.services import record_corrections

from .models import ReviewItem


def review_item_list() -> QuerySet[ReviewItem]:
    return ReviewItem.objects.select_related(
        "flow__data_class", "flow__source_system", "flow__target_system", "assignee"
    )


# What a row of the list shows: never the payload-sized JSON columns (source_snapshot, payload,
# target_response), which would make every page read megabytes it does not show.
LIST_COLUMNS = (
    "id",
    "source_id",
    "kind",
    "status",
    "reason",
    "field_errors",
    "occurrences",
    "last_seen",
    "first_seen",
    "sla_due_at",
    "flow__name",
    "assignee__username",
)


@dataclass(frozen=True)
class ItemCursor:
    """A position in the list's order (-last_seen, -id): the row a page starts after (or
    ends before). Written into the page's links as ``<last_seen ISO 8601>_<id>``."""

    last_seen: datetime
    id: int

    def __str__(self) -> str:
        return f"{self.last_seen.isoformat()}_{self.id}"

    @classmethod
    def parse(cls, text: str) -> Self:
        """Raises ValueError, with a reason a person can read, for anything else."""
        seen, _, pk = text.rpartition("_")
        try:
            last_seen = datetime.fromisoformat(seen)
            position = cls(last_seen, int(pk))
        except ValueError:
            raise ValueError(f"{text!r} is not a position in the list") from None
        if last_seen.tzinfo is None:
            raise ValueError(f"{text!r} has no time zone")
        return position

    @classmethod
    def of(cls, item: ReviewItem) -> Self:
        return cls(item.last_seen, item.pk)


@dataclass(frozen=True)
class ItemPage:
    """One page of the list, read by keyset: the query costs the same at any depth, and no
    total is counted. ``next``/``previous`` are the cursors of the neighbouring pages, or None
    where there is (as far as this page knows) nothing more."""

    items: list[ReviewItem]
    next: ItemCursor | None
    previous: ItemCursor | None

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def review_item_page(
    items: QuerySet[ReviewItem],
    *,
    size: int,
    after: ItemCursor | None = None,
    before: ItemCursor | None = None,
) -> ItemPage:
    """The ``size`` items of ``items`` that follow ``after`` (or precede ``before``) in the
    order (-last_seen, -id), newest first, with the list's columns only. The bound on last_seen
    alone is what lets an index range scan start at the cursor; the (last_seen, id) tie-break
    is a filter on the few rows that share its timestamp."""
    rows = items.select_related(None).select_related("flow", "assignee").only(*LIST_COLUMNS)
    if before is not None:
        rows = rows.filter(
            Q(last_seen__gt=before.last_seen) | Q(id__gt=before.id),
            last_seen__gte=before.last_seen,
        ).order_by("last_seen", "id")
        found = list(rows[: size + 1])
        shown = found[:size][::-1]
        return ItemPage(
            items=shown,
            next=ItemCursor.of(shown[-1]) if shown else None,
            previous=ItemCursor.of(shown[0]) if len(found) > size else None,
        )
    if after is not None:
        rows = rows.filter(
            Q(last_seen__lt=after.last_seen) | Q(id__lt=after.id),
            last_seen__lte=after.last_seen,
        )
    found = list(rows.order_by("-last_seen", "-id")[: size + 1])
    shown = found[:size]
    return ItemPage(
        items=shown,
        next=ItemCursor.of(shown[-1]) if len(found) > size else None,
        previous=ItemCursor.of(shown[0]) if after is not None and shown else None,
    )


def review_item_latest_merge(item: ReviewItem) -> Merge | None:
    """The latest merge of the item's record (in force, under way or undone), if any. Only a
    possible duplicate is merged: other items cost no query."""
    if item.kind != FailureKind.POSSIBLE_DUPLICATE:
        return None
    return Merge.objects.filter(flow_id=item.flow_id, source_id=item.source_id).first()


def review_item_record_link(item: ReviewItem) -> RecordLink | None:
    return RecordLink.objects.for_record(item.flow, item.source_id).first()


def review_item_corrections(item: ReviewItem) -> list[Correction]:
    """The corrections kept for the item's record, sensitive values masked: what the pipeline
    applies on every run until the source's own value changes."""
    sensitive = sensitive_fields(item.flow.data_class.fields)
    shown = record_corrections(flow=item.flow, source_id=item.source_id, limit=20)
    for correction in shown:
        if correction.target_field in sensitive:
            correction.value = correction.source_value = MASK
    return shown


@dataclass(frozen=True)
class ShownItem:
    """What the item's page may show of its record: sensitive values masked."""

    payload: dict[str, Any] | None
    source_snapshot: dict[str, Any]
    sensitive: frozenset[str]


def review_item_shown(item: ReviewItem) -> ShownItem:
    """The item's payload and source snapshot with the data class's sensitive fields masked,
    whether or not they were stored masked. In the snapshot, the source paths that any version
    of the flow's field map reads into a sensitive field are masked too (one query, made only
    when the data class has sensitive fields)."""
    sensitive = sensitive_fields(item.flow.data_class.fields)
    if not sensitive:
        return ShownItem(item.payload, item.source_snapshot, frozenset())
    rules = FieldRule.objects.filter(
        version__field_map_id=item.flow.field_map_id, target_path__in=sensitive
    ).only("source_path", "target_path", "transform")
    return ShownItem(
        payload=None if item.payload is None else mask_payload(item.payload, sensitive),
        source_snapshot=mask_payload(
            item.source_snapshot, sensitive | sensitive_source_paths(rules, sensitive)
        ),
        sensitive=frozenset(sensitive),
    )
