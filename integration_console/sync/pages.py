"""A page of source records through the pipeline together: the path of process_record, with
the page's bookkeeping written in bulk and its writes to the target sent side by side.

Whatever the page's size, it costs the database a fixed number of statements: one takes the
records' locks, one reads their links, one asks the queue which of them have an active item
(and, where they apply, one reads their kept corrections and one their uncertain creates);
after the writes, one transaction writes the page's links, their history and its audit
entries, and one statement releases the locks. An unchanged record is counted and costs
nothing more: the audit trail records attempted actions.

The writes go out on up to the target system's ``max_concurrent_writes`` connections at once,
or in batches where its connector creates many records in one call. Worker threads only talk
HTTP: what an attempt would write to the database waits on its Attempt until the page books.

A record the page cannot take is processed on its own with process_record, as before: its id
is unusable, it comes twice in the page, another writer holds its lock, it has an active
review item (a success must resolve it), or an earlier create of it may have landed unanswered.
"""

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from connectors.base import Record
from connectors.errors import ConnectorError, TransientError
from integration_console.matching.decide import batch_duplicates

from .failures import FailureKind, RecordFailure
from .identify import match_records, remember_written
from .locks import page_locks
from .models import AuditEntry, RecordLink
from .pipeline import (
    Action,
    Attempt,
    FlowContext,
    Outcome,
    Result,
    RunAborted,
    TargetUnavailable,
    audit_entry,
    idempotency_key_for,
    kept_corrections,
    load,
    merge_by_ownership,
    payload_hash,
    prepare,
    process_record,
    record_failure,
    recording_failures,
    refusal_of,
    source_id_of,
    target_id_of,
    uncertain_creates,
)
from .selectors import source_ids_needing_attention

logger = logging.getLogger(__name__)

# Records per create_many call: the connector answers each record of it (Tryton's halves a
# refused batch until each bad record stands alone).
BATCH_CREATE_SIZE = 100
# How often the run's heartbeat beats while a page's writes are out.
HEARTBEAT_WHILE_WRITING = 1.0

Count = Callable[[Result], None]


@dataclass
class _Write:
    """One record of the page on its way to the target, and how its write ended."""

    record: Record
    state: Attempt
    payload: dict[str, Any]
    digest: str
    outcome: str = ""
    failure: RecordFailure | None = None
    bug: Exception | None = None


def process_page(ctx: FlowContext, records: list[Any], count: Count) -> None:
    """Process a page of source records; ``count`` hears each record's result as it is known.
    A RunAborted says with ``record_failed`` whether the record that met it is still to be
    counted."""
    together: dict[str, tuple[int, Record]] = {}
    alone: list[tuple[int, Any]] = []
    for index, record in enumerate(records):
        source_id, drift = source_id_of(record)
        if drift is None and source_id not in together:
            together[source_id] = (index, record)
        else:
            alone.append((index, record))
    with page_locks(ctx.flow.pk, together) as locked:
        alone.extend(pair for source_id, pair in together.items() if source_id not in locked)
        mine = {
            source_id: record for source_id, (_, record) in together.items() if source_id in locked
        }
        _process_together(ctx, mine, count)
    for _, record in sorted(alone, key=lambda pair: pair[0]):
        count(process_record(ctx, record))


def _process_together(ctx: FlowContext, records: dict[str, Record], count: Count) -> None:
    flow = ctx.flow
    ids = list(records)
    links = {link.source_id: link for link in RecordLink.objects.for_records(flow, ids)}
    on_their_own = source_ids_needing_attention(flow, ids) | _uncertain_creates(ctx, ids, links)
    corrections = kept_corrections(flow, ids) if ctx.has_corrections else {}
    writes: list[_Write] = []
    unlinked: dict[str, _Write] = {}
    for source_id, record in records.items():
        if source_id in on_their_own:
            count(process_record(ctx, record))
            continue
        state = Attempt(source_id, time.monotonic())
        with recording_failures(ctx, state, record) as outcome:
            payload = prepare(
                ctx,
                state,
                record,
                link=links.get(source_id),
                corrections=corrections.get(source_id, {}),
            )
            digest = payload_hash(payload)
            if state.link is not None and state.link.payload_hash == digest:
                outcome.result = Result(Action.SKIP, Outcome.SKIPPED)
            else:
                writes.append(_Write(record, state, payload, digest))
                if state.link is None:
                    unlinked[source_id] = writes[-1]
        if outcome.result is not None:
            count(outcome.result)
    later = _matched(ctx, unlinked)
    writes = [w for w in writes if w.state.source_id not in later]
    if writes:
        _send(ctx, writes)
        _book(ctx, writes, count)
    for record in later.values():
        count(process_record(ctx, record))


def _matched(ctx: FlowContext, unlinked: dict[str, _Write]) -> dict[str, Record]:
    """The unlinked records that go on their own, after the page: those the target seems to
    hold already (to be linked, or shown to a person), and those that duplicate an earlier
    record of the page, which by then is written and in the index. New ones stay in the page.
    The look-up costs the same few queries for the whole page."""
    if ctx.matching is None or not unlinked:
        return {}
    payloads = {source_id: write.payload for source_id, write in unlinked.items()}
    decisions = match_records(ctx.matching, ctx.flow, payloads)
    twins = batch_duplicates(list(payloads.items()), ctx.matching.spec)
    # A target asked for what the index does not know is asked record by record, with the
    # retries of a single record's path.
    ask = ctx.matching.spec.ask_target and ctx.target.capabilities.search_by_keys
    return {
        source_id: write.record
        for source_id, write in unlinked.items()
        if decisions[source_id].verdict != "new" or source_id in twins or ask
    }


def _uncertain_creates(ctx: FlowContext, ids: list[str], links: dict) -> set[str]:
    """Records without a link that an earlier create may have made unanswered: each must be
    looked for in the target before it is created (find_lost_create), so it goes alone."""
    unlinked = [source_id for source_id in ids if source_id not in links]
    if not unlinked or not ctx.target.capabilities.idempotency_keys:
        return set()
    return set(uncertain_creates(ctx.flow, unlinked).values_list("source_id", flat=True))


# --- the writes, off the database ------------------------------------------------------------


def _send(ctx: FlowContext, writes: list[_Write]) -> None:
    """Send the page's writes, side by side up to the target's bound; return when all ended."""
    # The threads share one context whose heartbeat does nothing: the run's row is saved from
    # this thread only, while it waits.
    shared = replace(ctx, heartbeat=lambda: None)
    for write in writes:
        write.state.deferred = []
    stop = threading.Event()
    first, *rest = _tasks(shared, writes, stop)
    # The first write goes alone: a target that refuses our credentials then costs one
    # record, not one per connection.
    first()
    workers = min(ctx.write_concurrency, len(rest))
    if workers <= 1:
        for task in rest:
            task()
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ic-write") as pool:
            pending = {pool.submit(_off_the_database, task) for task in rest}
            while pending:
                _, pending = wait(pending, timeout=HEARTBEAT_WHILE_WRITING)
                ctx.heartbeat()
    ctx.unreachable_in_a_row = shared.unreachable_in_a_row


def _tasks(
    ctx: FlowContext, writes: list[_Write], stop: threading.Event
) -> list[Callable[[], None]]:
    """The page's writes as tasks; once one finds the target gone (``stop``), those not yet
    begun send nothing and stay unrecorded: the run stops before them and reads them again."""
    creates = [w for w in writes if w.state.link is None and ctx.flow.writes_to_target]
    if not (ctx.target.capabilities.batch_create and len(creates) > 1):
        batches, singles = [], writes
    else:
        batches = [
            creates[i : i + BATCH_CREATE_SIZE] for i in range(0, len(creates), BATCH_CREATE_SIZE)
        ]
        singles = [w for w in writes if w not in creates]

    def unless_stopped(call: Callable[[], None], batch: list[_Write]) -> Callable[[], None]:
        def task() -> None:
            if stop.is_set():
                return
            call()
            if any(w.failure is not None and w.failure.stops_run for w in batch):
                stop.set()

        return task

    return [unless_stopped(lambda b=b: _write_batch(ctx, b, stop), b) for b in batches] + [
        unless_stopped(lambda w=w: _write_one(ctx, w), [w]) for w in singles
    ]


def _off_the_database(task: Callable[[], None]) -> None:
    try:
        task()
    finally:
        # A write thread should never open a connection; if one did, it must not leak.
        connections.close_all()


def _write_one(ctx: FlowContext, write: _Write) -> None:
    flow, state = ctx.flow, write.state
    try:
        if not flow.writes_to_target:
            state.sent = write.payload
            if state.link is not None:
                state.sent = merge_by_ownership(ctx, state, write.record, write.payload)
            write.outcome = Outcome.DRY_RUN
            return
        if state.link is not None:
            body = merge_by_ownership(ctx, state, write.record, write.payload)
            state.sent = body
            if body:
                load(
                    ctx,
                    state,
                    lambda: ctx.target.update(flow.target_resource, state.target_id, body),
                )
        else:
            state.idempotency_key = idempotency_key_for(flow, state.source_id, write.digest)
            state.sent = write.payload
            stored = load(
                ctx,
                state,
                lambda: ctx.target.create(
                    flow.target_resource, write.payload, idempotency_key=state.idempotency_key
                ),
            )
            state.target_id = target_id_of(ctx, stored)
        write.outcome = Outcome.SUCCEEDED
    except RecordFailure as failure:
        write.failure = failure
    except Exception as exc:  # recorded as an internal error by the page's bookkeeping
        write.bug = exc


def _write_batch(ctx: FlowContext, batch: list[_Write], stop: threading.Event) -> None:
    """Create a batch in one call, each record with its idempotency key; the call is retried
    as a whole while the target does not answer (its failed attempts are audited on the
    batch's first record). The connector answers each record. A target that refuses our
    credentials, or stays silent long enough to be taken for down, fails the first record and
    leaves the rest unsent; any other failure of the whole call sends the records one by one,
    each with its own retries and the same key."""
    first = batch[0]
    for write in batch:
        write.state.sent = write.payload
        write.state.idempotency_key = idempotency_key_for(
            ctx.flow, write.state.source_id, write.digest
        )
    try:
        answers = load(
            ctx,
            first.state,
            lambda: ctx.target.create_many(
                ctx.flow.target_resource,
                [w.payload for w in batch],
                idempotency_keys=[w.state.idempotency_key for w in batch],
            ),
        )
    except RecordFailure as failure:
        if failure.stops_run:
            first.failure = failure
            return
        logger.warning("A batch create to %s failed whole; sending it one by one.", ctx.flow)
        for write in batch:
            if stop.is_set():
                return
            _write_one(ctx, write)
            if write.failure is not None and write.failure.stops_run:
                stop.set()
        return
    except Exception as exc:
        for write in batch:
            write.bug = exc
        return
    for write, answer in zip(batch, answers, strict=True):
        try:
            if isinstance(answer, TransientError):
                # The call for this record went unanswered: it may have landed. Recorded as
                # an uncertain create, so that a retry looks for it before creating again.
                raise RecordFailure(
                    FailureKind.RETRIES_EXHAUSTED,
                    f"{ctx.flow.target_system} did not answer for this record "
                    f"({answer.message}); it may have been created.",
                    target_response=answer.response_body,
                )
            if isinstance(answer, ConnectorError):
                raise refusal_of(ctx, write.state, answer)
            if isinstance(answer, Exception):
                raise answer
            write.state.target_id = target_id_of(ctx, answer)
            write.outcome = Outcome.SUCCEEDED
        except RecordFailure as failure:
            write.failure = failure
        except Exception as exc:
            write.bug = exc


# --- the bookkeeping, in bulk ----------------------------------------------------------------


def _book(ctx: FlowContext, writes: list[_Write], count: Count) -> None:
    """Write what the page did: the successes in one transaction (record by record if the
    database refuses the whole), then each failure with its review item. Raises RunAborted
    when a write met a bug, TargetUnavailable when the target is gone, once all is recorded."""
    done = [w for w in writes if w.outcome]
    try:
        with transaction.atomic():
            _book_successes(ctx, done)
    except DatabaseError:
        logger.exception(
            "Could not record a page of %s in bulk; recording it record by record", ctx.flow
        )
        for write in done:
            try:
                with transaction.atomic():
                    _book_successes(ctx, [write])
            except DatabaseError as exc:
                written_as = f" as {write.state.target_id}" if write.state.target_id else ""
                write.outcome = ""
                write.failure = RecordFailure(
                    FailureKind.INTERNAL_ERROR,
                    f"Written to {ctx.flow.target_system}{written_as}, but the console could "
                    f"not record it ({exc.__class__.__name__}); link it by hand.",
                )
    for write in writes:
        if write.outcome:
            count(Result(write.state.action, write.outcome))
    stop: RecordFailure | None = None
    bug: _Write | None = None
    for write in writes:
        if write.outcome or (write.failure is None and write.bug is None):
            continue  # done, or never sent because the target was found gone
        failure = write.failure
        if write.bug is not None:
            logger.error(
                "Bug while writing %s in %s", write.state.source_id, ctx.flow, exc_info=write.bug
            )
            failure = RecordFailure(
                FailureKind.INTERNAL_ERROR, f"{write.bug.__class__.__name__}: {write.bug}"
            )
            bug = bug or write
        _save_deferred(write)
        record_failure(ctx.scope, write.state, failure, source_record=write.record)
        count(Result(write.state.action, Outcome.FAILED))
        if failure.stops_run:
            stop = stop or failure
    if bug is not None:
        raise RunAborted(f"Record {bug.state.source_id}: {bug.bug}", record_failed=False)
    if stop is not None:
        raise TargetUnavailable(stop.reason, record_failed=False)


def _book_successes(ctx: FlowContext, done: list[_Write]) -> None:
    flow, now = ctx.flow, timezone.now()
    created: list[RecordLink] = []
    changed: list[RecordLink] = []
    entries: list[AuditEntry] = []
    for write in done:
        state = write.state
        entries.extend(state.deferred or ())
        if write.outcome == Outcome.SUCCEEDED and state.link is None:
            created.append(
                RecordLink(
                    flow=flow,
                    **RecordLink.natural_key_of(flow, state.source_id),
                    target_id=state.target_id,
                    payload_hash=write.digest,
                )
            )
        elif write.outcome == Outcome.SUCCEEDED:
            link = state.link
            link.flow, link.target_id, link.payload_hash, link.updated_at = (
                flow,
                state.target_id,
                write.digest,
                now,
            )
            changed.append(link)
        entries.append(audit_entry(ctx.scope, state, write.outcome))
    if created:
        bulk_create_with_history(created, RecordLink, default_date=now)
    if changed:
        bulk_update_with_history(
            changed,
            RecordLink,
            ["flow", "target_id", "payload_hash", "updated_at"],
            default_date=now,
        )
    AuditEntry.objects.bulk_create(entries)
    if ctx.matching is not None:
        remember_written(
            ctx.matching,
            [
                (w.state.target_id, w.payload)
                for w in done
                if w.outcome == Outcome.SUCCEEDED and w.state.target_id
            ],
        )
    for write in done:
        write.state.deferred = None


def _save_deferred(write: _Write) -> None:
    """Write the failed attempts a record met before it failed for good (its transient errors),
    so that they come before its failure in the audit trail."""
    entries, write.state.deferred = write.state.deferred or [], None
    if entries:
        AuditEntry.objects.bulk_create(entries)
