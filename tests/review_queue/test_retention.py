"""Retention: what an admin lets go is pruned; what an open item needs is kept."""

from datetime import UTC, datetime, timedelta

import pytest

from integration_console.sync.models import AuditEntry
from review_queue.models import ReviewItem, ReviewItemEvent
from review_queue.retention import retention_prune
from tests.factories import AuditEntryFactory, FlowFactory, ReviewItemFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 3, 17, tzinfo=UTC)
OLD = NOW - timedelta(days=31)
RECENT = NOW - timedelta(days=29)


@pytest.fixture
def flow():
    return FlowFactory(retention_days=30)


def closed_item(flow, source_id, *, closed_at=OLD, status=ReviewItem.Status.RESOLVED, **fields):
    return ReviewItemFactory(
        flow=flow, source_id=source_id, status=status, closed_at=closed_at, **fields
    )


def audit_entries(flow, source_id, *, created_at=OLD, count=2):
    entries = AuditEntryFactory.create_batch(count, flow=flow, source_id=source_id, run=None)
    # Written as they were then; QuerySet.update(), as AuditEntry.save() refuses a change.
    AuditEntry.objects.filter(pk__in=[e.pk for e in entries]).update(created_at=created_at)
    return entries


def entries_of(source_id):
    return AuditEntry.objects.filter(source_id=source_id).count()


def test_an_old_closed_item_goes_with_its_events_history_and_audit_entries(flow):
    item = closed_item(flow, "C-1")
    audit_entries(flow, "C-1")

    counts = retention_prune(now=NOW)

    assert not ReviewItem.objects.filter(pk=item.pk).exists()
    assert not ReviewItemEvent.objects.filter(item_id=item.pk).exists()
    assert not ReviewItem.history.filter(id=item.pk).exists()
    assert entries_of("C-1") == 0
    assert counts == {"flows": 1, "review_items": 1, "review_item_events": 1, "audit_entries": 2}


def test_the_old_audit_entries_of_a_record_with_an_open_item_stay(flow):
    item = ReviewItemFactory(flow=flow, source_id="C-2")
    ReviewItem.objects.filter(pk=item.pk).update(first_seen=OLD, last_seen=OLD)
    audit_entries(flow, "C-2")

    retention_prune(now=NOW)

    assert ReviewItem.objects.filter(pk=item.pk).exists()
    assert entries_of("C-2") == 2


def test_a_flow_without_retention_keeps_everything():
    flow = FlowFactory(retention_days=None)
    closed_item(flow, "C-3", closed_at=NOW - timedelta(days=3000))
    audit_entries(flow, "C-3", created_at=NOW - timedelta(days=3000))

    assert retention_prune(now=NOW)["flows"] == 0
    assert ReviewItem.objects.filter(source_id="C-3").exists()
    assert entries_of("C-3") == 2


def test_what_is_younger_than_the_retention_stays(flow):
    closed_item(flow, "C-4", closed_at=RECENT)
    audit_entries(flow, "C-4", created_at=RECENT)
    audit_entries(flow, "C-4", created_at=OLD, count=1)

    retention_prune(now=NOW)

    assert ReviewItem.objects.filter(source_id="C-4").exists()
    assert entries_of("C-4") == 2  # the old one went


def test_an_old_closed_item_that_an_open_item_follows_from_stays(flow):
    earlier = closed_item(flow, "C-5")
    ReviewItemFactory(flow=flow, source_id="C-5", previous_item=earlier)

    retention_prune(now=NOW)

    assert ReviewItem.objects.filter(pk=earlier.pk).exists()


def test_a_closed_item_that_followed_a_pruned_one_forgets_it(flow):
    earlier = closed_item(flow, "C-6", closed_at=OLD - timedelta(days=10))
    later = closed_item(flow, "C-6", closed_at=RECENT, previous_item=earlier)

    retention_prune(now=NOW)

    later.refresh_from_db()
    assert later.previous_item is None
    assert not ReviewItem.objects.filter(pk=earlier.pk).exists()


def test_a_prune_in_small_chunks_deletes_all_that_is_due_and_a_second_prune_nothing(flow):
    for n in range(5):
        closed_item(flow, f"C-1{n}", status=ReviewItem.Status.DISMISSED)
        audit_entries(flow, f"C-1{n}", count=3)

    first = retention_prune(now=NOW, chunk_size=2)
    second = retention_prune(now=NOW, chunk_size=2)

    assert (first["review_items"], first["audit_entries"]) == (5, 15)
    assert (second["review_items"], second["audit_entries"]) == (0, 0)
    assert not ReviewItem.objects.exists()
    assert not AuditEntry.objects.exists()
