from dataclasses import dataclass
from typing import Any

from django.db.models import F, QuerySet

from integration_console.catalog.models import FieldRule
from integration_console.sync.models import AuditEntry, Correction, RecordLink
from integration_console.sync.redaction import (
    MASK,
    mask_payload,
    sensitive_fields,
    sensitive_source_paths,
)

from .models import ReviewItem, ReviewItemEvent


def review_item_list() -> QuerySet[ReviewItem]:
    return ReviewItem.objects.select_related(
        "flow__data_class", "flow__source_system", "flow__target_system", "assignee"
    )


def review_item_events(item: ReviewItem) -> QuerySet[ReviewItemEvent]:
    """The item's timeline, newest first."""
    return item.events.order_by("-created_at", "-id")


def review_item_audit_entries(item: ReviewItem) -> QuerySet[AuditEntry]:
    """Every attempt on the item's record, newest first."""
    return (
        AuditEntry.objects.filter(flow=item.flow, source_id=item.source_id)
        .select_related("payload_version", "run")
        .order_by("-created_at", "-id")
    )


def review_item_record_link(item: ReviewItem) -> RecordLink | None:
    return RecordLink.objects.for_record(item.flow, item.source_id).first()


def review_item_corrections(item: ReviewItem) -> list[Correction]:
    """The corrections kept for the item's record, sensitive values masked: what the pipeline
    applies on every run until the source's own value changes."""
    sensitive = sensitive_fields(item.flow.data_class.fields)
    corrections = Correction.objects.filter(flow=item.flow, source_id=item.source_id).order_by(
        F("retired_at").desc(nulls_first=True), "-made_at"
    )[:20]
    shown = list(corrections)
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
    ).only("source_path", "target_path")
    return ShownItem(
        payload=None if item.payload is None else mask_payload(item.payload, sensitive),
        source_snapshot=mask_payload(
            item.source_snapshot, sensitive | sensitive_source_paths(rules, sensitive)
        ),
        sensitive=frozenset(sensitive),
    )
