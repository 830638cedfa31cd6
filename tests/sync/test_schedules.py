"""Scheduled flows: RQ's cron ticks every minute; the flows' own schedules say which start."""

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from integration_console.sync.models import Flow, SyncRun
from integration_console.sync.services import flows_start_due
from tests.conftest import BASE_DIR

pytestmark = pytest.mark.django_db

NINE = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def hourly(demo_flow):
    demo_flow.schedule = "0 * * * *"
    demo_flow.save()
    return demo_flow


def start_due(at, capture):
    with capture(execute=True):
        return flows_start_due(now=at)


def test_a_new_schedule_waits_for_its_first_tick(
    hourly, in_process_jobs, django_capture_on_commit_callbacks
):
    assert start_due(NINE + timedelta(minutes=5), django_capture_on_commit_callbacks) == []
    hourly.refresh_from_db()
    assert hourly.next_run_at == NINE + timedelta(hours=1)


def test_a_due_flow_starts_once_per_tick_and_moves_to_the_next(
    hourly, in_process_jobs, django_capture_on_commit_callbacks
):
    Flow.objects.filter(pk=hourly.pk).update(next_run_at=NINE)
    [run] = start_due(NINE + timedelta(seconds=20), django_capture_on_commit_callbacks)
    again = start_due(NINE + timedelta(seconds=40), django_capture_on_commit_callbacks)

    run.refresh_from_db()
    assert (run.triggered_by, run.status, run.created_count) == (
        "schedule",
        "succeeded_with_failures",
        36,
    )
    assert again == []
    hourly.refresh_from_db()
    assert hourly.next_run_at == NINE + timedelta(hours=1)


def test_a_tick_that_finds_the_last_run_unfinished_is_passed_over(
    hourly, in_process_jobs, django_capture_on_commit_callbacks
):
    Flow.objects.filter(pk=hourly.pk).update(next_run_at=NINE)
    SyncRun.objects.create(
        flow=hourly, stage=hourly.stage, triggered_by="someone", status=SyncRun.Status.RUNNING
    )
    assert start_due(NINE, django_capture_on_commit_callbacks) == []
    assert hourly.runs.count() == 1


def test_disabled_and_unscheduled_flows_never_start(
    hourly, in_process_jobs, django_capture_on_commit_callbacks
):
    Flow.objects.filter(pk=hourly.pk).update(next_run_at=NINE, enabled=False)
    assert start_due(NINE, django_capture_on_commit_callbacks) == []
    Flow.objects.filter(pk=hourly.pk).update(enabled=True, schedule="")
    assert start_due(NINE, django_capture_on_commit_callbacks) == []


def test_a_schedule_must_be_a_cron_expression(demo_flow):
    demo_flow.schedule = "every hour"
    with pytest.raises(ValidationError, match="Not a cron expression"):
        demo_flow.full_clean()


def test_the_cron_process_starts_with_the_recovery_due_flows_bulk_and_retention_jobs(redis_url):
    """`manage.py rqcron integration_console.cron`, the real process, against Redis."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "rqcron", "integration_console.cron"],
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # However it goes, the process is stopped, and reading its output then ends.
    watchdog = threading.Timer(20, process.terminate)
    watchdog.start()
    seen = []
    try:
        for line in process.stdout:
            seen.append(line)
            if "Starting cron scheduler" in line:
                break
    finally:
        watchdog.cancel()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            # rq's cron scheduler can sleep through a SIGTERM until its next tick.
            process.kill()
            process.wait(10)
        process.stdout.close()
    assert "Starting cron scheduler with 6 jobs" in "".join(seen), seen
