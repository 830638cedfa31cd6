"""With REDIS_URL, runs and retries are executed by a separate `manage.py rqworker` process."""

import time

import django_rq
import pytest
from django.db import transaction
from rq import Worker

from integration_console.sync.models import SyncRun
from integration_console.sync.services import sync_run_start

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def wait_for_run(run_id: int, timeout: float = 60.0) -> SyncRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = SyncRun.objects.get(pk=run_id)
        if run.status not in SyncRun.ACTIVE_STATUSES:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} still {run.status} after {timeout} s")


def test_a_sync_run_is_executed_by_a_separate_rqworker_process(demo_flow, rq_worker):
    with transaction.atomic():
        run = sync_run_start(flow=demo_flow, triggered_by="test")
        # Enqueued only on commit: a worker must never see a run that may roll back.
        assert SyncRun.objects.get(pk=run.pk).status == SyncRun.Status.QUEUED

    run = wait_for_run(run.pk)
    assert run.status == SyncRun.Status.SUCCEEDED_WITH_FAILURES, run.error
    assert (run.read_count, run.created_count, run.failed_count) == (40, 36, 4)
    host, worker = run.executed_by.rsplit(":", 1)
    # Named by the RQ worker that took it (its pid would change with every job RQ forks).
    assert worker in {w.name for w in Worker.all(connection=django_rq.get_connection())}
    assert rq_worker.poll() is None, "the rqworker process died"


def test_a_run_queued_while_another_runs_does_not_double_sync(demo_flow, rq_worker):
    first = sync_run_start(flow=demo_flow, triggered_by="test")
    second = sync_run_start(flow=demo_flow, triggered_by="test")
    first, second = wait_for_run(first.pk), wait_for_run(second.pk)

    created = first.created_count + second.created_count
    assert created == 36
