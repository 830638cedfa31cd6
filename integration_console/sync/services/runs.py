"""Starting and executing sync runs, and re-processing single records."""

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from croniter import croniter
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from connectors.errors import ConnectorError, NotFoundError

from .connections import connector_for
from .dispatch import enqueue_job
from .failures import FailureKind, RecordFailure
from .models import Flow, SyncRun
from .pipeline import (
    AuditScope,
    FlowContext,
    NoActiveVersion,
    Outcome,
    RunAborted,
    fail_record,
    link_record,
    load_context,
    process_record,
)

logger = logging.getLogger(__name__)

COUNTER_FOR_OUTCOME = {
    Outcome.CREATED: "created_count",
    Outcome.UPDATED: "updated_count",
    Outcome.SKIPPED: "skipped_count",
    Outcome.DRY_RUN: "skipped_count",
    Outcome.FAILED: "failed_count",
}
COUNTERS = ("read_count", *sorted(set(COUNTER_FOR_OUTCOME.values())))


def sync_run_start(*, flow: Flow, triggered_by: str) -> SyncRun:
    """Queue a run of ``flow``; it executes after commit, on a worker or in-process."""
    from . import jobs

    run = SyncRun.objects.create(
        flow=flow,
        stage=flow.stage,
        field_map_version=flow.field_map.active_version,
        triggered_by=triggered_by,
    )
    enqueue_job(jobs.execute_sync_run, run.pk)
    return run


def flows_start_due(*, now: datetime | None = None) -> list[SyncRun]:
    """Start a run of every enabled, scheduled flow whose tick has come; called every minute by
    RQ's cron (integration_console/sync/cron.py).

    Each tick is claimed with a compare-and-set on ``next_run_at``, so however many cron
    processes call this, a flow starts once per tick. A tick that finds the flow's last run
    still queued or running is passed over rather than queued behind it."""
    now = now or timezone.now()
    started = []
    for flow in Flow.objects.filter(enabled=True).exclude(schedule="").select_related("field_map"):
        following = croniter(flow.schedule, now).get_next(datetime)
        same_tick = Flow.objects.filter(pk=flow.pk, next_run_at=flow.next_run_at)
        if flow.next_run_at is None:  # a new schedule waits for its first tick
            same_tick.update(next_run_at=following)
            continue
        if flow.next_run_at > now or not same_tick.update(next_run_at=following):
            continue
        busy = flow.runs.filter(status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING])
        if busy.exists():
            logger.info("Skipping a tick of %s: its last run has not finished.", flow)
            continue
        started.append(sync_run_start(flow=flow, triggered_by="schedule"))
    return started


def sync_run_execute(*, run_id: int) -> SyncRun:
    """Execute a queued run: read every source record and take each through the pipeline.

    Claims the run with a compare-and-set, so a run executes once however many workers see it;
    the database allows one running run per flow. A running run that has shown no progress for
    SYNC_RUN_STALE_AFTER seconds (its worker died) is marked abandoned and no longer blocks
    the flow. Never raises for a record's failure: the run row says how it ended.
    """
    if not _claim(run_id):
        _abandon_stale_runs(SyncRun.objects.get(pk=run_id).flow_id)
        if not _claim(run_id):
            SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.QUEUED).update(
                status=SyncRun.Status.FAILED,
                finished_at=timezone.now(),
                error="Another run of this flow was already running.",
            )
    run = SyncRun.objects.select_related("flow").get(pk=run_id)
    if run.status != SyncRun.Status.RUNNING or run.executed_by != _this_process():
        return run

    flow = run.flow
    newest_seen = flow.cursor
    try:
        with flow_context(flow, actor=f"job:run-{run.pk}", run=run) as ctx:
            cursor = flow.cursor if flow.mode == Flow.Mode.INCREMENTAL else None
            records = ctx.source.iter_records(
                flow.source_resource, updated_since=cursor or None, page_size=flow.page_size
            )
            for index, record in enumerate(records, start=1):
                _count(run, "read_count")
                if isinstance(record, dict):
                    newest_seen = max(newest_seen, str(record.get("updated_at") or ""))
                if flow.stage != Flow.Stage.READ_ONLY:
                    _count(run, COUNTER_FOR_OUTCOME[process_record(ctx, record)])
                if index % flow.page_size == 0:
                    run.heartbeat_at = timezone.now()
                    run.save(update_fields=[*COUNTERS, "heartbeat_at"])
    except RunAborted as exc:
        if exc.record_failed:
            _count(run, "failed_count")
        _finish(run, SyncRun.Status.FAILED, error=str(exc))
        return run
    except ConnectorError as exc:
        _finish(run, SyncRun.Status.FAILED, error=str(exc))
        return run
    except Exception as exc:
        logger.exception("Sync run %s failed", run.pk)
        _finish(run, SyncRun.Status.FAILED, error=f"{exc.__class__.__name__}: {exc}")
        return run
    if flow.mode == Flow.Mode.INCREMENTAL and newest_seen != flow.cursor:
        Flow.objects.filter(pk=flow.pk).update(cursor=newest_seen)
    _finish(run, SyncRun.Status.SUCCEEDED)
    return run


def record_retry(
    *, flow: Flow, source_id: str, actor: str, payload: dict[str, Any] | None = None
) -> str:
    """Re-process one source record: fetched afresh from the source, or, with ``payload``,
    an operator's corrected payload sent as it is. Returns the pipeline's Outcome.

    Every ending is announced through the sync signals, including a retry that cannot start
    (no active field map version) or that hits a bug, so a waiting review item never stays
    in ``retrying``."""
    try:
        with flow_context(flow, actor=actor) as ctx:
            if payload is not None:
                return process_record(ctx, {"id": source_id}, payload=payload)
            try:
                record = ctx.source.get(flow.source_resource, source_id)
            except ConnectorError as exc:
                failure = RecordFailure(
                    FailureKind.SOURCE_UNAVAILABLE,
                    f"Could not read {source_id} from {flow.source_system}: {exc.message}",
                    target_response=exc.response_body,
                )
                return fail_record(ctx.scope, source_id, failure)
            return process_record(ctx, record)
    except NoActiveVersion as exc:
        failure = RecordFailure(FailureKind.MAPPING_ERROR, str(exc))
        return fail_record(AuditScope(flow=flow, actor=actor), source_id, failure)
    except RunAborted:
        # The pipeline recorded the bug on the record before raising; a retry is one record,
        # so there is no run to stop.
        return Outcome.FAILED


class LinkRefused(Exception):
    """The target record to link to cannot be used; the message is for the operator."""


def record_link_to_target(*, flow: Flow, source_id: str, target_id: str, actor: str) -> None:
    """Link a source record to an existing target record, after checking with the target
    system that the record exists. Idempotent: linking again to the same record re-links it.
    Announced through ``record_synced`` like any successful attempt."""
    with flow_context(flow, actor=actor) as ctx:
        try:
            ctx.target.get(flow.target_resource, target_id)
        except NotFoundError:
            raise LinkRefused(f"{flow.target_system} has no record {target_id}.") from None
        except ConnectorError as exc:
            raise LinkRefused(f"Could not check {target_id}: {exc.message}") from exc
        link_record(ctx, source_id, target_id)


@contextmanager
def flow_context(flow: Flow, *, actor: str, run: SyncRun | None = None) -> Iterator[FlowContext]:
    source = connector_for(flow.source_system)
    target = connector_for(flow.target_system)
    try:
        yield load_context(flow, source=source, target=target, actor=actor, run=run)
    finally:
        source.close()
        target.close()


def _this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claim(run_id: int) -> bool:
    """Compare-and-set queued -> running; False if the run is not queued or its flow already
    has a running run."""
    now = timezone.now()
    try:
        with transaction.atomic():
            return bool(
                SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.QUEUED).update(
                    status=SyncRun.Status.RUNNING,
                    started_at=now,
                    heartbeat_at=now,
                    executed_by=_this_process(),
                )
            )
    except IntegrityError:
        return False


def _abandon_stale_runs(flow_id: int) -> None:
    stale_before = timezone.now() - timedelta(seconds=settings.SYNC_RUN_STALE_AFTER)
    SyncRun.objects.filter(
        flow_id=flow_id, status=SyncRun.Status.RUNNING, heartbeat_at__lt=stale_before
    ).update(
        status=SyncRun.Status.FAILED,
        finished_at=timezone.now(),
        error="Abandoned: the process running it stopped showing progress.",
    )


def _count(run: SyncRun, counter: str) -> None:
    setattr(run, counter, getattr(run, counter) + 1)


def _finish(run: SyncRun, status: str, *, error: str = "") -> None:
    run.status = status
    run.error = error
    run.finished_at = timezone.now()
    run.save(update_fields=[*COUNTERS, "status", "error", "finished_at"])
