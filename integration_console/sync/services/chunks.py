"""Executing one chunk of a run: claim it, read its stretch of source records, hand the rest of
the run on to the next chunk, process the stretch page by page, and close the run when its
last chunk is done.

Many chunks of one run execute at once on different workers. What keeps that safe: each chunk
owns a stretch of the source's (updated_at, id) order that no other chunk reads; every record
is written under its own lock (locks.py); a chunk's saves are compare-and-sets on its claim
token; and the run's counters only ever grow by what a chunk adds. Completions of one run's
chunks take turns on the run's row, so the run's position (and an incremental flow's cursor)
moves only past chunks that are done with none missing before them.
"""

import itertools
import logging
import secrets
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from connectors.base import Position, Record, record_position
from connectors.errors import ConnectorError

from ..models import Flow, SyncChunk, SyncRun
from ..pages import process_page
from ..pipeline import FlowContext, RecordInterrupted, Result, RunAborted, position_moment
from .runs import (
    COUNTERS,
    counter_for,
    enqueue_chunk_quietly,
    flow_context,
    status_of,
    this_process,
)

logger = logging.getLogger(__name__)


class ClaimLost(RecordInterrupted):
    """Someone else owns the chunk now (it was taken over as abandoned): stop writing to it."""


class RunEnded(RecordInterrupted):
    """The chunk's run has ended (failed in another chunk, or cancelled): stop after the page."""


def sync_chunk_execute(*, chunk_id: int, token: str = "") -> SyncChunk:
    """Execute a chunk: claim it first if it is still queued (``token`` empty), else go on
    only while ``token`` is still the chunk's. Never raises for a record's failure; the run
    and chunk rows say how they stand."""
    if not token:
        token = _claim(chunk_id)
    chunk = SyncChunk.objects.select_related(
        "run__flow__field_map", "run__flow__data_class", "run__field_map_version"
    ).get(pk=chunk_id)
    if not token or chunk.status != SyncChunk.Status.RUNNING or chunk.claim_token != token:
        return chunk
    return _ChunkExecution(chunk, token).execute()


def _claim(chunk_id: int) -> str:
    """Compare-and-set queued -> running with a new claim token; the token, or "" when the
    chunk is not queued or its run has ended. The first chunk also starts its run, which fails
    if another run of its flow is running (one at a time)."""
    token, now = secrets.token_hex(16), timezone.now()
    chunk = SyncChunk.objects.select_related("run").get(pk=chunk_id)
    run = chunk.run
    if run.status == SyncRun.Status.QUEUED:
        try:
            with transaction.atomic():
                SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.QUEUED).update(
                    status=SyncRun.Status.RUNNING,
                    started_at=now,
                    heartbeat_at=now,
                    executed_by=this_process(),
                )
        except IntegrityError:
            SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.QUEUED).update(
                status=SyncRun.Status.FAILED,
                finished_at=timezone.now(),
                error="Another run of this flow was already running.",
            )
        run.refresh_from_db(fields=["status"])
    if run.status != SyncRun.Status.RUNNING:
        SyncChunk.objects.filter(pk=chunk_id, status=SyncChunk.Status.QUEUED).stop()
        return ""
    claimed = SyncChunk.objects.filter(pk=chunk_id, status=SyncChunk.Status.QUEUED).update(
        status=SyncChunk.Status.RUNNING,
        claim_token=token,
        started_at=now,
        heartbeat_at=now,
        executed_by=this_process(),
    )
    return token if claimed else ""


class _ChunkExecution:
    def __init__(self, chunk: SyncChunk, token: str) -> None:
        self.chunk, self.token = chunk, token
        self.run, self.flow = chunk.run, chunk.run.flow
        self.last_beat = time.monotonic()
        # What this chunk had added to the run's counters at its last save.
        self.saved = {name: getattr(chunk, name) for name in COUNTERS}
        # Runs of a limited flow go one chunk at a time: the write limit is the run's.
        self.fans_out = self.flow.stage != Flow.Stage.LIMITED
        # How the run ended, when this chunk ends it and it is worth saying.
        self.note = ""

    def execute(self) -> SyncChunk:
        chunk, run, flow = self.chunk, self.run, self.flow
        try:
            with flow_context(
                flow, actor=f"job:run-{run.pk}", run=run, version=run.field_map_version
            ) as ctx:
                self._pin_version(ctx)
                ctx.heartbeat = self._beat_if_due
                finished = self._process(ctx)
        except ClaimLost:
            logger.warning("%s was taken over; this worker stops writing to it.", chunk)
            return chunk
        except RunEnded:
            self._stop()
            return chunk
        except RunAborted as exc:
            if exc.record_failed:
                chunk.failed_count += 1
            return self._fail_run(str(exc))
        except ConnectorError as exc:
            return self._fail_run(f"{flow.source_system}: {exc}")
        except Exception as exc:
            logger.exception("%s failed", chunk)
            return self._fail_run(f"{exc.__class__.__name__}: {exc}")
        if not finished:
            # Its time is up: the rest of its stretch goes on in a new job, under its token.
            enqueue_chunk_quietly(chunk, self.token, again=True)
            return chunk
        return self._complete()

    def _pin_version(self, ctx: FlowContext) -> None:
        """The run names the field-map version it used: the one its first chunk loaded."""
        if self.run.field_map_version_id is None:
            SyncRun.objects.filter(pk=self.run.pk, field_map_version=None).update(
                field_map_version=ctx.scope.version
            )

    # --- reading and processing ---------------------------------------------------------

    def _process(self, ctx: FlowContext) -> bool:
        """Process the chunk's stretch: True once done, False when its time is up first."""
        chunk, flow = self.chunk, self.flow
        source = ctx.source.iter_records(
            flow.source_resource, after=self._resume_from(), page_size=flow.page_size
        )
        try:
            if chunk.until_updated_at is None and not chunk.last:
                stretch: Iterable[Record] = self._read_stretch(source)
            elif chunk.until_updated_at is None:  # resumed, the last: read to the end
                stretch = source
            else:  # resumed after its worker died: read up to the end it had found
                stretch = _up_to(source, chunk.until_updated_at, chunk.until_source_id)
            return self._process_pages(ctx, iter(stretch))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    def _read_stretch(self, source: Iterator[Record]) -> list[Record]:
        """Read this chunk's records, note where they end, and (when the run fans out) queue
        the next chunk to start after them before processing any."""
        chunk = self.chunk
        stretch = list(itertools.islice(source, settings.SYNC_CHUNK_RECORDS))
        end = _last_position(stretch)
        chunk.last = len(stretch) < settings.SYNC_CHUNK_RECORDS or end is None
        if end is not None:
            chunk.until_updated_at, chunk.until_source_id = end
        with transaction.atomic():
            self._save(["last", "until_updated_at", "until_source_id"])
            following = self._next_chunk() if self.fans_out and not chunk.last else None
        if following is not None:
            enqueue_chunk_quietly(following, "")
        return stretch

    def _process_pages(self, ctx: FlowContext, records: Iterator[Record]) -> bool:
        chunk, run, flow = self.chunk, self.run, self.flow
        limit = flow.write_limit if flow.stage == Flow.Stage.LIMITED else None
        started = time.monotonic()
        while True:
            if time.monotonic() - started >= settings.SYNC_CHUNK_SECONDS:
                return False
            size = flow.page_size
            if limit is not None:
                written = run.created_count + run.updated_count + self._written()
                if written >= limit:
                    chunk.last = True
                    self.note = (
                        f"Wrote {limit} records, the limit of a limited run; the rest wait for "
                        "the next run."
                    )
                    return True
                # Never more records than writes left: none of them can overshoot it.
                size = min(size, limit - written)
            page = list(itertools.islice(records, max(1, size)))
            if not page:
                return True
            chunk.read_count += len(page)
            if flow.stage != Flow.Stage.READ_ONLY:
                process_page(ctx, page, self._count)
            position = _last_position(page)
            if position is not None:
                chunk.position_updated_at, chunk.position_source_id = position
            self._save([])

    def _written(self) -> int:
        return self.chunk.created_count + self.chunk.updated_count

    def _count(self, result: Result) -> None:
        counter = counter_for(result)
        setattr(self.chunk, counter, getattr(self.chunk, counter) + 1)

    def _resume_from(self) -> Position | None:
        chunk = self.chunk
        if chunk.position_updated_at is not None:
            return _as_position(chunk.position_updated_at, chunk.position_source_id)
        if chunk.after_updated_at is not None:
            return _as_position(chunk.after_updated_at, chunk.after_source_id)
        return None

    # --- saving, in turns with the other chunks ----------------------------------------

    def _beat_if_due(self) -> None:
        """While a page's writes are out: show the chunk and the run alive (counters and
        position wait for the page's end)."""
        if time.monotonic() - self.last_beat < settings.SYNC_HEARTBEAT_EVERY:
            return
        now = timezone.now()
        owned = SyncChunk.objects.filter(
            pk=self.chunk.pk, claim_token=self.token, status=SyncChunk.Status.RUNNING
        ).update(heartbeat_at=now)
        if not owned:
            raise ClaimLost(self.chunk.pk)
        SyncRun.objects.filter(pk=self.run.pk).update(heartbeat_at=now)
        self.last_beat = time.monotonic()

    def _save(self, extra: list[str], *, status: str | None = None) -> None:
        """Save the chunk's position and counters and add what it counted since its last save
        to the run's, if the chunk is still ours (compare-and-set on the claim token). Raises
        ClaimLost otherwise, and RunEnded once the run has ended."""
        chunk, now = self.chunk, timezone.now()
        fields = [*COUNTERS, "position_updated_at", "position_source_id", *extra]
        values = {name: getattr(chunk, name) for name in fields}
        if status is not None:
            values.update(status=status, finished_at=now)
        added = {name: getattr(chunk, name) - self.saved[name] for name in COUNTERS}
        with transaction.atomic():
            owned = SyncChunk.objects.filter(
                pk=chunk.pk, claim_token=self.token, status=SyncChunk.Status.RUNNING
            ).update(heartbeat_at=now, executed_by=this_process(), **values)
            if not owned:
                raise ClaimLost(chunk.pk)
            grow = {name: F(name) + n for name, n in added.items() if n}
            run = SyncRun.objects.filter(pk=self.run.pk)
            # One statement while the run goes on; its counters grow even once it has ended.
            running = run.filter(status=SyncRun.Status.RUNNING).update(heartbeat_at=now, **grow)
            if not running and grow:
                run.update(**grow)
        self.saved = {name: getattr(chunk, name) for name in COUNTERS}
        self.last_beat = time.monotonic()
        if not running and status is None:
            raise RunEnded(chunk.pk)

    def _next_chunk(self) -> SyncChunk:
        """The chunk that starts where this one's stretch ends; queued by the caller once its
        transaction has committed (a queue that is down then leaves it to the recovery)."""
        chunk = self.chunk
        return SyncChunk.objects.create(
            run_id=chunk.run_id,
            number=chunk.number + 1,
            after_updated_at=chunk.until_updated_at,
            after_source_id=chunk.until_source_id,
        )

    def _complete(self) -> SyncChunk:
        """Mark the chunk done and, in the run's turn, move the run's position past every
        chunk done with no gap before it; the last chunk to finish closes the run."""
        chunk, following = self.chunk, None
        try:
            with transaction.atomic():
                run = SyncRun.objects.select_for_update().get(pk=self.run.pk)
                self._save(["last", "until_updated_at", "until_source_id"], status="done")
                run.refresh_from_db()
                SyncRun.objects.filter(pk=run.pk).update(chunks_done=F("chunks_done") + 1)
                if run.status != SyncRun.Status.RUNNING:
                    return chunk
                if not self.fans_out and not chunk.last:
                    following = self._next_chunk()
                self._advance_position(run)
                if not SyncChunk.objects.filter(run=run).exclude(status="done").exists():
                    self._finish(run)
        except ClaimLost:
            logger.warning("%s was taken over before it finished.", chunk)
        if following is not None:
            enqueue_chunk_quietly(following, "")
        return chunk

    def _advance_position(self, run: SyncRun) -> None:
        chunks = SyncChunk.objects.filter(run=run)
        gap = chunks.exclude(status="done").order_by("number").values_list("number", flat=True)
        before = gap.first()
        # A done chunk processed its stretch up to its position (a limited run's last chunk
        # stops short of its stretch's end, the rest wait for the next run).
        done = chunks.filter(status="done", position_updated_at__isnull=False)
        if before is not None:
            done = done.filter(number__lt=before)
        end = (
            done.order_by("-number")
            .values_list("position_updated_at", "position_source_id")
            .first()
        )
        if end is None:
            return
        SyncRun.objects.filter(pk=run.pk).update(
            position_updated_at=end[0], position_source_id=end[1]
        )
        if self.flow.mode == Flow.Mode.INCREMENTAL and self.flow.writes_to_target:
            Flow.objects.filter(pk=self.flow.pk).update(
                cursor_updated_at=end[0], cursor_source_id=end[1]
            )

    def _finish(self, run: SyncRun) -> None:
        run.refresh_from_db()
        run.note = run.note or self.note
        status = status_of(run)
        SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(
            status=status, finished_at=timezone.now(), note=run.note
        )

    def _stop(self) -> None:
        SyncChunk.objects.filter(pk=self.chunk.pk, claim_token=self.token).stop()

    def _fail_run(self, error: str) -> SyncChunk:
        """The run cannot go on: record what this chunk counted, fail the run, and stop its
        chunks that have not begun (running ones stop after their page)."""
        chunk = self.chunk
        unprocessed = chunk.read_count - sum(getattr(chunk, c) for c in COUNTERS[1:])
        note = ""
        if unprocessed > 0 and self.flow.stage != Flow.Stage.READ_ONLY:
            note = (
                f"{unprocessed} records read were not processed when the run stopped; the next "
                "run reads them again."
            )
        try:
            self._save([], status=SyncChunk.Status.STOPPED)
        except ClaimLost:
            return chunk
        now = timezone.now()
        with transaction.atomic():
            SyncRun.objects.filter(pk=self.run.pk, status=SyncRun.Status.RUNNING).update(
                status=SyncRun.Status.FAILED, error=error, finished_at=now, note=note
            )
            SyncChunk.objects.filter(run=self.run, status=SyncChunk.Status.QUEUED).stop()
        return chunk


def _position(record: object) -> tuple[datetime, str] | None:
    """Where a record stands in the source's order; None for one without an id and a readable
    ``updated_at`` (or not a record at all)."""
    if not isinstance(record, dict):
        return None
    position = record_position(record)
    moment = position_moment(position.updated_at) if position else None
    return (moment, position.record_id) if moment is not None else None


def _last_position(records: list[Record]) -> tuple[datetime, str] | None:
    return next((p for record in reversed(records) if (p := _position(record))), None)


def _as_position(moment: datetime, record_id: str) -> Position:
    text = moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return Position(updated_at=text, record_id=record_id)


def _up_to(records: Iterator[Record], moment: datetime, record_id: str) -> Iterator[Record]:
    """The records up to and including the one at (moment, record_id): a resumed chunk stops
    at the end of its stretch. Ids are compared only for equality (only the source knows their
    order), so if that very record was edited away, the chunk stops at the first record past
    its moment; records it then shares with the next chunk are written once all the same, by
    whichever takes its lock first, and skipped as unchanged by the other."""
    for record in records:
        position = _position(record)
        if position is not None and position[0] > moment:
            return
        yield record
        if position == (moment, record_id):
            return
