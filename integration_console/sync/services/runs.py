"""Sync runs: queued, executed in chunks by whichever workers take them (chunks.py), recovered
when a worker dies or a job is lost, cancelled on request."""

import logging
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from croniter import croniter
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..connections import connector_for
from ..dispatch import JobNotQueued, enqueue_job, job_is_pending, jobs_run_in_process
from ..models import AuditEntry, Flow, SyncChunk, SyncRun
from ..pipeline import FlowContext, Result, load_context

logger = logging.getLogger(__name__)

CHUNK_JOB = "integration_console.sync.jobs.execute_sync_chunk"

Action, Outcome = AuditEntry.Action, AuditEntry.Outcome
COUNTERS = (
    "read_count",
    "created_count",
    "updated_count",
    "skipped_count",
    "dry_run_count",
    "failed_count",
)


class RunNotQueued(Exception):
    """The job queue refused the run; the run row says so too."""


def counter_for(result: Result) -> str:
    """The run counter an attempt's result adds to."""
    if result.outcome == Outcome.FAILED:
        return "failed_count"
    if result.outcome == Outcome.DRY_RUN:
        return "dry_run_count"
    if result.outcome == Outcome.SKIPPED:
        return "skipped_count"
    return "created_count" if result.action == Action.CREATE else "updated_count"


def sync_run_start(*, flow: Flow, triggered_by: str) -> SyncRun:
    """Queue a run of ``flow``: the run and its first chunk, which executes after commit, on a
    worker or in a thread of this process. Raises RunNotQueued (and the run is marked failed)
    when the job queue refuses it, so that nobody is told "queued" when it is not.

    Runs nobody executes any more are recovered first: without Redis there is no cron process
    to do it, and a run left "running" by a restarted web process would block its flow."""
    if jobs_run_in_process():
        sync_runs_recover()
    with transaction.atomic():
        run = SyncRun.objects.create(flow=flow, stage=flow.stage, triggered_by=triggered_by)
        first = SyncChunk(run=run, number=0)
        if flow.mode == Flow.Mode.INCREMENTAL and flow.cursor_updated_at is not None:
            first.after_updated_at = flow.cursor_updated_at
            first.after_source_id = flow.cursor_source_id
        first.save()
    try:
        enqueue_chunk(first, token="")
    except JobNotQueued as exc:
        raise RunNotQueued(str(exc)) from exc
    return run


def sync_run_cancel(*, run: SyncRun, actor: str) -> bool:
    """Cancel a queued or running run: its chunks stop after the page they are on (what that
    page wrote is recorded), and chunks not begun never start. False if it had already ended."""
    now = timezone.now()
    with transaction.atomic():
        cancelled = SyncRun.objects.filter(pk=run.pk, status__in=SyncRun.ACTIVE_STATUSES).update(
            status=SyncRun.Status.CANCELLED,
            finished_at=now,
            note=f"Cancelled by {actor}.",
        )
        if cancelled:
            SyncChunk.objects.filter(run=run, status=SyncChunk.Status.QUEUED).stop()
    return bool(cancelled)


def sync_run_wait(*, run_id: int, timeout: float = 600.0) -> SyncRun:
    """The run once it has finished, or as it stands after ``timeout`` seconds; for commands
    that report a run's outcome (the web UI reads the row instead)."""
    deadline = time.monotonic() + timeout
    while True:
        run = SyncRun.objects.get(pk=run_id)
        if run.status not in SyncRun.ACTIVE_STATUSES or time.monotonic() >= deadline:
            return run
        time.sleep(0.2)


def flows_start_due(*, now: datetime | None = None) -> list[SyncRun]:
    """Start a run of every enabled, scheduled flow whose tick has come; called every minute by
    RQ's cron (integration_console/cron.py).

    Each tick is claimed with a compare-and-set on ``next_run_at``, so however many cron
    processes call this, a flow starts once per tick. A tick that finds the flow's last run
    still queued or running is passed over rather than queued behind it (sync_runs_recover
    keeps such runs from lasting for ever). A flow whose schedule cannot be read or started
    is logged and passed over; the others still start."""
    now = now or timezone.now()
    started = []
    for flow in Flow.objects.filter(enabled=True).exclude(schedule="").select_related("field_map"):
        try:
            run = _start_if_due(flow, now)
        except Exception:
            logger.exception("Could not start the scheduled flow %s", flow)
            continue
        if run is not None:
            started.append(run)
    return started


def _start_if_due(flow: Flow, now: datetime) -> SyncRun | None:
    following = croniter(flow.schedule, now).get_next(datetime)
    same_tick = Flow.objects.filter(pk=flow.pk, next_run_at=flow.next_run_at)
    if flow.next_run_at is None:  # a new schedule waits for its first tick
        same_tick.update(next_run_at=following)
        return None
    if flow.next_run_at > now or not same_tick.update(next_run_at=following):
        return None
    if flow.runs.filter(status__in=SyncRun.ACTIVE_STATUSES).exists():
        logger.info("Skipping a tick of %s: its last run has not finished.", flow)
        return None
    return sync_run_start(flow=flow, triggered_by="schedule")


def sync_runs_recover(*, now: datetime | None = None) -> list[int]:
    """Resume the chunks nobody is executing; called every minute by RQ's cron.

    A running chunk whose heartbeat is older than SYNC_RUN_STALE_AFTER (its worker died) gets
    a new claim token and a new job that resumes it where it stands; the old owner, if it
    still lives, can no longer write to it. A queued chunk whose job is gone from RQ is queued
    again. A chunk whose run has ended is stopped instead. Returns the ids of the runs whose
    chunks were recovered."""
    now = now or timezone.now()
    recovered: set[int] = set()
    active = SyncChunk.objects.select_related("run")
    stale_before = now - timedelta(seconds=settings.SYNC_RUN_STALE_AFTER)
    for chunk in active.filter(status=SyncChunk.Status.RUNNING, heartbeat_at__lt=stale_before):
        if chunk.run.status != SyncRun.Status.RUNNING:
            _stop_chunk(chunk)
            continue
        token = secrets.token_hex(16)
        took_over = SyncChunk.objects.filter(
            pk=chunk.pk, status=SyncChunk.Status.RUNNING, claim_token=chunk.claim_token
        ).update(claim_token=token, heartbeat_at=now, recoveries=F("recoveries") + 1)
        if took_over:
            logger.warning("%s went quiet; resuming it on another worker.", chunk)
            SyncRun.objects.filter(pk=chunk.run_id).update(recoveries=F("recoveries") + 1)
            chunk.claim_token = token
            enqueue_chunk_quietly(chunk, token)
            recovered.add(chunk.run_id)
    lost_before = now - timedelta(seconds=settings.SYNC_RUN_QUEUED_STALE_AFTER)
    for chunk in active.filter(status=SyncChunk.Status.QUEUED, queued_at__lt=lost_before):
        if not chunk.run.is_active:
            _stop_chunk(chunk)
        elif not job_is_pending(chunk.job_id, started_within=settings.SYNC_RUN_STALE_AFTER):
            logger.warning("%s was queued but its job is gone; queueing it again.", chunk)
            SyncRun.objects.filter(pk=chunk.run_id).update(recoveries=F("recoveries") + 1)
            enqueue_chunk_quietly(chunk, "", again=True)
            recovered.add(chunk.run_id)
    return sorted(recovered)


def _stop_chunk(chunk: SyncChunk) -> None:
    SyncChunk.objects.filter(pk=chunk.pk, status__in=SyncChunk.ACTIVE_STATUSES).stop()


def enqueue_chunk(chunk: SyncChunk, *, token: str, again: bool = False) -> None:
    """Queue a chunk's job after commit (``again``: not its first job; each job has an id of
    its own, which the chunk's row keeps). The first chunk of a run that the queue refuses
    fails its run, which nobody would execute otherwise."""

    def not_queued(exc: Exception) -> None:
        if not token and chunk.number == 0:
            SyncRun.objects.filter(pk=chunk.run_id, status=SyncRun.Status.QUEUED).update(
                status=SyncRun.Status.FAILED,
                finished_at=timezone.now(),
                error=f"Not queued: the job queue did not take the run ({exc}).",
            )

    job_id = f"sync-chunk-{chunk.pk}-{token or 'start'}"
    if again:
        job_id = f"{job_id}-{time.time_ns()}"
    SyncChunk.objects.filter(pk=chunk.pk).update(job_id=job_id)
    enqueue_job(CHUNK_JOB, chunk.pk, token, job_id=job_id, on_failure=not_queued)


def enqueue_chunk_quietly(chunk: SyncChunk, token: str, *, again: bool = False) -> None:
    """Queue a chunk from a job or the recovery sweep, where nobody waits for an answer: if
    the queue refuses it, it goes stale and the next sweep tries again."""
    try:
        enqueue_chunk(chunk, token=token, again=again)
    except JobNotQueued:
        logger.warning("%s could not be queued; recovery will retry.", chunk)


def status_of(run: SyncRun) -> str:
    """How a run that went through its records ended: a run in which some records failed did
    not simply succeed, and one in which every record it tried failed did not succeed at all."""
    if not run.failed_count:
        return SyncRun.Status.SUCCEEDED
    tried = run.created_count + run.updated_count + run.skipped_count + run.dry_run_count
    if not tried:
        run.note = run.note or "Every record it tried failed; each is in the review queue."
        return SyncRun.Status.FAILED
    return SyncRun.Status.SUCCEEDED_WITH_FAILURES


@contextmanager
def flow_context(
    flow: Flow, *, actor: str, run: SyncRun | None = None, version=None
) -> Iterator[FlowContext]:
    source = connector_for(flow.source_system)
    target = connector_for(flow.target_system)
    try:
        yield load_context(
            flow, source=source, target=target, actor=actor, run=run, version=version
        )
    finally:
        source.close()
        target.close()


def this_process() -> str:
    """Who executes: the host and the RQ worker's name (RQ forks a process per job, so its
    pid would name every job apart), or the host and pid of this process without RQ."""
    from rq import get_current_job

    job = get_current_job()
    worker = getattr(job, "worker_name", None) if job is not None else None
    return f"{socket.gethostname()}:{worker or os.getpid()}"
