from django.db.models import QuerySet

from integration_console.sync.models import AuditEntry, RecordLink

from .models import ReviewItem


def review_item_list() -> QuerySet[ReviewItem]:
    return ReviewItem.objects.select_related(
        "flow__data_class", "flow__source_system", "flow__target_system", "assignee"
    )


def review_item_audit_entries(item: ReviewItem) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(flow=item.flow, source_id=item.source_id).select_related(
        "payload_version", "run"
    )


def review_item_record_link(item: ReviewItem) -> RecordLink | None:
    flow = item.flow
    return RecordLink.objects.filter(
        data_class=flow.data_class,
        source_system=flow.source_system,
        source_id=item.source_id,
        target_system=flow.target_system,
    ).first()
