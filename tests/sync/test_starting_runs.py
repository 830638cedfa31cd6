"""Starting a run tells the truth: "queued" only when it is, never a run left queued for ever,
and without Redis the work happens in the web process but outside the request."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from connectors.rest.client import RestConnector
from integration_console.sync.models import Flow, SyncRun
from integration_console.sync.services import RunNotQueued, flows_start_due, sync_run_start
from tests.factories import demo_user


@pytest.fixture
def redis_down(settings):
    """A REDIS_URL nobody answers at (port 9 is discard, closed here)."""
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    settings.RQ_QUEUES = {"default": {"URL": settings.REDIS_URL, "DEFAULT_TIMEOUT": 60}}


# Without a surrounding transaction, as in a real request: the enqueue happens at once.
@pytest.mark.django_db(transaction=True)
def test_with_redis_down_run_now_says_so_and_leaves_no_queued_run(client, demo_flow, redis_down):
    client.force_login(demo_user("olivia"))
    response = client.post(reverse("sync:run_start", args=[demo_flow.pk]))

    assert response.status_code == 302 and response.url == reverse("sync:overview")
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert "could not be started" in message and "Nothing was run" in message
    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.FAILED
    assert run.error.startswith("Not queued")


@pytest.mark.django_db(transaction=True)
def test_starting_a_run_with_redis_down_raises_instead_of_saying_queued(demo_flow, redis_down):
    with pytest.raises(RunNotQueued):
        sync_run_start(flow=demo_flow, triggered_by="test")
    assert not SyncRun.objects.filter(status__in=SyncRun.ACTIVE_STATUSES).exists()


@pytest.mark.django_db(transaction=True)
def test_without_redis_run_now_answers_at_once_and_the_run_goes_on_in_the_background(
    client, demo_flow, settings, monkeypatch
):
    settings.REDIS_URL = ""
    settings.IN_PROCESS_JOBS = "thread"
    release = threading.Event()
    original = RestConnector.iter_records

    def held(self, *args, **kwargs):
        release.wait(10)  # the run cannot get far until the test has its answer
        yield from original(self, *args, **kwargs)

    monkeypatch.setattr(RestConnector, "iter_records", held)
    client.force_login(demo_user("olivia"))

    started = time.monotonic()
    response = client.post(reverse("sync:run_start", args=[demo_flow.pk]))
    answered_in = time.monotonic() - started
    run = SyncRun.objects.get()
    assert response.url == reverse("sync:run_detail", args=[run.pk])
    assert run.status in SyncRun.ACTIVE_STATUSES
    assert answered_in < 5

    release.set()
    deadline = time.monotonic() + 60
    while run.status in SyncRun.ACTIVE_STATUSES and time.monotonic() < deadline:
        time.sleep(0.2)
        run.refresh_from_db()
    assert (run.status, run.created_count) == (SyncRun.Status.SUCCEEDED_WITH_FAILURES, 36)


@pytest.mark.django_db
def test_one_unreadable_schedule_does_not_stop_the_others(
    demo_flow, in_process_jobs, django_capture_on_commit_callbacks
):
    nine = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    broken = Flow.objects.create(
        name="Broken schedule",
        data_class=demo_flow.data_class,
        source_system=demo_flow.source_system,
        source_resource=demo_flow.source_resource,
        target_system=demo_flow.target_system,
        target_resource=demo_flow.target_resource,
        field_map=demo_flow.field_map,
        schedule="every full moon",  # saved around clean(), as an import or a script might
        next_run_at=nine,
    )
    Flow.objects.filter(pk=demo_flow.pk).update(schedule="0 * * * *", next_run_at=nine)

    with django_capture_on_commit_callbacks(execute=True):
        started = flows_start_due(now=nine + timedelta(seconds=10))

    assert [run.flow for run in started] == [demo_flow]
    assert not broken.runs.exists()
