"""Work on one source record outside a run: retry it, keep an operator's corrections, link it
to an existing target record, find a create whose answer was lost. Every service holds the
record's lock, so none of them ever writes a record that a run or another person is writing."""

from typing import Any

from django.db.models import F
from django.utils import timezone

from connectors.errors import ConnectorError, NotFoundError
from integration_console.catalog.transforms import TransformError, apply_chain

from ..failures import FailureKind, RecordFailure
from ..locks import record_lock
from ..mapping import get_path
from ..models import AuditEntry, Correction, DistinctPair, Flow
from ..pipeline import (
    AuditScope,
    FlowContext,
    NoActiveVersion,
    Result,
    RunAborted,
    fail_record,
    find_lost_create,
    link_record,
    process_record,
)
from ..signals import record_held_back
from .runs import flow_context


class LinkRefused(Exception):
    """The target record to link to cannot be used; the message is for the operator."""


def stage_refusal(flow: Flow) -> str:
    """Why the flow's stage allows no write to its target, or "" when it allows them."""
    if flow.writes_to_target:
        return ""
    return (
        f"{flow} is in the {flow.get_stage_display().lower()} stage: nothing is written to "
        f"{flow.target_system}. Move it to limited or live first."
    )


def record_retry(
    *, flow: Flow, source_id: str, actor: str, corrections: dict[str, Any] | None = None
) -> Result | None:
    """Re-process one source record, read afresh from the source, with an operator's
    ``corrections`` (target field -> value) kept first, so that they hold on later runs too.

    Every ending is announced through the sync signals, including a retry that cannot start
    (no active field map version, a stage that writes nothing) or that hits a bug, so a
    waiting review item never stays in ``retrying``."""
    refusal = stage_refusal(flow)
    if refusal:
        record_held_back.send(sender=Flow, flow=flow, source_id=source_id, reason=refusal)
        return None
    try:
        with flow_context(flow, actor=actor) as ctx, record_lock(flow.pk, source_id):
            try:
                record = ctx.source.get(flow.source_resource, source_id)
            except ConnectorError as exc:
                failure = RecordFailure(
                    FailureKind.SOURCE_UNAVAILABLE,
                    f"Could not read {source_id} from {flow.source_system}: {exc.message}",
                    target_response=exc.response_body,
                )
                return fail_record(ctx.scope, source_id, failure)
            if corrections and isinstance(record, dict):
                corrections_keep(
                    ctx=ctx, source_id=source_id, record=record, values=corrections, actor=actor
                )
                ctx.has_corrections = True
            return process_record(ctx, record)
    except NoActiveVersion as exc:
        failure = RecordFailure(FailureKind.MAPPING_ERROR, str(exc))
        return fail_record(AuditScope(flow=flow, actor=actor), source_id, failure)
    except RunAborted:
        # The pipeline recorded the bug on the record before raising; a retry is one record,
        # so there is no run to stop.
        return Result(AuditEntry.Action.CREATE, AuditEntry.Outcome.FAILED)


def corrections_keep(
    *, ctx: FlowContext, source_id: str, record: dict[str, Any], values: dict[str, Any], actor: str
) -> list[Correction]:
    """Keep an operator's values for target fields of one record, each tied to the source
    value it corrects; a value the field map already produces from the source needs no
    correction, and any older correction of that field is retired. The caller holds the
    record's lock."""
    kept = []
    now = timezone.now()
    for name, value in values.items():
        rule = ctx.rules_by_target.get(name)
        if rule is None:
            continue
        raw = get_path(record, rule.source_path)
        Correction.objects.filter(
            flow=ctx.flow, source_id=source_id, target_field=name, retired_at=None
        ).update(retired_at=now, retired_reason=f"Replaced by {actor}'s correction.")
        try:
            produced = apply_chain(rule.transform, raw, record=record)
        except TransformError:
            produced = _UNPRODUCIBLE
        if produced == value:
            continue
        kept.append(
            Correction.objects.create(
                flow=ctx.flow,
                source_id=source_id,
                target_field=name,
                source_path=rule.source_path,
                source_value=raw,
                value=value,
                made_by=actor,
            )
        )
    return kept


_UNPRODUCIBLE = object()


def record_link_to_target(*, flow: Flow, source_id: str, target_id: str, actor: str) -> None:
    """Link a source record to an existing target record, after checking with the target
    system that the record exists. Idempotent: linking again to the same record re-links it.
    Announced through ``record_synced`` like any successful attempt. Refused while the flow's
    stage writes nothing."""
    refusal = stage_refusal(flow)
    if refusal:
        raise LinkRefused(refusal)
    with flow_context(flow, actor=actor) as ctx, record_lock(flow.pk, source_id):
        try:
            ctx.target.get(flow.target_resource, target_id)
        except NotFoundError:
            raise LinkRefused(f"{flow.target_system} has no record {target_id}.") from None
        except ConnectorError as exc:
            raise LinkRefused(f"Could not check {target_id}: {exc.message}") from exc
        link_record(ctx, source_id, target_id)


def record_distinct_from(
    *, flow: Flow, source_id: str, target_ids: list[str], reason: str, actor: str
) -> None:
    """Remember that a source record is none of these target records: matching never offers
    these pairs again, so the record's next attempt creates it (or finds another match).
    Idempotent: a pair said twice is kept once, with its first reason."""
    DistinctPair.objects.bulk_create(
        [
            DistinctPair(
                flow=flow, source_id=source_id, target_id=target_id, reason=reason, decided_by=actor
            )
            for target_id in target_ids
        ],
        ignore_conflicts=True,
    )


def record_link_lost_create(*, flow: Flow, source_id: str, actor: str) -> str | None:
    """If an earlier create of this record landed in the target although its answer was lost,
    link the record to it and return its target id; else None. Asked before an operator
    dismisses such a record, so that nothing in the target is left unlinked."""
    if stage_refusal(flow):
        return None
    with flow_context(flow, actor=actor) as ctx, record_lock(flow.pk, source_id):
        try:
            found = find_lost_create(ctx, source_id)
        except ConnectorError:
            return None
        if found is not None:
            link_record(ctx, source_id, found)
        return found


def record_corrections(*, flow: Flow, source_id: str, limit: int | None = None) -> list[Correction]:
    """The corrections kept for one record, live ones first, newest first (at most
    ``limit``)."""
    corrections = Correction.objects.filter(flow=flow, source_id=source_id).order_by(
        F("retired_at").desc(nulls_first=True), "-made_at"
    )
    return list(corrections[:limit] if limit is not None else corrections)
