"""The queue's figures on the overview are counted at most about once a minute and kept
(integration_console/ops/services.py); the page says when they were counted."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integration_console.ops import services
from integration_console.ops.models import OverviewSnapshot
from integration_console.ops.selectors import QueueFigures, queue_figures
from integration_console.ops.services import overview_figures, overview_recount
from review_queue.models import ReviewItem
from tests.factories import ReviewItemFactory
from tests.ops.conftest import NOW

pytestmark = pytest.mark.django_db

OVERVIEW = reverse("ops:overview")


def counted_items(queries) -> list[str]:
    return [q["sql"] for q in queries if "review_queue_reviewitem" in q["sql"]]


def age(snapshot_age: timedelta) -> None:
    """As if the snapshot had been counted ``snapshot_age`` ago."""
    OverviewSnapshot.objects.update(counted_at=timezone.now() - snapshot_age)


def test_the_figures_survive_being_kept_exactly(known_items):
    figures = queue_figures(now=NOW)

    kept = QueueFigures.from_json(figures.to_json(), counted_at=figures.counted_at)

    assert kept == figures
    assert kept.resolve_times.overall is not None
    assert kept.backlog.per_flow and all(isinstance(k, int) for k in kept.backlog.per_flow)


def test_the_first_request_counts_the_figures_and_keeps_them(operator_client, flow):
    ReviewItemFactory.create_batch(2, flow=flow)

    response = operator_client.get(OVERVIEW)

    snapshot = OverviewSnapshot.objects.get()
    assert snapshot.time_zone == "UTC"
    assert response.context["counted_at"] == snapshot.counted_at
    assert response.context["backlog"].total == 2
    assert snapshot.figures["backlog"]["per_flow"] == {str(flow.pk): 2}


def test_a_request_within_the_minute_reads_the_kept_figures_and_counts_nothing(
    operator_client, flow
):
    ReviewItemFactory.create_batch(2, flow=flow)
    operator_client.get(OVERVIEW)
    ReviewItemFactory(flow=flow)  # not counted yet

    with CaptureQueriesContext(connection) as queries:
        response = operator_client.get(OVERVIEW)

    assert counted_items(queries) == []
    assert response.context["backlog"].total == 2
    assert {f.pk: f.open_items for f in response.context["flows"]} == {flow.pk: 2}


def test_the_page_says_when_the_figures_were_counted(operator_client, flow):
    operator_client.get(OVERVIEW)
    age(timedelta(seconds=20))

    response = operator_client.get(OVERVIEW)

    shown = response.content.decode()
    counted_at = OverviewSnapshot.objects.get().counted_at
    assert f'<time datetime="{counted_at.isoformat()}">' in shown
    assert f"{counted_at:%H:%M:%S}</time> (20 s ago; counted again after a minute)" in shown


def test_older_figures_are_shown_while_one_recount_is_queued_for_them(
    operator_client, flow, in_process_jobs, django_capture_on_commit_callbacks
):
    ReviewItemFactory.create_batch(2, flow=flow)
    operator_client.get(OVERVIEW)
    ReviewItemFactory(flow=flow)
    age(timedelta(minutes=2))

    with django_capture_on_commit_callbacks() as jobs:
        first = operator_client.get(OVERVIEW)
        second = operator_client.get(OVERVIEW)

    assert first.context["backlog"].total == second.context["backlog"].total == 2
    assert "being counted again: reload in a moment" in first.content.decode()
    assert len(jobs) == 1  # however many requests find them old
    jobs[0]()  # the job, as RQ or a thread of this process runs it
    assert operator_client.get(OVERVIEW).context["backlog"].total == 3
    assert OverviewSnapshot.objects.get().recount_asked_at is None


def test_a_recount_asked_for_long_ago_and_never_done_is_asked_for_again(
    operator_client, flow, in_process_jobs, django_capture_on_commit_callbacks
):
    operator_client.get(OVERVIEW)
    age(timedelta(minutes=4))
    OverviewSnapshot.objects.update(
        recount_asked_at=timezone.now() - services.RECOUNT_LOST_AFTER - timedelta(seconds=1)
    )

    with django_capture_on_commit_callbacks() as jobs:
        operator_client.get(OVERVIEW)

    assert len(jobs) == 1


@pytest.mark.parametrize(
    "snapshot_age", [services.SHOWN_FOR + timedelta(seconds=1), timedelta(days=1)]
)
def test_figures_too_old_or_of_another_day_are_counted_by_the_request(
    operator_client, flow, snapshot_age
):
    operator_client.get(OVERVIEW)
    ReviewItemFactory(flow=flow)
    age(snapshot_age)

    response = operator_client.get(OVERVIEW)

    assert response.context["backlog"].total == 1
    snapshot = OverviewSnapshot.objects.get()
    assert timezone.now() - snapshot.counted_at < timedelta(minutes=1)


def test_figures_kept_in_another_format_are_counted_again(operator_client, flow):
    operator_client.get(OVERVIEW)
    OverviewSnapshot.objects.update(figures={"format": 0})
    ReviewItemFactory(flow=flow)

    assert operator_client.get(OVERVIEW).context["backlog"].total == 1
    assert OverviewSnapshot.objects.get().figures["format"] == QueueFigures.FORMAT


def test_a_recount_the_job_queue_refuses_leaves_the_page_answering(
    operator_client, flow, monkeypatch, caplog
):
    from integration_console.sync.dispatch import JobNotQueued

    def refused(*args, **kwargs):
        raise JobNotQueued("Redis is down")

    monkeypatch.setattr(services, "enqueue_job", refused)
    operator_client.get(OVERVIEW)
    age(timedelta(minutes=2))

    response = operator_client.get(OVERVIEW)

    assert response.status_code == 200
    assert "recount was not queued" in caplog.text


def test_an_older_count_never_replaces_a_newer_one(flow):
    ReviewItemFactory(flow=flow)
    newer = overview_recount()
    ReviewItem.objects.update(status=ReviewItem.Status.RESOLVED)

    overview_recount(now=newer.counted_at - timedelta(seconds=5))

    snapshot = OverviewSnapshot.objects.get()
    assert snapshot.counted_at == newer.counted_at
    assert overview_figures().backlog.total == 1


def test_the_recount_job_counts_in_the_time_zone_it_was_asked_for(flow):
    from integration_console.ops.jobs import recount_overview

    recount_overview("Europe/Berlin")

    snapshot = OverviewSnapshot.objects.get()
    assert snapshot.time_zone == "Europe/Berlin"
    with timezone.override("Europe/Berlin"):
        today = timezone.localdate()
    assert snapshot.figures["daily"]["days"][-1] == today.isoformat()
