"""Chunks nobody owns: one running run per flow, claims checked on every write, dead workers'
chunks resumed where they stood, lost jobs queued again, runs spread over chunks that hand on
to each other, and cancelled on request."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integration_console.sync.models import AuditEntry, Flow, SyncChunk, SyncRun
from integration_console.sync.pages import process_page
from integration_console.sync.services import (
    chunks,
    sync_chunk_execute,
    sync_run_cancel,
    sync_run_start,
    sync_runs_recover,
)
from tests.factories import creating_one_at_a_time

pytestmark = pytest.mark.django_db


def running_run(flow, *, quiet_for: timedelta, token: str = "dead-worker", **chunk) -> SyncRun:
    """A run whose first chunk a worker claimed and last showed alive ``quiet_for`` ago."""
    since = timezone.now() - quiet_for
    run = SyncRun.objects.create(
        flow=flow,
        stage=flow.stage,
        triggered_by="test",
        status=SyncRun.Status.RUNNING,
        started_at=since,
        heartbeat_at=since,
        executed_by="elsewhere:1",
    )
    SyncChunk.objects.create(
        run=run,
        number=0,
        status=SyncChunk.Status.RUNNING,
        claim_token=token,
        started_at=since,
        heartbeat_at=since,
        **chunk,
    )
    return run


def queued_run(flow, *, queued_ago: timedelta = timedelta(0)) -> SyncRun:
    run = SyncRun.objects.create(flow=flow, stage=flow.stage, triggered_by="test")
    SyncChunk.objects.create(run=run, number=0)
    SyncRun.objects.filter(pk=run.pk).update(queued_at=timezone.now() - queued_ago)
    SyncChunk.objects.filter(run=run).update(queued_at=timezone.now() - queued_ago)
    return run


def first_chunk(run: SyncRun) -> SyncChunk:
    return SyncChunk.objects.get(run=run, number=0)


def test_a_run_waits_its_turn_while_another_of_the_flow_is_running(demo_flow):
    busy = running_run(demo_flow, quiet_for=timedelta(seconds=5))
    run = queued_run(demo_flow)
    chunk = sync_chunk_execute(chunk_id=first_chunk(run).pk)
    run.refresh_from_db()

    assert run.status == SyncRun.Status.FAILED
    assert run.error == "Another run of this flow was already running."
    assert chunk.status == SyncChunk.Status.STOPPED
    busy.refresh_from_db()
    assert busy.status == SyncRun.Status.RUNNING


def test_a_chunk_whose_worker_died_is_taken_over_and_its_run_finished(
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

    assert stalled.status == SyncRun.Status.SUCCEEDED_WITH_FAILURES
    assert (stalled.created_count, stalled.failed_count) == (36, 4)
    chunk = first_chunk(stalled)
    assert stalled.recoveries == 1 and chunk.recoveries == 1
    assert chunk.claim_token != "dead-worker" and chunk.status == SyncChunk.Status.DONE
    assert (first_chunk(alive).status, first_chunk(alive).claim_token) == ("running", "alive")


def test_a_resumed_chunk_reads_only_what_its_dead_worker_had_not_processed(
    demo_flow, settings, in_process_jobs, django_capture_on_commit_callbacks
):
    settings.SYNC_RUN_STALE_AFTER = 60
    ordered = _seeded_order()
    tenth, twentieth = ordered[9], ordered[19]
    # The dead worker had read twenty records (its stretch) and processed ten of them.
    stalled = running_run(
        demo_flow,
        quiet_for=timedelta(minutes=5),
        position_updated_at=_moment(tenth["updated_at"]),
        position_source_id=tenth["id"],
        until_updated_at=_moment(twentieth["updated_at"]),
        until_source_id=twentieth["id"],
    )
    SyncChunk.objects.create(
        run=stalled,
        number=1,
        status=SyncChunk.Status.DONE,
        after_updated_at=_moment(twentieth["updated_at"]),
        after_source_id=twentieth["id"],
        last=True,
    )

    with django_capture_on_commit_callbacks(execute=True):
        sync_runs_recover()
    stalled.refresh_from_db()
    processed = set(AuditEntry.objects.filter(run=stalled).values_list("source_id", flat=True))

    assert stalled.read_count == 10
    assert processed == {record["id"] for record in ordered[10:20]}
    assert stalled.status != SyncRun.Status.RUNNING
    assert (stalled.position_updated_at, stalled.position_source_id) == (
        _moment(twentieth["updated_at"]),
        twentieth["id"],
    )


def test_a_chunk_taken_over_by_another_worker_stops_writing_to_it(
    demo_flow, settings, in_process_jobs, django_capture_on_commit_callbacks, monkeypatch
):
    demo_flow.page_size = 5
    demo_flow.save()
    pages = []

    def taken_over_after_the_first_page(ctx, records, count):
        process_page(ctx, records, count)
        pages.append(records)
        SyncChunk.objects.update(claim_token="someone-else")

    monkeypatch.setattr(chunks, "process_page", taken_over_after_the_first_page)
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_run_start(flow=demo_flow, triggered_by="test")
    run.refresh_from_db()

    # The old owner wrote nothing more to the chunk or the run, and did not finish them.
    assert run.status == SyncRun.Status.RUNNING and run.finished_at is None
    assert run.read_count == 0
    assert first_chunk(run).status == SyncChunk.Status.RUNNING
    assert len(pages) == 1
    assert run.audit_entries.count() == 5


def test_a_chunk_executes_once_however_often_it_is_delivered(demo_flow, in_process_jobs):
    run = queued_run(demo_flow)
    sync_chunk_execute(chunk_id=first_chunk(run).pk)
    sync_chunk_execute(chunk_id=first_chunk(run).pk)
    run.refresh_from_db()

    assert run.created_count == 36
    assert run.status == SyncRun.Status.SUCCEEDED_WITH_FAILURES
    assert run.audit_entries.count() == 40


def test_a_queued_chunk_whose_job_was_lost_is_queued_again(
    demo_flow, settings, in_process_jobs, django_capture_on_commit_callbacks
):
    settings.SYNC_RUN_QUEUED_STALE_AFTER = 60
    lost = queued_run(demo_flow, queued_ago=timedelta(minutes=5))
    recent = queued_run(Flow.objects.create(**_copy_of(demo_flow)))

    with django_capture_on_commit_callbacks(execute=True):
        assert sync_runs_recover() == [lost.pk]
    lost.refresh_from_db()
    recent.refresh_from_db()

    assert lost.status == SyncRun.Status.SUCCEEDED_WITH_FAILURES
    assert lost.recoveries == 1
    assert recent.status == SyncRun.Status.QUEUED


def test_a_run_spreads_over_chunks_that_each_start_where_the_last_ended(
    demo_flow, settings, in_process_jobs, django_capture_on_commit_callbacks
):
    settings.SYNC_CHUNK_RECORDS = 15
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_run_start(flow=demo_flow, triggered_by="test")
    run.refresh_from_db()
    stretches = list(SyncChunk.objects.filter(run=run).order_by("number"))

    assert run.chunks_done == 3
    assert [c.read_count for c in stretches] == [15, 15, 10]
    assert [c.last for c in stretches] == [False, False, True]
    for before, after in zip(stretches, stretches[1:], strict=False):
        assert (after.after_updated_at, after.after_source_id) == (
            before.until_updated_at,
            before.until_source_id,
        )
    assert (run.read_count, run.created_count, run.failed_count) == (40, 36, 4)
    assert run.position_source_id == stretches[-1].until_source_id


def test_the_run_moves_past_a_chunk_only_once_every_chunk_before_it_is_done(
    demo_flow, settings, in_process_jobs, django_capture_on_commit_callbacks
):
    settings.SYNC_RUN_STALE_AFTER = 60
    demo_flow.mode = Flow.Mode.INCREMENTAL
    demo_flow.save()
    ordered = _seeded_order()
    twentieth = ordered[19]
    at_twenty = {
        "until_updated_at": _moment(twentieth["updated_at"]),
        "until_source_id": twentieth["id"],
    }
    # Chunk 0 (records 1-20) is still running elsewhere when chunk 1 (the rest) runs here.
    run = running_run(demo_flow, quiet_for=timedelta(seconds=1), **at_twenty)
    second = SyncChunk.objects.create(
        run=run,
        number=1,
        after_updated_at=at_twenty["until_updated_at"],
        after_source_id=twentieth["id"],
    )
    sync_chunk_execute(chunk_id=second.pk)
    run.refresh_from_db()
    demo_flow.refresh_from_db()

    assert run.status == SyncRun.Status.RUNNING
    assert run.position_updated_at is None and demo_flow.cursor_updated_at is None
    assert run.read_count == 20

    # Chunk 0's worker dies; its chunk is resumed, and then the run moves past both.
    SyncChunk.objects.filter(pk=first_chunk(run).pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=5)
    )
    with django_capture_on_commit_callbacks(execute=True):
        sync_runs_recover()
    run.refresh_from_db()
    demo_flow.refresh_from_db()

    assert run.status == SyncRun.Status.SUCCEEDED_WITH_FAILURES
    assert demo_flow.cursor_source_id == SyncChunk.objects.get(pk=second.pk).until_source_id
    assert run.read_count == 40


def test_a_cancelled_run_stops_after_the_page_it_is_on(
    demo_flow, settings, in_process_jobs, django_capture_on_commit_callbacks, monkeypatch
):
    settings.SYNC_CHUNK_RECORDS = 10
    demo_flow.page_size = 5
    demo_flow.save()

    def cancelled_during_the_first_page(ctx, records, count):
        sync_run_cancel(run=ctx.scope.run, actor="user:olivia")
        process_page(ctx, records, count)

    monkeypatch.setattr(chunks, "process_page", cancelled_during_the_first_page)
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_run_start(flow=demo_flow, triggered_by="test")
    run.refresh_from_db()

    assert run.status == SyncRun.Status.CANCELLED
    assert run.note == "Cancelled by user:olivia."
    # The page it was on is written and counted; nothing after it.
    assert run.read_count == 5 and run.audit_entries.count() == 5
    assert set(SyncChunk.objects.filter(run=run).values_list("status", flat=True)) == {"stopped"}
    assert not sync_run_cancel(run=run, actor="user:olivia")


def test_a_chunk_taken_over_while_a_record_waits_to_retry_stops_without_blaming_the_record(
    demo_flow, simulator, settings, in_process_jobs, monkeypatch, django_capture_on_commit_callbacks
):
    import httpx

    from connectors.rest.client import RestConnector
    from review_queue.models import ReviewItem

    settings.SYNC_HEARTBEAT_EVERY = 0
    creating_one_at_a_time(demo_flow)
    httpx.post(
        f"{simulator.base_url}/_control/faults",
        json={"system": "erp", "status": 503, "count": 1, "retry_after": 0},
    ).raise_for_status()
    original = RestConnector.create

    taken_over = []

    def taken_over_meanwhile(self, *args, **kwargs):
        # Once, by the page's first write (sent alone, from this thread): a write thread's
        # SQLite connection would wait for the test's transaction until its busy timeout.
        if not taken_over:
            taken_over.append(True)
            SyncChunk.objects.update(claim_token="someone-else")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RestConnector, "create", taken_over_meanwhile)
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_run_start(flow=demo_flow, triggered_by="test")
    run.refresh_from_db()

    assert run.status == SyncRun.Status.RUNNING
    assert first_chunk(run).claim_token == "someone-else"
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


def _copy_of(flow):
    fields = ["data_class", "source_system", "source_resource", "target_system"]
    fields += ["target_resource", "field_map"]
    return {"name": f"{flow.name} (copy)", **{name: getattr(flow, name) for name in fields}}


def _seeded_order():
    from connectors.simulator.world import World

    return sorted(World().list_records("crm", page_size=200)[0], key=_order)


def _order(record):
    return _moment(record["updated_at"]), len(record["id"]), record["id"]


def _moment(text):
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))
