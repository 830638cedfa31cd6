"""The path of one record: transform, validate, identify, load, record.

A record either ends in a record link plus a successful audit entry, or in a failed audit entry
announced through ``record_failed``; nothing is dropped. Only a bug escapes, as RunAborted,
after the record has been recorded as an internal error.
"""

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from connectors.base import Connector, Record
from connectors.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConnectorError,
    NotFoundError,
    TransientError,
)
from integration_console.catalog.models import FieldMapVersion, FieldRule, OwnershipRule
from integration_console.catalog.schema import payload_errors

from .failures import FailureKind, RecordFailure, describe_field_errors
from .mapping import transform_record
from .models import AuditEntry, Flow, RecordLink, SyncRun
from .redaction import redact
from .signals import record_failed, record_synced

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 10.0
# After this many records in a row whose retries ran out, the target is taken to be down.
UNREACHABLE_RECORDS_BEFORE_STOP = 3


class RunAborted(Exception):
    """The run cannot go on: a bug or a target that cannot take records (the record that hit
    it is already recorded), or nothing to transform with."""

    def __init__(self, message: str, *, record_failed: bool = False) -> None:
        super().__init__(message)
        # True when a record met the cause and is already recorded as a failure.
        self.record_failed = record_failed


class TargetUnavailable(RunAborted):
    """The target refuses our credentials, or has stopped answering: every further record would
    fail the same way, so the run stops instead of filling the queue with them."""


class NoActiveVersion(RunAborted):
    """The flow's field map has no approved version to transform with."""


class Outcome:
    CREATED = "created"
    UPDATED = "updated"
    SKIPPED = "skipped"
    DRY_RUN = "dry_run"
    FAILED = "failed"


@dataclass(frozen=True)
class AuditScope:
    """What every audit entry of an attempt records besides the record: flow, actor, run and
    field-map version."""

    flow: Flow
    actor: str
    version: FieldMapVersion | None = None
    run: SyncRun | None = None


@dataclass
class FlowContext:
    """What processing a flow's records needs, loaded once per run (or per retry)."""

    scope: AuditScope
    rules: list[FieldRule]
    schema_fields: list[dict]
    target_owned_fields: set[str]
    source: Connector
    target: Connector
    sleep: Callable[[float], None] = time.sleep
    unreachable_in_a_row: int = 0

    @property
    def flow(self) -> Flow:
        return self.scope.flow


def load_context(
    flow: Flow, *, source: Connector, target: Connector, actor: str, run: SyncRun | None = None
) -> FlowContext:
    version = flow.field_map.active_version
    if version is None:
        raise NoActiveVersion(f"The field map {flow.field_map} has no active version.")
    owned = OwnershipRule.objects.filter(
        data_class=flow.data_class, owner=flow.target_system
    ).exclude(field="")
    return FlowContext(
        scope=AuditScope(flow=flow, actor=actor, version=version, run=run),
        rules=list(version.rules.all()),
        schema_fields=flow.data_class.fields,
        target_owned_fields=set(owned.values_list("field", flat=True)),
        source=source,
        target=target,
    )


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, default=str).encode("utf-8")
    ).hexdigest()


def process_record(
    ctx: FlowContext, record: Record, *, payload: dict[str, Any] | None = None
) -> str:
    """Take one source record through the whole path and return its Outcome.

    With ``payload`` (an operator's corrected payload) the transform step is skipped.
    Idempotent: an unchanged payload for a linked record is skipped, and creates carry an
    idempotency key derived from the payload.
    """
    started = time.monotonic()
    source_id = str(record.get("id") or "") if isinstance(record, dict) else ""
    state = _Attempt(source_id=source_id, started=started)
    # An operator's payload was not read from the source: keep the snapshot we have.
    snapshot = record if payload is None else {}
    try:
        if not isinstance(record, dict):
            raise RecordFailure(
                FailureKind.CONTRACT_DRIFT,
                f"The source sent a {type(record).__name__} where a record was expected.",
            )
        if not source_id:
            raise RecordFailure(FailureKind.CONTRACT_DRIFT, "The source record has no 'id'.")
        if payload is None:
            payload = transform_record(ctx.rules, record)
        state.payload = payload
        errors = payload_errors(ctx.schema_fields, payload)
        if errors:
            raise RecordFailure(
                FailureKind.INVALID,
                f"Not a valid {ctx.flow.data_class.label.lower()}. {describe_field_errors(errors)}",
                field_errors=errors,
            )
        outcome = _identify_and_load(ctx, state, payload)
    except RecordFailure as failure:
        _record_failure(ctx.scope, state, failure, source_record=snapshot)
        if failure.stops_run:
            raise TargetUnavailable(failure.reason, record_failed=True) from None
        return Outcome.FAILED
    except Exception as exc:
        logger.exception("Bug while processing %s in %s", source_id, ctx.flow)
        failure = RecordFailure(FailureKind.INTERNAL_ERROR, f"{exc.__class__.__name__}: {exc}")
        _record_failure(ctx.scope, state, failure, source_record=snapshot)
        raise RunAborted(f"Record {source_id}: {failure.reason}", record_failed=True) from exc
    return outcome


def link_record(ctx: FlowContext, source_id: str, target_id: str) -> None:
    """Link a source record to a target record a person says is the same one, as a successful
    attempt with the action ``link``. The link carries no payload hash, so the next attempt
    writes the source's fields to it (ownership rules still apply)."""
    state = _Attempt(
        source_id, time.monotonic(), action=AuditEntry.Action.LINK, target_id=target_id
    )
    _record_success(ctx, state, "", AuditEntry.Outcome.SUCCEEDED)


def fail_record(scope: AuditScope, source_id: str, failure: RecordFailure) -> str:
    """Record a failure met before the pipeline could start, e.g. an unreadable source record."""
    _record_failure(scope, _Attempt(source_id, time.monotonic()), failure, source_record={})
    return Outcome.FAILED


@dataclass
class _Attempt:
    source_id: str
    started: float
    payload: dict[str, Any] | None = None
    action: str = AuditEntry.Action.CREATE
    target_id: str = ""
    attempt: int = 1
    link: RecordLink | None = None


def _identify_and_load(ctx: FlowContext, state: _Attempt, payload: dict[str, Any]) -> str:
    flow = ctx.flow
    link = RecordLink.objects.filter(
        data_class=flow.data_class,
        source_system=flow.source_system,
        source_id=state.source_id,
        target_system=flow.target_system,
    ).first()
    digest = payload_hash(payload)
    state.link = link
    if link is not None:
        state.action, state.target_id = AuditEntry.Action.UPDATE, link.target_id
        if link.payload_hash == digest:
            state.action = AuditEntry.Action.SKIP
            _record_success(ctx, state, digest, AuditEntry.Outcome.SKIPPED)
            return Outcome.SKIPPED
    if flow.stage == Flow.Stage.DRY_RUN:
        _record_success(ctx, state, digest, AuditEntry.Outcome.DRY_RUN)
        return Outcome.DRY_RUN

    if link is not None:
        # Fields the target system owns are never overwritten from here.
        body = {k: v for k, v in payload.items() if k not in ctx.target_owned_fields}
        _load(ctx, state, lambda: ctx.target.update(flow.target_resource, link.target_id, body))
        _record_success(ctx, state, digest, AuditEntry.Outcome.SUCCEEDED)
        return Outcome.UPDATED

    key = hashlib.sha256(f"{flow.pk}:{state.source_id}:{digest}".encode()).hexdigest()
    stored = _load(
        ctx, state, lambda: ctx.target.create(flow.target_resource, payload, idempotency_key=key)
    )
    target_id = stored.get("id") if isinstance(stored, dict) else None
    if not target_id:
        raise RecordFailure(
            FailureKind.TARGET_REJECTED,
            "The target accepted the record but did not say its id.",
            target_response=stored,
        )
    state.target_id = str(target_id)
    _record_success(ctx, state, digest, AuditEntry.Outcome.SUCCEEDED)
    return Outcome.CREATED


def _load(ctx: FlowContext, state: _Attempt, call: Callable[[], Any]) -> Any:
    """Call the target, retrying transient errors up to the flow's attempts with backoff.
    Every failed attempt leaves an audit entry; other connector errors become RecordFailures."""
    max_attempts = max(1, ctx.flow.max_attempts)
    while True:
        try:
            answer = call()
            ctx.unreachable_in_a_row = 0
            return answer
        except TransientError as exc:
            if state.attempt >= max_attempts:
                ctx.unreachable_in_a_row += 1
                raise RecordFailure(
                    FailureKind.RETRIES_EXHAUSTED,
                    f"Gave up after {state.attempt} attempts: {exc.message}",
                    target_response=exc.response_body,
                    stops_run=ctx.unreachable_in_a_row >= UNREACHABLE_RECORDS_BEFORE_STOP,
                ) from exc
            _write_audit(
                ctx.scope,
                state,
                AuditEntry.Outcome.FAILED,
                failure_kind="transient",
                failure_reason=exc.message,
            )
            delay = (
                exc.retry_after if exc.retry_after is not None else 0.5 * 2 ** (state.attempt - 1)
            )
            ctx.sleep(min(delay, MAX_BACKOFF_SECONDS))
            state.attempt += 1
        except AlreadyExistsError as exc:
            existing = f" as {exc.existing_id}" if exc.existing_id else ""
            raise RecordFailure(
                FailureKind.ALREADY_EXISTS,
                f"{ctx.flow.target_system} already has this record{existing}. "
                + describe_field_errors(exc.field_errors),
                field_errors=exc.field_errors,
                target_response=exc.response_body,
                existing_target_id=exc.existing_id or "",
            ) from exc
        except AuthenticationError as exc:
            raise RecordFailure(
                FailureKind.TARGET_REJECTED,
                f"{ctx.flow.target_system} refused our credentials ({exc.message}) Check the "
                f"token in {ctx.flow.target_system.auth_env_var or 'its auth variable'}.",
                target_response=exc.response_body,
                stops_run=True,
            ) from exc
        except NotFoundError as exc:
            raise RecordFailure(
                FailureKind.TARGET_REJECTED,
                f"The linked target record {state.target_id} no longer exists.",
                target_response=exc.response_body,
            ) from exc
        except ConnectorError as exc:
            details = describe_field_errors(exc.field_errors) or exc.message
            status = f" (HTTP {exc.status})" if exc.status else ""
            raise RecordFailure(
                FailureKind.TARGET_REJECTED,
                f"{ctx.flow.target_system} rejected the record{status}. {details}",
                field_errors=exc.field_errors,
                target_response=exc.response_body,
            ) from exc


def _record_success(ctx: FlowContext, state: _Attempt, digest: str, outcome: str) -> None:
    flow = ctx.flow
    with transaction.atomic():
        if outcome == AuditEntry.Outcome.SUCCEEDED and state.link is not None:
            state.link.flow, state.link.payload_hash = flow, digest
            state.link.save(update_fields=["flow", "payload_hash", "updated_at"])
        elif outcome == AuditEntry.Outcome.SUCCEEDED:
            # update_or_create, not create: a retry of this record may have linked it while
            # the target was answering us; both wrote the same target record (idempotency key).
            RecordLink.objects.update_or_create(
                data_class=flow.data_class,
                source_system=flow.source_system,
                source_id=state.source_id,
                target_system=flow.target_system,
                defaults={"flow": flow, "target_id": state.target_id, "payload_hash": digest},
            )
        entry = _write_audit(ctx.scope, state, outcome)
        if outcome in (AuditEntry.Outcome.SUCCEEDED, AuditEntry.Outcome.SKIPPED):
            record_synced.send(
                sender=Flow,
                flow=flow,
                source_id=state.source_id,
                target_id=state.target_id,
                audit_entry=entry,
            )


def _record_failure(
    scope: AuditScope, state: _Attempt, failure: RecordFailure, *, source_record: Record
) -> None:
    with transaction.atomic():
        entry = _write_audit(
            scope,
            state,
            AuditEntry.Outcome.FAILED,
            failure_kind=failure.kind,
            failure_reason=failure.reason,
            field_errors=failure.field_errors,
        )
        record_failed.send(
            sender=Flow,
            flow=scope.flow,
            source_id=state.source_id,
            failure=failure,
            source_record=redact(source_record),
            payload=redact(state.payload) if state.payload is not None else None,
            audit_entry=entry,
        )


def _write_audit(
    scope: AuditScope,
    state: _Attempt,
    outcome: str,
    *,
    failure_kind: str = "",
    failure_reason: str = "",
    field_errors: dict | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(
        flow=scope.flow,
        run=scope.run,
        source_id=state.source_id,
        target_id=state.target_id,
        action=state.action,
        payload_version=scope.version,
        payload=redact(state.payload or {}),
        outcome=outcome,
        failure_kind=failure_kind,
        failure_reason=failure_reason,
        field_errors=field_errors or {},
        attempt=state.attempt,
        actor=scope.actor,
        duration_ms=int((time.monotonic() - state.started) * 1000),
    )
