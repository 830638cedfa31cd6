"""Runs nobody owns: one running run per flow, claims checked on every write, dead workers'
runs resumed where they stood, lost jobs queued again, runs advanced in durable chunks."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integration_console.sync.models import Flow, SyncRun
from integration_console.sync.services import (
    sync_run_execute_chunk,
    sync_run_start,
    sync_runs_recover,
)
from integration_console.sync.signals import record_synced

pytestmark = pytest.mark.django_db


def running_run(flow, *, quiet_for: timedelta, token: str = "dead-worker") -> SyncRun:
    since = timezone.now() - quiet_for
    return SyncRun.objects.create(
        flow=flow,
        stage=flow.stage,
        triggered_by="test",
        status=SyncRun.Status.RUNNING,
        started_at=since,
        heartbeat_at=since,
        executed_by="elsewhere:1",
        claim_token=token,
    )


def queued_run(flow, *, queued_ago: timedelta = timedelta(0)) -> SyncRun:
    run = SyncRun.objects.create(flow=flow, stage=flow.stage, triggered_by="test")
    SyncRun.objects.filter(pk=run.pk).update(queued_at=timezone.now() - queued_ago)
    return run


def test_a_run_waits_its_turn_while_another_of_the_flow_is_running(demo_flow):
    busy = running_run(demo_flow, quiet_for=timedelta(seconds=5))
    run = sync_run_execute_chunk(run_id=queued_run(demo_flow).pk)

    assert run.status == SyncRun.Status.FAILED
    assert run.error == "Another run of this flow was already running."
    busy.refresh_from_db()
    assert busy.status == SyncRun.Status.RUNNING


def test_a_run_whose_worker_died_is_taken_over_and_finished(
    demo_flow, settings, in_process_jobs, django_capture_on_commit_callbacks
):
    settings.SYNC_RUN_STALE_AFTER = 60
    stalled = running_run(demo_flow, quiet_for=timedelta(minutes=5))
    alive = running_run(
        Flow.objects.create(**_copy_of(demo_flow)), quiet_for=timedelta(seconds=5), token="alive"
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert sync_runs_recover() == [stalled.pk]
    stalled.refresh_from_db()
    alive.refresh_from_db()

    assert stalled.status == SyncRun.Status.SUCCEEDED_WITH_FAILURES
    assert (stalled.created_count, stalled.failed_count) == (36, 4)
    assert stalled.recoveries == 1 and stalled.claim_token != "dead-worker"
    assert alive.status == SyncRun.Status.RUNNING and alive.claim_token == "alive"


def test_a_resumed_run_reads_only_what_its_dead_worker_had_not_processed(
    demo_flow, settings, in_process_jobs, django_capture_on_commit_callbacks
):
    settings.SYNC_RUN_STALE_AFTER = 60
    settings.SYNC_CHUNK_RECORDS = 10
    # Learn where the tenth record stands in the source's order, with a run that reads only.
    demo_flow.stage = Flow.Stage.READ_ONLY
    demo_flow.save()
    with django_capture_on_commit_callbacks(execute=True):
        probe = sync_run_start(flow=demo_flow, triggered_by="test")
    probe = SyncRun.objects.get(pk=probe.pk)
    assert probe.read_count == 40 and probe.chunks_done == 4
    demo_flow.stage = Flow.Stage.LIVE
    demo_flow.save()

    records = []

    def seen(sender, source_id, **kwargs):
        records.append(source_id)

    stalled = running_run(demo_flow, quiet_for=timedelta(minutes=5))
    # The dead worker had saved a position ten records in.
    from connectors.simulator.world import World

    ordered = sorted(World().list_records("crm", page_size=200)[0], key=_order)
    tenth = ordered[9]
    SyncRun.objects.filter(pk=stalled.pk).update(
        position_updated_at=_moment(tenth["updated_at"]), position_source_id=tenth["id"]
    )
    record_synced.connect(seen, dispatch_uid="test-seen")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            sync_runs_recover()
    finally:
        record_synced.disconnect(dispatch_uid="test-seen")
    stalled.refresh_from_db()

    assert stalled.status == SyncRun.Status.SUCCEEDED_WITH_FAILURES
    assert stalled.read_count == 30
    assert not set(records) & {record["id"] for record in ordered[:10]}


def test_a_run_taken_over_by_another_worker_stops_writing_to_it(
    demo_flow, settings, in_process_jobs, django_capture_on_commit_callbacks
):
    settings.SYNC_HEARTBEAT_EVERY = 0  # check the claim after every record
    synced = []

    def take_over(sender, source_id, **kwargs):
        synced.append(source_id)
        if len(synced) == 3:
            SyncRun.objects.filter(flow=demo_flow).update(claim_token="someone-else")

    record_synced.connect(take_over, dispatch_uid="test-take-over")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run = sync_run_start(flow=demo_flow, triggered_by="test")
    finally:
        record_synced.disconnect(dispatch_uid="test-take-over")
    run.refresh_from_db()

    # The old owner wrote nothing more to the run row, and did not finish it.
    assert run.status == SyncRun.Status.RUNNING
    assert run.finished_at is None
    assert len(synced) == 3


def test_a_run_executes_once_however_often_it_is_delivered(demo_flow, in_process_jobs):
    run = queued_run(demo_flow)
    first = sync_run_execute_chunk(run_id=run.pk)
    again = sync_run_execute_chunk(run_id=run.pk)

    assert first.created_count == 36
    assert again.created_count == 36
    assert again.status == SyncRun.Status.SUCCEEDED_WITH_FAILURES
    assert first.audit_entries.count() == 40


def test_a_queued_run_whose_job_was_lost_is_queued_again(
    demo_flow, settings, in_process_jobs, django_capture_on_commit_callbacks
):
    settings.SYNC_RUN_QUEUED_STALE_AFTER = 60
    lost = queued_run(demo_flow, queued_ago=timedelta(minutes=5))
    recent = queued_run(demo_flow)

    with django_capture_on_commit_callbacks(execute=True):
        assert sync_runs_recover() == [lost.pk]
    lost.refresh_from_db()
    recent.refresh_from_db()

    assert lost.status == SyncRun.Status.SUCCEEDED_WITH_FAILURES
    assert lost.recoveries == 1
    assert recent.status == SyncRun.Status.QUEUED


def test_a_run_advances_in_chunks_each_a_job_of_its_own(
    demo_flow, settings, in_process_jobs, django_capture_on_commit_callbacks
):
    settings.SYNC_CHUNK_RECORDS = 15
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_run_start(flow=demo_flow, triggered_by="test")
    run.refresh_from_db()

    assert run.chunks_done == 3
    assert (run.read_count, run.created_count, run.failed_count) == (40, 36, 4)
    assert run.position_source_id  # where it stands, for whoever resumes it


def _copy_of(flow):
    fields = ["data_class", "source_system", "source_resource", "target_system"]
    fields += ["target_resource", "field_map"]
    return {"name": f"{flow.name} (copy)", **{name: getattr(flow, name) for name in fields}}


def _order(record):
    return _moment(record["updated_at"]), len(record["id"]), record["id"]


def _moment(text):
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_run_taken_over_while_a_record_waits_to_retry_stops_without_blaming_the_record(
    demo_flow, simulator, settings, in_process_jobs, monkeypatch, django_capture_on_commit_callbacks
):
    import httpx

    from connectors.rest.client import RestConnector
    from review_queue.models import ReviewItem

    settings.SYNC_HEARTBEAT_EVERY = 0
    httpx.post(
        f"{simulator.base_url}/_control/faults",
        json={"system": "erp", "status": 503, "count": 1, "retry_after": 0},
    ).raise_for_status()
    original = RestConnector.create

    def taken_over_meanwhile(self, *args, **kwargs):
        SyncRun.objects.update(claim_token="someone-else")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RestConnector, "create", taken_over_meanwhile)
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_run_start(flow=demo_flow, triggered_by="test")
    run.refresh_from_db()

    assert (run.status, run.claim_token) == (SyncRun.Status.RUNNING, "someone-else")
    assert not ReviewItem.objects.filter(kind="internal_error").exists()


def test_without_redis_starting_a_flow_resumes_its_run_that_a_restart_left_running(
    demo_flow, settings, in_process_jobs, django_capture_on_commit_callbacks
):
    settings.SYNC_RUN_STALE_AFTER = 60
    left = running_run(demo_flow, quiet_for=timedelta(minutes=10))

    with django_capture_on_commit_callbacks(execute=True):
        new = sync_run_start(flow=demo_flow, triggered_by="test")
    left.refresh_from_db()
    new.refresh_from_db()

    assert left.status == SyncRun.Status.SUCCEEDED_WITH_FAILURES and left.recoveries == 1
    # The resumed run went first; the new one then found everything written already.
    assert (left.created_count, new.created_count, new.skipped_count) == (36, 0, 36)
