"""The job behind a bulk action (review_queue/bulk.py): batches, counts, refusals, the frozen
selection, cancelling, and resuming after a crash."""

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integration_console import roles
from integration_console.sync.models import AuditEntry, Flow
from review_queue import bulk
from review_queue.bulk import (
    bulk_action_cancel,
    bulk_action_execute,
    bulk_action_start,
    bulk_actions_recover,
)
from review_queue.models import BulkAction, ReviewItem, ReviewItemEvent
from tests.factories import FlowFactory, ReviewItemFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    return UserFactory(role=roles.OPERATOR)


@pytest.fixture
def flow():
    return FlowFactory()


@pytest.fixture
def items(flow):
    return ReviewItemFactory.create_batch(5, flow=flow)


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(bulk, "BATCH_SIZE", 2)


@pytest.fixture
def start(operator, in_process_jobs, django_capture_on_commit_callbacks):
    """Start a bulk action as ``operator`` and run its job here, to the end."""

    def start(**kwargs) -> BulkAction:
        kwargs.setdefault("action", "dismiss")
        kwargs.setdefault("parameters", {"reason": "Test contacts"})
        with django_capture_on_commit_callbacks(execute=True):
            started = bulk_action_start(user=operator, **kwargs)
        started.refresh_from_db()
        return started

    return start


def statuses(items) -> list[str]:
    return [ReviewItem.objects.get(pk=item.pk).status for item in items]


def counts(bulk_action: BulkAction) -> tuple:
    return (
        bulk_action.status,
        bulk_action.total,
        bulk_action.done,
        bulk_action.succeeded,
        bulk_action.refused,
        bulk_action.failed,
    )


def test_the_job_dismisses_every_item_batch_by_batch_and_counts_them(
    start, items, small_batches, operator
):
    bulk_action = start(item_ids=[item.pk for item in items])

    assert counts(bulk_action) == ("succeeded", 5, 5, 5, 0, 0)
    assert statuses(items) == ["dismissed"] * 5
    assert (
        ReviewItemEvent.objects.filter(
            action="dismissed", actor=f"user:{operator.username}", note="Test contacts"
        ).count()
        == 5
    )
    assert AuditEntry.objects.filter(action=AuditEntry.Action.DISMISS).count() == 5
    assert bulk_action.started_at <= bulk_action.heartbeat_at <= bulk_action.finished_at


def test_items_that_cannot_take_the_action_are_refused_with_their_reason_and_the_rest_go_on(
    start, items, small_batches
):
    closed, gone = items[1], items[3]
    ReviewItem.objects.filter(pk=closed.pk).update(status=ReviewItem.Status.RESOLVED)
    gone_id = gone.pk
    gone.delete()

    bulk_action = start(item_ids=[item.pk for item in items[:3]] + [gone_id, items[4].pk])

    assert counts(bulk_action) == ("succeeded_with_failures", 5, 5, 3, 2, 0)
    assert statuses([items[0], items[2], items[4]]) == ["dismissed"] * 3
    assert sorted(bulk_action.refusals, key=lambda refusal: refusal["item_id"]) == [
        {
            "item_id": closed.pk,
            "source_id": closed.source_id,
            "reason": "A resolved item cannot be dismissed.",
        },
        {"item_id": gone_id, "source_id": "", "reason": "The item no longer exists."},
    ]


def test_only_the_first_refusals_are_kept_but_every_one_is_counted(start, items, monkeypatch):
    monkeypatch.setattr(BulkAction, "MAX_REFUSALS", 2)
    ReviewItem.objects.update(status=ReviewItem.Status.RESOLVED)

    bulk_action = start(item_ids=[item.pk for item in items])

    assert counts(bulk_action) == ("succeeded_with_failures", 5, 5, 0, 5, 0)
    assert len(bulk_action.refusals) == 2


def test_a_retry_the_flows_stage_forbids_is_refused_with_the_stage_as_reason(start, items, flow):
    Flow.objects.filter(pk=flow.pk).update(stage=Flow.Stage.READ_ONLY)

    bulk_action = start(action="retry", parameters={}, item_ids=[items[0].pk])

    assert counts(bulk_action) == ("succeeded_with_failures", 1, 1, 0, 1, 0)
    assert "read only stage" in bulk_action.refusals[0]["reason"]
    assert statuses(items[:1]) == ["open"]


def test_an_unexpected_error_on_one_item_is_counted_and_the_others_still_get_the_action(
    start, items, monkeypatch
):
    dismissal = bulk._Together._dismissal

    def broken_for_one(together, item):
        if item.pk == items[2].pk:
            raise RuntimeError("a bug")
        return dismissal(together, item)

    monkeypatch.setattr(bulk._Together, "_dismissal", broken_for_one)

    bulk_action = start(item_ids=[item.pk for item in items])

    assert counts(bulk_action) == ("succeeded_with_failures", 5, 5, 4, 0, 1)
    assert bulk_action.refusals[0] == {
        "item_id": items[2].pk,
        "source_id": items[2].source_id,
        "reason": "Failed unexpectedly: a bug",
    }
    assert statuses(items) == ["dismissed"] * 2 + ["open"] + ["dismissed"] * 2
    assert ReviewItemEvent.objects.filter(action="dismissed").count() == 4


def test_done_item_by_item_an_unexpected_error_on_one_item_is_counted_the_same_way(
    start, items, monkeypatch
):
    # Item by item: retries, and the batches that could not be written together.
    monkeypatch.setattr(bulk._Together, "apply", lambda together, ids: 1 / 0)
    dismiss = bulk.review_item_dismiss

    def broken_for_one(*, item, **kwargs):
        if item.pk == items[2].pk:
            raise RuntimeError("a bug")
        return dismiss(item=item, **kwargs)

    monkeypatch.setattr(bulk, "review_item_dismiss", broken_for_one)

    bulk_action = start(item_ids=[item.pk for item in items])

    assert counts(bulk_action) == ("succeeded_with_failures", 5, 5, 4, 0, 1)
    assert bulk_action.refusals[0]["reason"] == "Failed unexpectedly: a bug"
    assert statuses(items) == ["dismissed"] * 2 + ["open"] + ["dismissed"] * 2


def test_all_matching_acts_on_the_lists_filters_for_the_person_who_asked(start, flow, operator):
    mine = ReviewItemFactory(flow=flow, assignee=operator, status=ReviewItem.Status.IN_PROGRESS)
    someone_elses = ReviewItemFactory(
        flow=flow, assignee=UserFactory(), status=ReviewItem.Status.IN_PROGRESS
    )
    unassigned = ReviewItemFactory(flow=flow)

    bulk_action = start(filter_query="assigned=me")

    assert counts(bulk_action) == ("succeeded", 1, 1, 1, 0, 0)
    assert statuses([mine, someone_elses, unassigned]) == ["dismissed", "in_progress", "open"]


def test_all_matching_defaults_to_the_items_that_need_attention(start, flow):
    open_item = ReviewItemFactory(flow=flow)
    resolved = ReviewItemFactory(flow=flow, status=ReviewItem.Status.RESOLVED)

    bulk_action = start(filter_query="")

    assert (bulk_action.total, bulk_action.item_ids) == (1, [open_item.pk])
    assert statuses([open_item, resolved]) == ["dismissed", "resolved"]


def test_the_selection_is_frozen_items_arriving_after_the_request_are_left_alone(
    operator, items, in_process_jobs
):
    # Frozen in two steps: the request keeps the highest item id, the job resolves the
    # filters to ids when it starts (see BulkAction.item_ids).
    started = bulk_action_start(
        user=operator, action="dismiss", parameters={"reason": "x"}, filter_query=""
    )
    late = ReviewItemFactory(flow=items[0].flow)

    bulk_action_execute(bulk_action_id=started.pk)

    started.refresh_from_db()
    assert counts(started) == ("succeeded", 5, 5, 5, 0, 0)
    assert started.selection_frozen_at is not None
    assert late.pk not in started.item_ids
    assert statuses([late]) == ["open"]


def test_long_actions_go_on_in_further_jobs(start, items, small_batches, monkeypatch):
    monkeypatch.setattr(bulk, "SLICE_SECONDS", 0)  # one batch per job, then the next job

    bulk_action = start(item_ids=[item.pk for item in items])

    assert counts(bulk_action) == ("succeeded", 5, 5, 5, 0, 0)
    assert statuses(items) == ["dismissed"] * 5


def test_cancelling_stops_the_job_before_its_next_batch(
    start, items, small_batches, monkeypatch, operator
):
    dismissal = bulk._Together._dismissal

    def dismiss_then_cancel(together, item):
        # The operator presses Cancel while the first batch is under way.
        action = BulkAction.objects.get()
        if action.status == BulkAction.Status.RUNNING:
            bulk_action_cancel(bulk_action=action, user=operator)
        return dismissal(together, item)

    monkeypatch.setattr(bulk._Together, "_dismissal", dismiss_then_cancel)

    bulk_action = start(item_ids=[item.pk for item in items])

    assert counts(bulk_action) == ("cancelled", 5, 2, 2, 0, 0)
    assert sorted(statuses(items)) == ["dismissed"] * 2 + ["open"] * 3
    assert bulk_action.finished_at is not None


def test_cancelling_a_finished_action_changes_nothing(start, items, operator):
    bulk_action = start(item_ids=[items[0].pk])

    cancelled = bulk_action_cancel(bulk_action=bulk_action, user=operator)

    assert cancelled.status == "succeeded"


def crashed(bulk_action: BulkAction, *, done: int, quiet_for: timedelta) -> None:
    """As a worker leaves an action when it dies after recording ``done`` items."""
    BulkAction.objects.filter(pk=bulk_action.pk).update(
        status=BulkAction.Status.RUNNING,
        claim_token="dead-worker",
        started_at=timezone.now() - quiet_for,
        heartbeat_at=timezone.now() - quiet_for,
        done=done,
        succeeded=done,
    )


def test_a_crashed_job_is_resumed_after_its_last_recorded_batch(
    operator, items, small_batches, in_process_jobs
):
    ids = [item.pk for item in items]
    started = bulk_action_start(
        user=operator, action="dismiss", parameters={"reason": "x"}, item_ids=ids
    )
    # The dead worker recorded its first batch, and one item of the second was done but not
    # counted (as a retry's would be: retries commit item by item).
    for item in ReviewItem.objects.filter(pk__in=ids[:3]):
        bulk.review_item_dismiss(item=item, user=operator, reason="x")
    crashed(started, done=2, quiet_for=BulkAction.STALE_AFTER * 2)

    bulk_action_execute(bulk_action_id=started.pk)  # the job queued again

    started.refresh_from_db()
    assert counts(started) == ("succeeded", 5, 5, 5, 0, 0)
    assert started.resumes == 1
    assert statuses(items) == ["dismissed"] * 5
    # Repeating the item the dead worker had done changed nothing a second time.
    assert ReviewItemEvent.objects.filter(action="dismissed").count() == 5


def test_a_job_still_alive_is_not_taken_over(operator, items, in_process_jobs):
    started = bulk_action_start(
        user=operator, action="dismiss", parameters={"reason": "x"}, item_ids=[items[0].pk]
    )
    crashed(started, done=0, quiet_for=timedelta(seconds=5))

    bulk_action_execute(bulk_action_id=started.pk)

    started.refresh_from_db()
    assert (started.status, started.claim_token, started.done) == ("running", "dead-worker", 0)
    assert statuses(items[:1]) == ["open"]


def test_a_job_whose_action_was_taken_over_writes_no_more(start, items, monkeypatch):
    current_status = bulk._Execution._current_status

    def taken_over_meanwhile(execution):
        status = current_status(execution)
        # Another worker takes the action over while this one works on its batch.
        BulkAction.objects.update(claim_token="another-worker")
        return status

    monkeypatch.setattr(bulk._Execution, "_current_status", taken_over_meanwhile)

    bulk_action = start(item_ids=[item.pk for item in items])

    assert (bulk_action.status, bulk_action.done, bulk_action.claim_token) == (
        "running",
        0,
        "another-worker",
    )
    # Its batch, done together, was undone: the new owner does it.
    assert statuses(items) == ["open"] * 5


def test_the_recovery_sweep_resumes_quiet_actions_and_requeues_lost_ones(
    operator, items, in_process_jobs, django_capture_on_commit_callbacks
):
    quiet = bulk_action_start(
        user=operator, action="dismiss", parameters={"reason": "x"}, item_ids=[items[0].pk]
    )
    crashed(quiet, done=0, quiet_for=BulkAction.STALE_AFTER * 2)
    lost = bulk_action_start(
        user=operator, action="dismiss", parameters={"reason": "x"}, item_ids=[items[1].pk]
    )
    BulkAction.objects.filter(pk=lost.pk).update(
        requested_at=timezone.now() - bulk.QUEUED_STALE_AFTER * 2
    )
    waiting = bulk_action_start(
        user=operator, action="dismiss", parameters={"reason": "x"}, item_ids=[items[2].pk]
    )

    with django_capture_on_commit_callbacks(execute=False) as jobs:
        recovered = bulk_actions_recover()
    assert sorted(recovered) == sorted([quiet.pk, lost.pk])
    for job in jobs:
        job()

    assert statuses(items[:3]) == ["dismissed", "dismissed", "open"]
    assert BulkAction.objects.get(pk=waiting.pk).status == "queued"


def test_the_page_of_a_stalled_action_offers_to_resume_it(
    client, operator, items, in_process_jobs, django_capture_on_commit_callbacks
):
    started = bulk_action_start(
        user=operator, action="dismiss", parameters={"reason": "x"}, item_ids=[items[0].pk]
    )
    crashed(started, done=0, quiet_for=BulkAction.STALE_AFTER * 2)
    client.force_login(operator)
    page = reverse("review_queue:bulk_action_detail", args=[started.pk])

    stalled = client.get(page)
    assert b'id="bulk-stalled"' in stalled.content
    assert b'http-equiv="refresh"' not in stalled.content

    with django_capture_on_commit_callbacks(execute=True):
        resumed = client.post(reverse("review_queue:bulk_action_resume", args=[started.pk]))

    assert resumed.url == page
    started.refresh_from_db()
    assert (started.status, started.resumes) == ("succeeded", 1)


def test_an_action_whose_next_job_waits_in_the_queue_is_late_not_stalled(
    client, operator, items, monkeypatch, in_process_jobs
):
    # A slice queued behind the retry jobs its batches queued waits its turn in RQ.
    started = bulk_action_start(
        user=operator, action="dismiss", parameters={"reason": "x"}, item_ids=[items[0].pk]
    )
    crashed(started, done=0, quiet_for=BulkAction.STALE_AFTER * 2)
    waiting = f"review-bulk-action-{started.pk}-dead-worker-0"
    monkeypatch.setattr(bulk, "job_is_pending", lambda job_id: job_id == waiting)
    client.force_login(operator)

    page = client.get(reverse("review_queue:bulk_action_detail", args=[started.pk]))

    assert b'id="bulk-stalled"' not in page.content
    assert bulk_actions_recover() == []


def test_a_person_who_lost_the_right_to_act_acts_no_more_through_the_job(
    operator, items, in_process_jobs
):
    started = bulk_action_start(
        user=operator, action="dismiss", parameters={"reason": "x"}, item_ids=[items[0].pk]
    )
    operator.groups.clear()

    bulk_action_execute(bulk_action_id=started.pk)

    started.refresh_from_db()
    assert started.status == "failed"
    assert "may no longer act on review items" in started.error
    assert statuses(items[:1]) == ["open"]


def test_starting_a_bulk_action_costs_the_same_few_queries_whatever_it_selects(
    operator, flow, django_assert_max_num_queries, in_process_jobs
):
    ReviewItem.objects.bulk_create(
        ReviewItem(flow=flow, source_id=f"S-{n}", kind="invalid", reason="x", fingerprint="f")
        for n in range(2000)
    )
    began = time.monotonic()
    with django_assert_max_num_queries(4):
        started = bulk_action_start(
            user=operator, action="dismiss", parameters={"reason": "x"}, filter_query=""
        )
    assert time.monotonic() - began < 1
    assert started.status == "queued" and started.total is None


# A real worker in the PostgreSQL + Redis lane; this process's threads without Redis.
@pytest.mark.django_db(transaction=True)
def test_whatever_runs_jobs_here_executes_the_bulk_action(job_runner, settings):
    operator = UserFactory(role=roles.OPERATOR)
    items = ReviewItemFactory.create_batch(3, flow=FlowFactory())

    started = bulk_action_start(
        user=operator, action="dismiss", parameters={"reason": "x"}, filter_query=""
    )

    deadline = time.monotonic() + 60
    while started.is_active and time.monotonic() < deadline:
        time.sleep(0.2)
        started.refresh_from_db()
    assert counts(started) == ("succeeded", 3, 3, 3, 0, 0)
    assert statuses(items) == ["dismissed"] * 3
