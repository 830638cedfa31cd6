"""A bulk dismissal or assignment writes each batch together (review_queue/bulk.py: _Together):
each item ends as its service would leave it, with the same refusals, in a few statements for
the whole batch; and item by item when the batch cannot be written together."""

import threading
import time

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from integration_console import roles
from integration_console.sync.failures import FailureKind
from integration_console.sync.locks import record_lock
from integration_console.sync.models import AuditEntry
from review_queue import bulk
from review_queue.bulk import bulk_action_execute, bulk_action_start
from review_queue.models import BulkAction, ReviewItem, ReviewItemEvent
from review_queue.services import review_item_assign, review_item_dismiss
from tests.factories import FlowFactory, ReviewItemFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    return UserFactory(role=roles.OPERATOR)


@pytest.fixture
def flow():
    return FlowFactory()


@pytest.fixture
def run(operator, in_process_jobs, django_capture_on_commit_callbacks):
    """Start a bulk action as ``operator`` on ``items`` and run its job here, to the end."""

    def run(action: str, items, **parameters) -> BulkAction:
        with django_capture_on_commit_callbacks(execute=True):
            started = bulk_action_start(
                user=operator,
                action=action,
                parameters=parameters,
                item_ids=[item.pk for item in items],
            )
        started.refresh_from_db()
        return started

    return run


def counts(bulk_action: BulkAction) -> tuple:
    return (
        bulk_action.status,
        bulk_action.done,
        bulk_action.succeeded,
        bulk_action.refused,
        bulk_action.failed,
    )


def what_changed(item: ReviewItem) -> dict:
    """An item's state, last event, audit entry and history row, without what differs
    between two items by nature (ids, record, times)."""
    item.refresh_from_db()
    event = item.events.latest("id")
    history = item.history.latest("history_id")
    audit = AuditEntry.objects.filter(source_id=item.source_id).order_by("id").last()
    return {
        "item": (item.status, item.resolution, item.version, item.assignee_id),
        "closed": item.closed_at is not None,
        "event": (event.action, event.actor, event.note, event.details, event.item_version),
        "audit": audit
        and (
            audit.flow_id,
            audit.action,
            audit.outcome,
            audit.payload,
            audit.failure_kind,
            audit.failure_reason,
            audit.actor,
        ),
        "history": (
            history.history_type,
            history.history_user_id,
            history.history_change_reason,
            history.status,
            history.version,
            history.assignee_id,
            history.resolution,
            history.closed_at == item.closed_at,
        ),
        "events": item.events.count(),
        "history_rows": item.history.count(),
    }


def test_a_dismissal_in_bulk_leaves_each_item_as_a_single_dismissal_does(flow, operator, run):
    by_hand, in_bulk = ReviewItemFactory.create_batch(2, flow=flow)
    # The same payload, so that their audit entries can be compared whole.
    ReviewItem.objects.filter(pk=in_bulk.pk).update(payload=by_hand.payload)

    review_item_dismiss(item=by_hand, user=operator, reason="Test contacts")
    bulk_action = run("dismiss", [in_bulk], reason="Test contacts")

    assert counts(bulk_action) == ("succeeded", 1, 1, 0, 0)
    assert what_changed(in_bulk) == what_changed(by_hand)
    assert what_changed(in_bulk)["item"] == ("dismissed", "Test contacts", 2, None)


def test_an_assignment_in_bulk_leaves_each_item_as_a_single_assignment_does(flow, operator, run):
    before, assignee = UserFactory(role=roles.OPERATOR), UserFactory(role=roles.OPERATOR)
    by_hand, in_bulk = ReviewItemFactory.create_batch(
        2, flow=flow, assignee=before, status=ReviewItem.Status.IN_PROGRESS
    )

    review_item_assign(item=by_hand, user=operator, assignee=assignee)
    bulk_action = run("assign", [in_bulk], assignee_id=assignee.pk)

    assert counts(bulk_action) == ("succeeded", 1, 1, 0, 0)
    assert what_changed(in_bulk) == what_changed(by_hand)
    event = in_bulk.events.latest("id")
    assert event.note == f"Assigned to {assignee.username}. It was {before.username}'s."


def test_unassigning_in_bulk_leaves_each_item_as_a_single_unassignment_does(flow, operator, run):
    by_hand, in_bulk = ReviewItemFactory.create_batch(
        2, flow=flow, assignee=operator, status=ReviewItem.Status.IN_PROGRESS
    )

    review_item_assign(item=by_hand, user=operator, assignee=None)
    bulk_action = run("assign", [in_bulk], assignee_id=None)

    assert counts(bulk_action) == ("succeeded", 1, 1, 0, 0)
    assert what_changed(in_bulk) == what_changed(by_hand)
    assert what_changed(in_bulk)["item"] == ("open", "", 2, None)


def test_items_already_as_asked_change_nothing_and_closed_ones_are_refused(flow, operator, run):
    dismissed, resolved, open_item = ReviewItemFactory.create_batch(3, flow=flow)
    review_item_dismiss(item=dismissed, user=operator, reason="Earlier")
    ReviewItem.objects.filter(pk=resolved.pk).update(status=ReviewItem.Status.RESOLVED)

    bulk_action = run("dismiss", [dismissed, resolved, open_item], reason="Noise")

    assert counts(bulk_action) == ("succeeded_with_failures", 3, 2, 1, 0)
    assert bulk_action.refusals == [
        {
            "item_id": resolved.pk,
            "source_id": resolved.source_id,
            "reason": "A resolved item cannot be dismissed.",
        }
    ]
    dismissed.refresh_from_db()
    assert (dismissed.resolution, dismissed.version) == ("Earlier", 2)
    assert ReviewItemEvent.objects.filter(action="dismissed").count() == 2


def test_an_assignee_who_may_not_act_is_refused_for_each_item(flow, run):
    nobody_special = UserFactory()
    items = ReviewItemFactory.create_batch(2, flow=flow)

    bulk_action = run("assign", items, assignee_id=nobody_special.pk)

    assert counts(bulk_action) == ("succeeded_with_failures", 2, 0, 2, 0)
    assert {refusal["reason"] for refusal in bulk_action.refusals} == {
        f"{nobody_special.username} may not act on review items."
    }
    assert {refusal["source_id"] for refusal in bulk_action.refusals} == {
        item.source_id for item in items
    }


def test_an_assignee_who_left_is_refused_for_each_item_with_its_record(flow, run):
    gone = UserFactory(role=roles.OPERATOR, is_active=False)
    items = ReviewItemFactory.create_batch(2, flow=flow)

    bulk_action = run("assign", items, assignee_id=gone.pk)

    assert counts(bulk_action) == ("succeeded_with_failures", 2, 0, 2, 0)
    assert sorted(bulk_action.refusals, key=lambda refusal: refusal["item_id"]) == [
        {
            "item_id": item.pk,
            "source_id": item.source_id,
            "reason": "The person to assign to no longer exists or is inactive.",
        }
        for item in items
    ]


def test_an_item_whose_retries_ran_out_is_dismissed_through_its_service(flow, run, monkeypatch):
    # Its service first asks the target for a create whose answer was lost.
    exhausted = ReviewItemFactory(flow=flow, kind=FailureKind.RETRIES_EXHAUSTED)
    plain = ReviewItemFactory(flow=flow)
    asked = []
    dismiss = bulk.review_item_dismiss

    def spy(*, item, **kwargs):
        asked.append(item.pk)
        return dismiss(item=item, **kwargs)

    monkeypatch.setattr(bulk, "review_item_dismiss", spy)

    bulk_action = run("dismiss", [exhausted, plain], reason="Noise")

    assert counts(bulk_action) == ("succeeded", 2, 2, 0, 0)
    assert asked == [exhausted.pk]
    assert ReviewItem.objects.filter(status="dismissed").count() == 2
    assert AuditEntry.objects.filter(action=AuditEntry.Action.DISMISS).count() == 2


def test_a_batch_that_cannot_be_written_together_is_done_item_by_item(flow, run, monkeypatch):
    items = ReviewItemFactory.create_batch(3, flow=flow)

    def write_fails(together, changed, *, assignee):
        ReviewItem.objects.filter(pk__in=[item.pk for item in changed]).update(version=0)
        raise IntegrityError("as a deadlock or a constraint would")

    monkeypatch.setattr(bulk._Together, "_write", write_fails)

    bulk_action = run("dismiss", items, reason="Noise")

    assert counts(bulk_action) == ("succeeded", 3, 3, 0, 0)
    for item in items:
        # Nothing of the failed attempt is left (its version 0 was rolled back with it).
        assert what_changed(item)["item"] == ("dismissed", "Noise", 2, None)
        assert what_changed(item)["events"] == 2  # opened, dismissed
    assert AuditEntry.objects.filter(action=AuditEntry.Action.DISMISS).count() == 3


def queries_of_one_batch(flow, operator, size: int, action: str, **parameters) -> int:
    items = ReviewItemFactory.create_batch(size, flow=flow)
    started = bulk_action_start(
        user=operator, action=action, parameters=parameters, item_ids=[i.pk for i in items]
    )
    with CaptureQueriesContext(connection) as queries:
        bulk_action_execute(bulk_action_id=started.pk)
    started.refresh_from_db()
    assert (started.status, started.succeeded) == ("succeeded", size)
    return len(queries)


@pytest.mark.parametrize(
    "action, parameters", [("dismiss", {"reason": "Noise"}), ("assign", {"assignee_id": None})]
)
def test_a_batch_costs_the_same_few_queries_whatever_its_size(
    flow, operator, in_process_jobs, action, parameters
):
    if action == "assign":
        parameters = {"assignee_id": UserFactory(role=roles.OPERATOR).pk}
    few = queries_of_one_batch(flow, operator, 3, action, **parameters)
    many = queries_of_one_batch(flow, operator, 40, action, **parameters)

    assert many == few
    assert few <= 25


@pytest.mark.django_db(transaction=True)
def test_a_batch_waits_for_a_record_another_writer_holds_and_finds_it_as_left(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serializes writes, so this race needs PostgreSQL (the lane-2 run)")
    monkeypatch.setattr(bulk, "enqueue_job", lambda *args, **kwargs: None)  # run below
    operator = UserFactory(role=roles.OPERATOR)
    synced, other = ReviewItemFactory.create_batch(2, flow=FlowFactory())
    started = bulk_action_start(
        user=operator,
        action="dismiss",
        parameters={"reason": "Noise"},
        item_ids=[synced.pk, other.pk],
    )
    holding = threading.Event()

    def sync_resolves_it() -> None:
        # As the engine does: the record's lock, then the item resolved, in one transaction.
        try:
            with record_lock(synced.flow_id, synced.source_id), transaction.atomic():
                holding.set()
                time.sleep(0.5)
                ReviewItem.objects.filter(pk=synced.pk).update(
                    status=ReviewItem.Status.RESOLVED, version=2
                )
        finally:
            connection.close()

    writer = threading.Thread(target=sync_resolves_it)
    writer.start()
    assert holding.wait(5)
    bulk_action_execute(bulk_action_id=started.pk)
    writer.join(10)

    started.refresh_from_db()
    assert counts(started) == ("succeeded_with_failures", 2, 1, 1, 0)
    assert started.refusals[0]["reason"] == "A resolved item cannot be dismissed."
    assert [ReviewItem.objects.get(pk=i.pk).status for i in (synced, other)] == [
        "resolved",
        "dismissed",
    ]
