"""Retention: a flow's ``retention_days`` (set by an admin; empty keeps everything) bounds how
long its closed review items and its audit entries are kept. RQ's cron runs the prune daily
(integration_console/cron.py).

The audit trail is append-only: ``AuditEntry.delete()`` raises, and nothing else in the
console removes an entry. Pruning by retention is the one sanctioned way to remove audit
rows; it deletes them with queryset deletes, which never call a model's ``delete()``.
"""

import logging
from datetime import datetime, timedelta

from django.db import router, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from integration_console.sync.models import AuditEntry, Flow

from .models import ReviewItem, ReviewItemEvent

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1000
CLOSED_STATUSES = (ReviewItem.Status.RESOLVED, ReviewItem.Status.DISMISSED)


def retention_prune(*, now: datetime | None = None, chunk_size: int = CHUNK_SIZE) -> dict[str, int]:
    """For every flow with ``retention_days``, delete what is older than its cutoff
    (``now`` minus that many days):

    - resolved and dismissed items closed before the cutoff, with their events and their
      history rows, unless an active item names one as its previous item;
    - audit entries created before the cutoff, unless their record (flow, source id) has an
      active item (open, in progress, retrying): that item's trail stays whole.

    Deletes run in chunks of ``chunk_size`` ids, each in its own transaction, so no more than a
    chunk of ids is ever in memory, and a prune stopped halfway (a job timeout, a lost
    worker) keeps what it did; running it again goes on from there. Idempotent.
    Returns the counts deleted."""
    now = now or timezone.now()
    totals = {"flows": 0, "review_items": 0, "review_item_events": 0, "audit_entries": 0}
    flows = Flow.objects.filter(retention_days__isnull=False).only("pk", "name", "retention_days")
    for flow in flows:
        cutoff = now - timedelta(days=flow.retention_days)
        items, events = _prune_closed_items(flow, cutoff, chunk_size)
        entries = _prune_audit_entries(flow, cutoff, chunk_size)
        totals["flows"] += 1
        totals["review_items"] += items
        totals["review_item_events"] += events
        totals["audit_entries"] += entries
        logger.info(
            "Retention of %s (%s days): deleted %s closed items (%s events), %s audit entries.",
            flow.name,
            flow.retention_days,
            items,
            events,
            entries,
        )
    return totals


def _prune_closed_items(flow: Flow, cutoff: datetime, chunk_size: int) -> tuple[int, int]:
    referenced_by_active = ReviewItem.objects.filter(
        status__in=ReviewItem.ACTIVE_STATUSES, previous_item__isnull=False
    ).values("previous_item")
    prunable = (
        ReviewItem.objects.filter(flow=flow, status__in=CLOSED_STATUSES)
        # An item closed before closed_at was kept is judged by when it was last seen.
        .filter(Q(closed_at__lt=cutoff) | Q(closed_at__isnull=True, last_seen__lt=cutoff))
        .exclude(pk__in=referenced_by_active)
        .order_by("pk")
    )
    using = router.db_for_write(ReviewItem)
    items = events = last = 0
    while True:
        with transaction.atomic(using=using):
            # Locked: a reopen (which locks the item too) cannot interleave with the delete.
            # Keyset by id: rows kept on purpose are passed once, not scanned again each chunk.
            chunk = prunable.filter(pk__gt=last).select_for_update()
            ids = list(chunk.values_list("pk", flat=True)[:chunk_size])
            if not ids:
                return items, events
            last = ids[-1]
            # Closed items that name a pruned item as their previous one forget it.
            ReviewItem.objects.filter(previous_item__in=ids).update(previous_item=None)
            events += ReviewItemEvent.objects.filter(item__in=ids).delete()[0]
            ReviewItem.history.model.objects.filter(id__in=ids).delete()
            # Raw: QuerySet.delete() would have django-simple-history write a "deleted" history
            # row for each item, the very rows this prune removes. Events and the previous-item
            # references are handled above; a new relation to ReviewItem fails the commit (the
            # foreign key), it is never silently left dangling.
            items += ReviewItem.objects.filter(pk__in=ids)._raw_delete(using)


def _prune_audit_entries(flow: Flow, cutoff: datetime, chunk_size: int) -> int:
    active_item = ReviewItem.objects.filter(
        flow=flow, source_id=OuterRef("source_id"), status__in=ReviewItem.ACTIVE_STATUSES
    )
    prunable = (
        AuditEntry.objects.filter(flow=flow, created_at__lt=cutoff)
        .exclude(Exists(active_item))
        .order_by("pk")
    )
    deleted = last = 0
    while True:
        ids = list(prunable.filter(pk__gt=last).values_list("pk", flat=True)[:chunk_size])
        if not ids:
            return deleted
        last = ids[-1]
        # The whole condition again in the DELETE: an item opened since the look keeps its
        # record's entries. QuerySet.delete() does not call AuditEntry.delete().
        deleted += prunable.filter(pk__in=ids).delete()[0]
