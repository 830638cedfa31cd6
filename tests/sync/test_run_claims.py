"""One running run per flow, and a dead worker's run does not block its flow forever."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integration_console.sync.models import SyncRun
from integration_console.sync.services import sync_run_execute

pytestmark = pytest.mark.django_db


def running_run(flow, *, quiet_for: timedelta) -> SyncRun:
    since = timezone.now() - quiet_for
    return SyncRun.objects.create(
        flow=flow,
        stage=flow.stage,
        triggered_by="test",
        status=SyncRun.Status.RUNNING,
        started_at=since,
        heartbeat_at=since,
        executed_by="elsewhere:1",
    )


def queued_run(flow) -> SyncRun:
    return SyncRun.objects.create(flow=flow, stage=flow.stage, triggered_by="test")


def test_a_run_waits_its_turn_while_another_of_the_flow_is_running(demo_flow):
    busy = running_run(demo_flow, quiet_for=timedelta(seconds=5))
    run = sync_run_execute(run_id=queued_run(demo_flow).pk)

    assert run.status == SyncRun.Status.FAILED
    assert run.error == "Another run of this flow was already running."
    busy.refresh_from_db()
    assert busy.status == SyncRun.Status.RUNNING


def test_a_run_whose_worker_went_quiet_is_abandoned_and_no_longer_blocks(demo_flow, settings):
    settings.SYNC_RUN_STALE_AFTER = 600
    dead = running_run(demo_flow, quiet_for=timedelta(hours=1))
    run = sync_run_execute(run_id=queued_run(demo_flow).pk)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.created_count == 36
    dead.refresh_from_db()
    assert dead.status == SyncRun.Status.FAILED
    assert dead.error.startswith("Abandoned")


def test_a_run_executes_once_however_often_it_is_delivered(demo_flow):
    run = queued_run(demo_flow)
    first = sync_run_execute(run_id=run.pk)
    again = sync_run_execute(run_id=run.pk)

    assert first.created_count == 36
    assert again.created_count == 36 and again.status == SyncRun.Status.SUCCEEDED
    assert first.audit_entries.count() == 40
