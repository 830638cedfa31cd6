"""The queue listens to the sync engine's outcomes, and to the catalog's approvals; the work
is in services."""

from django.dispatch import receiver

from integration_console.catalog.models import FieldMapVersion
from integration_console.catalog.signals import version_approved
from integration_console.sync.signals import (
    merge_undone,
    record_failed,
    record_held_back,
    record_synced,
)

from . import groups, services


@receiver(record_failed, dispatch_uid="review_queue.record_failed")
def on_record_failed(
    sender, *, flow, source_id, failure, source_record, payload, audit_entry, **kwargs
) -> None:
    services.review_item_record_failure(
        flow=flow,
        source_id=source_id,
        failure=failure,
        source_record=source_record,
        payload=payload,
        actor=audit_entry.actor,
    )


@receiver(record_synced, dispatch_uid="review_queue.record_synced")
def on_record_synced(sender, *, flow, source_id, target_id, audit_entry, **kwargs) -> None:
    services.review_item_resolve_by_sync(
        flow=flow,
        source_id=source_id,
        target_id=target_id,
        payload=audit_entry.payload,
        action=audit_entry.action,
        actor=audit_entry.actor,
    )


@receiver(merge_undone, dispatch_uid="review_queue.merge_undone")
def on_merge_undone(sender, *, flow, source_id, reason, actor, **kwargs) -> None:
    services.review_item_reopen_after_undo(
        flow=flow, source_id=source_id, reason=reason, actor=actor
    )


@receiver(record_held_back, dispatch_uid="review_queue.record_held_back")
def on_record_held_back(sender, *, flow, source_id, reason, **kwargs) -> None:
    services.review_item_hold_back(flow=flow, source_id=source_id, reason=reason)


@receiver(version_approved, sender=FieldMapVersion, dispatch_uid="review_queue.field_map_approved")
def on_field_map_version_approved(sender, *, version, user, **kwargs) -> None:
    groups.rule_fixes_after_approval(version=version, user=user)
