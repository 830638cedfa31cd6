"""Sync runs: queued, executed in durable chunks by whichever worker takes each, recovered
when a worker dies or a job is lost, and finished with a status that tells the truth."""

import logging
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from croniter import croniter
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from connectors.base import Position, record_position
from connectors.errors import ConnectorError

from ..connections import connector_for
from ..dispatch import JobNotQueued, enqueue_job, job_is_pending, jobs_run_in_process
from ..models import AuditEntry, Flow, SyncRun
from ..pipeline import (
    FlowContext,
    RecordInterrupted,
    Result,
    RunAborted,
    load_context,
    position_moment,
    process_record,
)

logger = logging.getLogger(__name__)

CHUNK_JOB = "integration_console.sync.jobs.execute_run_chunk"

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
    """Queue a run of ``flow``; it executes after commit, on a worker or in a thread of this
    process. Raises RunNotQueued (and the run is marked failed) when the job queue refuses it,
    so that nobody is told "queued" when it is not.

    Runs nobody executes any more are recovered first: without Redis there is no cron process
    to do it, and a run left "running" by a restarted web process would block its flow."""
    if jobs_run_in_process():
        sync_runs_recover()
    run = SyncRun.objects.create(flow=flow, stage=flow.stage, triggered_by=triggered_by)
    try:
        _enqueue_chunk(run.pk, token="")
    except JobNotQueued as exc:
        raise RunNotQueued(str(exc)) from exc
    return run


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
    """Resume runs nobody is executing; called every minute by RQ's cron.

    A running run whose heartbeat is older than SYNC_RUN_STALE_AFTER (its worker died, or
    its next chunk's job was lost) gets a new claim token and a new chunk job that resumes it
    where it stands; the old owner, if it still lives, can no longer write to it. A queued run
    whose job is gone from RQ is queued again. Returns the ids of the runs recovered."""
    now = now or timezone.now()
    recovered = []
    stale_before = now - timedelta(seconds=settings.SYNC_RUN_STALE_AFTER)
    for run in SyncRun.objects.filter(status=SyncRun.Status.RUNNING, heartbeat_at__lt=stale_before):
        token = secrets.token_hex(16)
        took_over = SyncRun.objects.filter(
            pk=run.pk, status=SyncRun.Status.RUNNING, claim_token=run.claim_token
        ).update(claim_token=token, heartbeat_at=now, recoveries=F("recoveries") + 1)
        if took_over:
            logger.warning("Run %s went quiet; resuming it on another worker.", run.pk)
            _enqueue_quietly(run.pk, token)
            recovered.append(run.pk)
    lost_before = now - timedelta(seconds=settings.SYNC_RUN_QUEUED_STALE_AFTER)
    for run in SyncRun.objects.filter(status=SyncRun.Status.QUEUED, queued_at__lt=lost_before):
        if not job_is_pending(_job_id(run.pk, "")):
            logger.warning("Run %s was queued but its job is gone; queueing it again.", run.pk)
            SyncRun.objects.filter(pk=run.pk).update(recoveries=F("recoveries") + 1)
            _enqueue_quietly(run.pk, "")
            recovered.append(run.pk)
    return recovered


def sync_run_execute_chunk(*, run_id: int, token: str = "") -> SyncRun:
    """Execute the next chunk of a run: claim it first if it is still queued (``token`` empty),
    else go on only while ``token`` is still the run's. Never raises for a record's failure;
    the run row says how it stands."""
    if not token:
        token = _claim(run_id)
    run = SyncRun.objects.select_related("flow__field_map", "flow__data_class").get(pk=run_id)
    if not token or run.status != SyncRun.Status.RUNNING or run.claim_token != token:
        return run
    return _ChunkExecution(run, token).execute()


class ClaimLost(RecordInterrupted):
    """Someone else owns the run now (it was taken over as abandoned): stop writing to it."""


class _ChunkExecution:
    def __init__(self, run: SyncRun, token: str) -> None:
        self.run, self.token, self.flow = run, token, run.flow
        self.last_beat = time.monotonic()

    def execute(self) -> SyncRun:
        run, flow = self.run, self.flow
        try:
            with flow_context(
                flow, actor=f"job:run-{run.pk}", run=run, version=run.field_map_version
            ) as ctx:
                if run.field_map_version_id is None:
                    # The run names the version it used, pinned by its first chunk.
                    run.field_map_version = ctx.scope.version
                    self._save(["field_map_version"])
                ctx.heartbeat = self._beat_if_due
                more = self._process_records(ctx)
        except ClaimLost:
            logger.warning("Run %s was taken over; this worker stops writing to it.", run.pk)
            return run
        except RunAborted as exc:
            if exc.record_failed:
                run.failed_count += 1
            return self._finish(SyncRun.Status.FAILED, error=str(exc))
        except ConnectorError as exc:
            return self._finish(SyncRun.Status.FAILED, error=f"{flow.source_system}: {exc}")
        except Exception as exc:
            logger.exception("Sync run %s failed", run.pk)
            return self._finish(SyncRun.Status.FAILED, error=f"{exc.__class__.__name__}: {exc}")
        run.chunks_done += 1
        if not more:
            return self._finish(_status_of(run))
        self._save(["chunks_done"])
        _enqueue_quietly(run.pk, self.token)
        return run

    def _process_records(self, ctx: FlowContext) -> bool:
        """Process records from where the run stands until the source ends (False), or the
        chunk's budget is spent (True: a next chunk goes on)."""
        run, flow = self.run, self.flow
        started, done = time.monotonic(), 0
        limit = flow.write_limit if flow.stage == Flow.Stage.LIMITED else None
        records = ctx.source.iter_records(
            flow.source_resource, after=self._start_position(), page_size=flow.page_size
        )
        try:
            for record in records:
                if limit is not None and run.created_count + run.updated_count >= limit:
                    run.note = (
                        f"Wrote {limit} records, the limit of a limited run; the rest wait for "
                        "the next run."
                    )
                    return False
                if done and (
                    done >= settings.SYNC_CHUNK_RECORDS
                    or time.monotonic() - started >= settings.SYNC_CHUNK_SECONDS
                ):
                    return True
                run.read_count += 1
                if flow.stage != Flow.Stage.READ_ONLY:
                    counter = counter_for(process_record(ctx, record))
                    setattr(run, counter, getattr(run, counter) + 1)
                self._advance(record)
                done += 1
                self._beat_if_due()
            return False
        finally:
            close = getattr(records, "close", None)
            if close is not None:
                close()

    def _start_position(self) -> Position | None:
        run, flow = self.run, self.flow
        if run.position_updated_at is None and flow.mode == Flow.Mode.INCREMENTAL:
            run.position_updated_at = flow.cursor_updated_at
            run.position_source_id = flow.cursor_source_id
        if run.position_updated_at is None:
            return None
        moment = run.position_updated_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return Position(updated_at=moment, record_id=run.position_source_id)

    def _advance(self, record: object) -> None:
        position = record_position(record) if isinstance(record, dict) else None
        moment = position_moment(position.updated_at) if position else None
        if moment is not None:
            self.run.position_updated_at = moment
            self.run.position_source_id = position.record_id

    def _beat_if_due(self) -> None:
        if time.monotonic() - self.last_beat >= settings.SYNC_HEARTBEAT_EVERY:
            self._save([])

    def _save(self, extra: list[str]) -> None:
        """Save counters, position and heartbeat, if the run is still ours (compare-and-set on
        the claim token); an incremental flow's cursor moves with a writing run's position.
        Raises ClaimLost otherwise."""
        run, flow = self.run, self.flow
        run.heartbeat_at = timezone.now()
        run.executed_by = _this_process()
        fields = [
            *COUNTERS,
            *("heartbeat_at", "executed_by", "position_updated_at", "position_source_id"),
            *extra,
        ]
        with transaction.atomic():
            saved = SyncRun.objects.filter(
                pk=run.pk, claim_token=self.token, status=SyncRun.Status.RUNNING
            ).update(**{name: getattr(run, name) for name in fields})
            if not saved:
                raise ClaimLost(run.pk)
            moves_cursor = flow.mode == Flow.Mode.INCREMENTAL and flow.writes_to_target
            if moves_cursor and run.position_updated_at is not None:
                Flow.objects.filter(pk=flow.pk).update(
                    cursor_updated_at=run.position_updated_at,
                    cursor_source_id=run.position_source_id,
                )
        self.last_beat = time.monotonic()

    def _finish(self, status: str, *, error: str = "") -> SyncRun:
        run = self.run
        try:
            self._save(["chunks_done", "note"])
        except ClaimLost:
            return run
        run.status, run.error, run.finished_at = status, error, timezone.now()
        SyncRun.objects.filter(
            pk=run.pk, claim_token=self.token, status=SyncRun.Status.RUNNING
        ).update(status=status, error=error, finished_at=run.finished_at)
        return run


def _status_of(run: SyncRun) -> str:
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


def _this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _job_id(run_id: int, token: str) -> str:
    return f"sync-run-{run_id}-{token or 'start'}"


def _enqueue_chunk(run_id: int, *, token: str) -> None:
    def not_queued(exc: Exception) -> None:
        if not token:
            SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.QUEUED).update(
                status=SyncRun.Status.FAILED,
                finished_at=timezone.now(),
                error=f"Not queued: the job queue did not take the run ({exc}).",
            )

    enqueue_job(CHUNK_JOB, run_id, token, job_id=_job_id(run_id, token), on_failure=not_queued)


def _enqueue_quietly(run_id: int, token: str) -> None:
    """Queue a run's next chunk from a job or the recovery sweep, where nobody waits for an
    answer: if the queue refuses it, the run's heartbeat goes stale and the next sweep tries
    again."""
    try:
        _enqueue_chunk(run_id, token=token)
    except JobNotQueued:
        logger.warning("Run %s: its next chunk could not be queued; recovery will retry.", run_id)


def _claim(run_id: int) -> str:
    """Compare-and-set queued -> running with a new claim token; the token, or "" if the run
    is not queued. A run that finds another of its flow running fails (one at a time)."""
    token = secrets.token_hex(16)
    now = timezone.now()
    try:
        with transaction.atomic():
            claimed = SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.QUEUED).update(
                status=SyncRun.Status.RUNNING,
                started_at=now,
                heartbeat_at=now,
                executed_by=_this_process(),
                claim_token=token,
            )
    except IntegrityError:
        SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.QUEUED).update(
            status=SyncRun.Status.FAILED,
            finished_at=timezone.now(),
            error="Another run of this flow was already running.",
        )
        return ""
    return token if claimed else ""
