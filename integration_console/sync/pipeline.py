"""The path of one record: transform, validate, merge by ownership, identify, load, record.

A record either ends in a record link plus a successful audit entry, or in a failed audit entry
announced through ``record_failed``; nothing is dropped. All work on one record holds that
record's lock (locks.py), so a run, a retry and a link never write one record at once. Only a
bug escapes, as RunAborted, after the record has been recorded as an internal error.
"""

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from connectors.base import Connector, Record
from connectors.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConnectorError,
    NotFoundError,
    TransientError,
)
from integration_console.catalog.models import FieldMapVersion, FieldRule, OwnershipRule
from integration_console.catalog.schema import is_blank, payload_errors
from integration_console.matching.scoring import ALIKE
from integration_console.storable import (
    MAX_ID,
    storable,
    storable_id,
    storable_text,
    unsendable_values,
)

from .contracts import active_contract_fields, check_contract
from .failures import FailureKind, RecordFailure, describe_field_errors
from .identify import Matching, linked_elsewhere, match_records, matching_for, remember_written
from .locks import record_lock
from .mapping import KeptCorrection, Transformed, target_field, transform_record
from .models import AuditEntry, Correction, Flow, RecordLink, SyncRun
from .redaction import MASK, mask_payload, sensitive_fields, sensitive_source_paths
from .signals import record_failed, record_synced

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 10.0
# A target's Retry-After is honoured up to this long; the wait is cut into slices with a
# heartbeat between them, so a long wait never makes the run look abandoned.
MAX_RETRY_AFTER_SECONDS = 300.0
WAIT_SLICE_SECONDS = 5.0
# After this many records in a row whose retries ran out, the target is taken to be down.
UNREACHABLE_RECORDS_BEFORE_STOP = 3
# Earlier create attempts whose answer never came back, looked up before creating again.
# (The partial index audit_uncertain_creates on AuditEntry names the same kinds.)
UNCERTAIN_CREATE_KINDS = ("transient", FailureKind.RETRIES_EXHAUSTED)

Action = AuditEntry.Action
Outcome = AuditEntry.Outcome


class RunAborted(Exception):
    """The run cannot go on: a bug or a target that cannot take records (the record that hit
    it is already recorded), or nothing to transform with."""

    def __init__(self, message: str, *, record_failed: bool = False) -> None:
        super().__init__(message)
        # True when a record met the cause, is recorded as a failure, and is still to be
        # counted on the run.
        self.record_failed = record_failed


class TargetUnavailable(RunAborted):
    """The target refuses our credentials, or has stopped answering: every further record would
    fail the same way, so the run stops instead of filling the queue with them."""


class NoActiveVersion(RunAborted):
    """The flow's field map has no approved version to transform with."""


class RecordInterrupted(Exception):
    """Work on a record was stopped from outside (its run was taken over by another worker):
    nothing more is recorded for it here; the new owner processes it again."""


class StageForbidsWrite(Exception):
    """Something tried to write to the target of a flow whose stage writes nothing."""


@dataclass(frozen=True)
class Result:
    """How one attempt on one record ended: its audit entry's action and outcome."""

    action: str
    outcome: str


@dataclass(frozen=True)
class AuditScope:
    """What every audit entry of an attempt records besides the record: flow, actor, run and
    field-map version."""

    flow: Flow
    actor: str
    version: FieldMapVersion | None = None
    run: SyncRun | None = None
    sensitive: frozenset[str] = frozenset()
    sensitive_source: frozenset[str] = frozenset()


def uncertain_creates(flow: Flow, source_ids: list[str]) -> QuerySet[AuditEntry]:
    """The failed creates of these records whose answer never came back: they may have landed."""
    return AuditEntry.objects.filter(
        flow=flow,
        source_id__in=source_ids,
        action=Action.CREATE,
        outcome=Outcome.FAILED,
        failure_kind__in=UNCERTAIN_CREATE_KINDS,
    ).exclude(idempotency_key="")


@dataclass
class Attempt:
    source_id: str
    started: float
    payload: dict[str, Any] | None = None
    action: str = Action.CREATE
    target_id: str = ""
    attempt: int = 1
    link: RecordLink | None = None
    idempotency_key: str = ""
    sent: dict[str, Any] | None = None
    withheld: dict[str, str] = field(default_factory=dict)
    corrected: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Set while the attempt runs outside the database (a page's write in a worker thread):
    # its audit entries are collected here and written with the page's bookkeeping.
    deferred: list[AuditEntry] | None = None
    # The candidate matching linked the record to, with its score (Candidate.to_json).
    match: dict[str, Any] | None = None


class StagedTarget:
    """The target connector as a flow's stage allows it: reads always, writes only when the
    stage writes. The one stage check every path to the target goes through."""

    WRITES = ("create", "create_many", "update")

    def __init__(self, connector: Connector, flow: Flow) -> None:
        self._connector, self._flow = connector, flow

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._connector, name)
        if name in self.WRITES and not self._flow.writes_to_target:
            raise StageForbidsWrite(
                f"{self._flow} is in the {self._flow.get_stage_display().lower()} stage: "
                f"nothing is written to {self._flow.target_system}."
            )
        return attribute


@dataclass
class FlowContext:
    """What processing a flow's records needs, loaded once per run chunk (or per retry)."""

    scope: AuditScope
    rules: list[FieldRule]
    schema_fields: list[dict]
    field_owners: dict[str, int]
    class_owner: int | None
    source: Connector
    target: Connector
    has_corrections: bool = False
    sleep: Callable[[float], None] = time.sleep
    # Called while one record waits between attempts, so that a slow target does not make a
    # live run look abandoned; a run's chunk sets it to its heartbeat.
    heartbeat: Callable[[], None] = lambda: None
    unreachable_in_a_row: int = 0
    rules_by_target: dict[str, FieldRule] = field(default_factory=dict)
    # Target fields that only rules marked "sent on create only" fill: never in an update.
    create_only: frozenset[str] = frozenset()
    # The active contract of the flow's source resource, checked before anything else.
    contract_fields: dict | None = None
    # How many writes to the target a page sends at once (the target system's bound).
    write_concurrency: int = 1
    # Where an unlinked record is looked for before it is created; None: no matching.
    matching: Matching | None = None

    @property
    def flow(self) -> Flow:
        return self.scope.flow

    def owner_of(self, field_name: str) -> int | None:
        return self.field_owners.get(field_name, self.class_owner)


def load_context(
    flow: Flow,
    *,
    source: Connector,
    target: Connector,
    actor: str,
    run: SyncRun | None = None,
    version: FieldMapVersion | None = None,
) -> FlowContext:
    version = version or flow.field_map.active_version
    if version is None:
        raise NoActiveVersion(f"The field map {flow.field_map} has no active version.")
    rules = list(version.rules.all())
    ownership = OwnershipRule.objects.filter(data_class=flow.data_class)
    field_owners = {rule.field: rule.owner_id for rule in ownership if rule.field}
    class_owner = next((rule.owner_id for rule in ownership if not rule.field), None)
    sensitive = sensitive_fields(flow.data_class.fields)
    # Loaded here, once: a page's write threads read them and must not query for them.
    target_system, _ = flow.target_system, flow.source_system
    return FlowContext(
        scope=AuditScope(
            flow=flow,
            actor=actor,
            version=version,
            run=run,
            sensitive=frozenset(sensitive),
            sensitive_source=frozenset(sensitive | sensitive_source_paths(rules, sensitive)),
        ),
        rules=rules,
        rules_by_target={rule.target_path: rule for rule in rules},
        create_only=frozenset(
            {target_field(r.target_path) for r in rules if r.create_only}
            - {target_field(r.target_path) for r in rules if not r.create_only}
        ),
        schema_fields=flow.data_class.fields,
        field_owners=field_owners,
        class_owner=class_owner,
        source=source,
        target=StagedTarget(target, flow),
        has_corrections=Correction.objects.filter(flow=flow, retired_at=None).exists(),
        contract_fields=active_contract_fields(
            system_id=flow.source_system_id, resource=flow.source_resource
        ),
        write_concurrency=target_system.max_concurrent_writes,
        matching=matching_for(flow),
    )


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, default=str).encode("utf-8")
    ).hexdigest()


def source_id_of(record: Any) -> tuple[str, RecordFailure | None]:
    """The id a source record is known by, and the contract drift that keeps it from the
    pipeline, if any. Whatever the source sent, the id fits the id columns."""
    if not isinstance(record, dict):
        return "(not a record)", RecordFailure(
            FailureKind.CONTRACT_DRIFT,
            f"The source sent a {type(record).__name__} where a record was expected.",
        )
    raw = record.get("id")
    if raw is None or raw == "":
        digest = hashlib.sha256(repr(sorted(map(repr, record.items()))).encode()).hexdigest()
        return f"(no id) #{digest[:12]}", RecordFailure(
            FailureKind.CONTRACT_DRIFT, "The source record has no 'id'."
        )
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        return storable_id(repr(raw)), RecordFailure(
            FailureKind.CONTRACT_DRIFT,
            f"The source record's id is a {type(raw).__name__}, not a string or an integer.",
        )
    text = str(raw)
    problems = unsendable_values({"id": text})
    if problems:
        return storable_id(text), RecordFailure(
            FailureKind.CONTRACT_DRIFT,
            f"The source record's id cannot be used: {problems['id'][0]}",
        )
    if len(text) > MAX_ID:
        return storable_id(text), RecordFailure(
            FailureKind.CONTRACT_DRIFT,
            f"The source record's id is {len(text):,} characters long; at most {MAX_ID} are kept.",
        )
    return text, None


def process_record(ctx: FlowContext, record: Record) -> Result:
    """Take one source record through the whole path, holding its lock, and say how it ended.

    Idempotent: an unchanged payload for a linked record is skipped, creates carry an
    idempotency key derived from the payload, and a create whose answer was lost is found in
    the target before creating again."""
    source_id, drift = source_id_of(record)
    with record_lock(ctx.flow.pk, source_id):
        return _process_locked(ctx, record, source_id, drift)


def _process_locked(
    ctx: FlowContext, record: Record, source_id: str, drift: RecordFailure | None
) -> Result:
    state = Attempt(source_id=source_id, started=time.monotonic())
    with recording_failures(ctx, state, record) as outcome:
        if drift is not None:
            raise drift
        link = RecordLink.objects.for_record(ctx.flow, source_id).first()
        payload = prepare(ctx, state, record, link=link, corrections=None)
        outcome.result = _identify_and_load(ctx, state, record, payload)
    return outcome.result


@dataclass
class _Outcome:
    result: Result | None = None


@contextmanager
def recording_failures(ctx: FlowContext, state: Attempt, record: Any) -> Iterator[_Outcome]:
    """Run one record's work; a RecordFailure it raises is recorded (and stops the run when the
    target is gone), and a bug is recorded as an internal error before the run is aborted.
    The outcome's result is a failed Result unless the block set another."""
    outcome = _Outcome()
    snapshot = record if isinstance(record, dict) else {"value": record}
    try:
        yield outcome
    except RecordFailure as failure:
        record_failure(ctx.scope, state, failure, source_record=snapshot)
        outcome.result = Result(state.action, Outcome.FAILED)
        if failure.stops_run:
            raise TargetUnavailable(failure.reason, record_failed=True) from None
    except RecordInterrupted:
        raise
    except Exception as exc:
        logger.exception("Bug while processing %s in %s", state.source_id, ctx.flow)
        failure = RecordFailure(FailureKind.INTERNAL_ERROR, f"{exc.__class__.__name__}: {exc}")
        record_failure(ctx.scope, state, failure, source_record=snapshot)
        raise RunAborted(f"Record {state.source_id}: {failure.reason}", record_failed=True) from exc


def prepare(
    ctx: FlowContext,
    state: Attempt,
    record: Record,
    *,
    link: RecordLink | None,
    corrections: dict[str, KeptCorrection] | None,
) -> dict[str, Any]:
    """Check the record against the source's contract, transform it (with its kept
    corrections: looked up unless given) and validate what would be sent; the payload, or a
    RecordFailure. Writes nothing to the target."""
    if ctx.contract_fields:
        check_contract(
            ctx.contract_fields,
            record,
            source=f"{ctx.flow.source_system}'s {ctx.flow.source_resource}",
            sensitive=ctx.scope.sensitive_source,
        )
    state.link = link
    if link is not None:
        state.action, state.target_id = Action.UPDATE, link.target_id
    transformed = _transform(ctx, state, record, corrections)
    payload = transformed.payload
    state.payload, state.corrected = payload, transformed.corrected
    errors = unsendable_values(payload)
    for name, messages in payload_errors(ctx.schema_fields, payload).items():
        errors.setdefault(name, messages)
    if errors:
        raise RecordFailure(
            FailureKind.INVALID,
            f"Not a valid {ctx.flow.data_class.label.lower()}. {describe_field_errors(errors)}",
            field_errors=errors,
        )
    return payload


def link_record(ctx: FlowContext, source_id: str, target_id: str) -> None:
    """Link a source record to a target record a person says is the same one, as a successful
    attempt with the action ``link``. The link carries no payload hash, so the next attempt
    writes the source's fields to it (ownership rules still apply). The caller holds the
    record's lock."""
    state = Attempt(source_id, time.monotonic(), action=Action.LINK, target_id=target_id)
    state.link = RecordLink.objects.for_record(ctx.flow, source_id).first()
    _record_success(ctx, state, "", Outcome.SUCCEEDED)


def fail_record(scope: AuditScope, source_id: str, failure: RecordFailure) -> Result:
    """Record a failure met before the pipeline could start, e.g. an unreadable source record."""
    state = Attempt(source_id, time.monotonic())
    record_failure(scope, state, failure, source_record={})
    return Result(state.action, Outcome.FAILED)


def find_lost_create(ctx: FlowContext, source_id: str) -> str | None:
    """The target id of a record an earlier create of ``source_id`` made although its answer
    never came back (a timeout, a dropped connection, retries spent), or None. Looked up by
    the idempotency keys those attempts sent; a target that keeps no keys is not asked, and
    its creates cost no look-up in the audit trail."""
    if not ctx.target.capabilities.idempotency_keys:
        return None
    keys = uncertain_creates(ctx.flow, [source_id]).values_list("idempotency_key", flat=True)
    for key in keys.distinct():
        found = ctx.target.find_created(ctx.flow.target_resource, key)
        if isinstance(found, dict) and found.get("id") not in (None, ""):
            return str(found["id"])
    return None


def kept_corrections(flow: Flow, source_ids: list[str]) -> dict[str, dict[str, KeptCorrection]]:
    """The live corrections of these records, by source id then target field: one query."""
    found: dict[str, dict[str, KeptCorrection]] = {}
    live = Correction.objects.filter(flow=flow, source_id__in=source_ids, retired_at=None)
    for c in live:
        kept = KeptCorrection(c.target_field, c.source_value, c.value)
        found.setdefault(c.source_id, {})[c.target_field] = kept
    return found


def _transform(
    ctx: FlowContext,
    state: Attempt,
    record: Record,
    corrections: dict[str, KeptCorrection] | None = None,
) -> Transformed:
    if corrections is None:
        corrections = {}
        if ctx.has_corrections:
            corrections = kept_corrections(ctx.flow, [state.source_id]).get(state.source_id, {})
    transformed = transform_record(ctx.rules, record, corrections)
    if transformed.outdated:
        # The source's own value changed since the fix: from now on the source is right.
        for name, new_value in transformed.outdated.items():
            Correction.objects.filter(
                flow=ctx.flow, source_id=state.source_id, target_field=name, retired_at=None
            ).update(
                retired_at=timezone.now(),
                retired_reason=storable_text(
                    f"{ctx.flow.source_system} now sends {new_value!r}.", 300
                ),
            )
    return transformed


def _identify_and_load(
    ctx: FlowContext, state: Attempt, record: Record, payload: dict[str, Any]
) -> Result:
    flow = ctx.flow
    digest = payload_hash(payload)
    if state.link is not None and state.link.payload_hash == digest:
        state.action = Action.SKIP
        _record_success(ctx, state, digest, Outcome.SKIPPED)
        return Result(state.action, Outcome.SKIPPED)
    if state.link is None and ctx.matching is not None:
        match = identify(ctx, state, payload)
        if match is not None and flow.writes_to_target:
            _link_then_update(ctx, state, match["target_id"], match=match)
        elif match is not None:
            state.action, state.target_id, state.match = Action.LINK, match["target_id"], match
    if not flow.writes_to_target:
        # The whole path but the write: what would be sent, and what would be withheld.
        state.sent = payload
        if state.link is not None:
            state.sent = merge_by_ownership(ctx, state, record, payload)
        _record_success(ctx, state, digest, Outcome.DRY_RUN)
        return Result(state.action, Outcome.DRY_RUN)

    if state.link is None:
        found = find_lost_create(ctx, state.source_id)
        if found is not None:
            # An earlier create did land: link to it, then bring it up to date.
            _link_then_update(ctx, state, found)

    if state.link is not None:
        body = merge_by_ownership(ctx, state, record, payload)
        state.sent = body
        if body:
            load(ctx, state, lambda: ctx.target.update(flow.target_resource, state.target_id, body))
        _record_success(ctx, state, digest, Outcome.SUCCEEDED)
        return Result(state.action, Outcome.SUCCEEDED)

    state.idempotency_key = idempotency_key_for(flow, state.source_id, digest)
    state.sent = payload
    stored = load(
        ctx,
        state,
        lambda: ctx.target.create(
            flow.target_resource, payload, idempotency_key=state.idempotency_key
        ),
    )
    state.target_id = target_id_of(ctx, stored)
    _record_success(ctx, state, digest, Outcome.SUCCEEDED)
    return Result(state.action, Outcome.SUCCEEDED)


def _link_then_update(
    ctx: FlowContext, state: Attempt, target_id: str, *, match: dict[str, Any] | None = None
) -> None:
    """Link the record to a target record found to hold it already (a lost create, or the
    candidate matching is sure of), as a successful ``link`` attempt; the attempt goes on as
    an update of it."""
    linked = Attempt(
        state.source_id, time.monotonic(), action=Action.LINK, target_id=target_id, match=match
    )
    _record_success(ctx, linked, "", Outcome.SUCCEEDED)
    state.link = RecordLink.objects.for_record(ctx.flow, state.source_id).get()
    state.action, state.target_id = Action.UPDATE, target_id


def identify(ctx: FlowContext, state: Attempt, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Look for an unlinked record in the target before it is created: the one candidate it
    surely is (its JSON, to link to), None when it is new, or a possible duplicate."""
    matching = ctx.matching
    ask = None
    email = matching.spec.field_of("email")
    if matching.spec.ask_target and email and ctx.target.capabilities.search_by_keys:

        def ask(record: dict[str, Any]) -> list[dict[str, Any]]:
            if is_blank(record.get(email)):
                return []
            resource = ctx.flow.target_resource
            found = load(ctx, state, lambda: ctx.target.find(resource, {email: record[email]}))
            return found if isinstance(found, list) else []

    decisions = match_records(matching, ctx.flow, {state.source_id: payload}, ask=ask)
    decision = decisions[state.source_id]
    if decision.verdict == "new":
        return None
    target = f"{ctx.flow.target_system}'s {ctx.flow.target_resource}"
    taken = linked_elsewhere(ctx.flow, [c.target_id for c in decision.candidates])
    shown = [_candidate_json(ctx, c, taken.get(c.target_id, "")) for c in decision.candidates]
    best = shown[0]
    if decision.verdict == "auto_link" and not best["linked_from"]:
        return best
    if len(shown) == 1:
        evidence = _evidence(ctx, best)
        reason = f"Looks like {best['target_id']} of {target} ({_percent(best)}): {evidence}."
    else:
        ranked = ", ".join(f"{c['target_id']} ({_percent(c)})" for c in shown)
        reason = f"Looks like one of {len(shown)} records of {target}: {ranked}."
    if best["linked_from"]:
        reason += (
            f" {ctx.flow.source_system} record {best['linked_from']} is already linked to "
            f"{best['target_id']}."
        )
    raise RecordFailure(FailureKind.POSSIBLE_DUPLICATE, reason, candidates=shown)


def _candidate_json(ctx: FlowContext, candidate: Any, linked_from: str) -> dict[str, Any]:
    sensitive = ctx.scope.sensitive
    score = candidate.score.to_json()
    for compared in score.get("fields", []):
        if compared.get("field") in sensitive:
            compared["left"] = MASK if compared.get("left") not in (None, "") else None
            compared["right"] = MASK if compared.get("right") not in (None, "") else None
    return {
        "target_id": candidate.target_id,
        "values": mask_payload(candidate.values, sensitive),
        "score": score,
        "linked_from": linked_from,
    }


def _percent(candidate: dict[str, Any]) -> str:
    return f"{round(100 * candidate['score']['total'])}%"


def _evidence(ctx: FlowContext, candidate: dict[str, Any]) -> str:
    """The fields that made the match, strongest first: how a score explains itself."""
    labels = ctx.flow.data_class.field_labels
    counted = [f for f in candidate["score"]["fields"] if f.get("score") is not None]
    counted.sort(key=lambda f: (-f["score"] * f["weight"], f["field"]))
    parts = [
        f"{labels.get(f['field'], f['field']).lower()} "
        f"{'alike' if f['score'] >= ALIKE else str(round(100 * f['score'])) + '%'}"
        for f in counted[:4]
    ]
    if candidate["score"].get("names_swapped"):
        parts.append("given and family names swapped")
    return ", ".join(parts) or "no field to compare"


def idempotency_key_for(flow: Flow, source_id: str, digest: str) -> str:
    """The key a create of this payload of this record carries: the same payload sent twice
    creates one record in a target that honours keys."""
    return hashlib.sha256(f"{flow.pk}:{source_id}:{digest}".encode()).hexdigest()


def target_id_of(ctx: FlowContext, stored: Any) -> str:
    target_id = stored.get("id") if isinstance(stored, dict) else None
    if target_id in (None, "") or isinstance(target_id, bool | dict | list | float):
        raise RecordFailure(
            FailureKind.TARGET_REJECTED,
            f"{ctx.flow.target_system} accepted the record but did not say its id.",
            target_response=stored,
        )
    text = str(target_id)
    if len(text) > MAX_ID or unsendable_values({"id": text}):
        raise RecordFailure(
            FailureKind.TARGET_REJECTED,
            f"{ctx.flow.target_system} accepted the record under an id that cannot be kept "
            f"({storable_text(text, 80)!r}); link it by hand once the target's id is usable.",
            target_response=stored,
        )
    return text


def merge_by_ownership(
    ctx: FlowContext, state: Attempt, record: Record, payload: dict[str, Any]
) -> dict[str, Any]:
    """What an update sends: fields the target system owns (per field, else for the whole
    data class) are withheld; for the rest the field's conflict rule decides: source wins,
    owner wins, newest wins by the systems' ``updated_at``, or ask a person (a ``conflict``
    item showing both values). A value an operator corrected is a person's decision."""
    flow = ctx.flow
    target, source = flow.target_system, flow.source_system
    body: dict[str, Any] = {}
    conflicts: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for name, value in payload.items():
        if name in ctx.create_only:
            state.withheld[name] = "Sent on create only."
            continue
        owner = ctx.owner_of(name)
        if owner == target.pk:
            state.withheld[name] = f"{target} owns {flow.data_class.name}.{name}."
            continue
        rule = ctx.rules_by_target.get(name)
        conflict_rule = rule.conflict_rule if rule else FieldRule.ConflictRule.SOURCE_WINS
        # Source wins; owner wins once the target's ownership is out of the way (the source
        # owns it, or nobody does); and a value an operator corrected is a person's decision.
        if name in state.corrected or conflict_rule not in (
            FieldRule.ConflictRule.NEWEST_WINS,
            FieldRule.ConflictRule.ASK,
        ):
            body[name] = value
            continue
        if current is None:
            current = load(
                ctx, state, lambda: ctx.target.get(flow.target_resource, state.target_id)
            )
            current = current if isinstance(current, dict) else {}
        theirs = current.get(name)
        if is_blank(theirs) or theirs == value:
            body[name] = value
        elif conflict_rule == FieldRule.ConflictRule.NEWEST_WINS:
            if _is_newer(current.get("updated_at"), record.get("updated_at")):
                state.withheld[name] = (
                    f"{target}'s value is newer ({current.get('updated_at')} after "
                    f"{record.get('updated_at')}): newest wins."
                )
            else:
                body[name] = value
        else:
            conflicts[name] = {"source": value, "target": theirs}
    if conflicts:
        disagreements = {
            name: [f"{source} says {pair['source']!r}; {target} has {pair['target']!r}."]
            for name, pair in conflicts.items()
        }
        raise RecordFailure(
            FailureKind.CONFLICT,
            f"{source} and {target} disagree, and the field map asks a person to decide. "
            + describe_field_errors(disagreements),
            field_errors=disagreements,
            target_response={"conflicts": conflicts},
        )
    return body


def _is_newer(theirs: Any, ours: Any) -> bool:
    """Whether the target's timestamp is later than the source's; unknown is not newer."""
    their_moment, our_moment = _moment(theirs), _moment(ours)
    if their_moment is None or our_moment is None:
        return False
    return their_moment > our_moment


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = parse_datetime(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.UTC)
    return moment


def load(ctx: FlowContext, state: Attempt, call: Callable[[], Any]) -> Any:
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
                Outcome.FAILED,
                failure_kind="transient",
                failure_reason=exc.message,
            )
            if exc.retry_after is not None:
                delay = min(exc.retry_after, MAX_RETRY_AFTER_SECONDS)
            else:
                delay = min(0.5 * 2 ** (state.attempt - 1), MAX_BACKOFF_SECONDS)
            _wait(ctx, delay)
            state.attempt += 1
        except ConnectorError as exc:
            raise refusal_of(ctx, state, exc) from exc


def refusal_of(ctx: FlowContext, state: Attempt, exc: ConnectorError) -> RecordFailure:
    """The failure a target's refusal of one record is recorded as."""
    target = ctx.flow.target_system
    if isinstance(exc, AlreadyExistsError):
        existing = f" as {exc.existing_id}" if exc.existing_id else ""
        return RecordFailure(
            FailureKind.ALREADY_EXISTS,
            f"{target} already has this record{existing}. "
            + describe_field_errors(exc.field_errors),
            field_errors=exc.field_errors,
            target_response=exc.response_body,
            existing_target_id=exc.existing_id or "",
        )
    if isinstance(exc, AuthenticationError):
        return RecordFailure(
            FailureKind.TARGET_REJECTED,
            f"{target} refused our credentials ({exc.message}) Check the "
            f"token in {target.auth_env_var or 'its auth variable'}.",
            target_response=exc.response_body,
            stops_run=True,
        )
    if isinstance(exc, NotFoundError):
        return RecordFailure(
            FailureKind.TARGET_REJECTED,
            f"The linked target record {state.target_id} no longer exists.",
            target_response=exc.response_body,
        )
    details = describe_field_errors(exc.field_errors) or exc.message
    status = f" (HTTP {exc.status})" if exc.status else ""
    return RecordFailure(
        FailureKind.TARGET_REJECTED,
        f"{target} rejected the record{status}. {details}",
        field_errors=exc.field_errors,
        target_response=exc.response_body,
    )


def _wait(ctx: FlowContext, seconds: float) -> None:
    while True:
        ctx.heartbeat()
        if seconds <= 0:
            return
        ctx.sleep(min(seconds, WAIT_SLICE_SECONDS))
        seconds -= WAIT_SLICE_SECONDS


def _record_success(ctx: FlowContext, state: Attempt, digest: str, outcome: str) -> None:
    flow = ctx.flow
    with transaction.atomic():
        if outcome == Outcome.SUCCEEDED and state.link is not None:
            state.link.flow, state.link.payload_hash = flow, digest
            state.link.target_id = state.target_id
            state.link.save(update_fields=["flow", "target_id", "payload_hash", "updated_at"])
        elif outcome == Outcome.SUCCEEDED:
            state.link = RecordLink.objects.create(
                flow=flow,
                **RecordLink.natural_key_of(flow, state.source_id),
                target_id=state.target_id,
                payload_hash=digest,
            )
        entry = _write_audit(ctx.scope, state, outcome)
        if (
            ctx.matching is not None
            and outcome == Outcome.SUCCEEDED
            and state.action in (Action.CREATE, Action.UPDATE)
            and state.payload is not None
        ):
            remember_written(ctx.matching, [(state.target_id, state.payload)])
        if outcome in (Outcome.SUCCEEDED, Outcome.SKIPPED):
            record_synced.send(
                sender=Flow,
                flow=flow,
                source_id=state.source_id,
                target_id=state.target_id,
                audit_entry=entry,
            )


def record_failure(
    scope: AuditScope, state: Attempt, failure: RecordFailure, *, source_record: Any
) -> None:
    """Write the failed attempt and announce it. Cannot fail on what the source sent: every
    value is made storable first, and if the database still refuses, a bare failure that
    names the record and the kind is written instead."""
    try:
        with transaction.atomic():
            _announce_failure(scope, state, failure, source_record)
    except DatabaseError as exc:
        logger.exception("Could not record the failure of %s in full", state.source_id)
        bare = RecordFailure(
            failure.kind,
            f"{storable_text(failure.reason, 500)} (Recorded without its details: the "
            f"database refused them: {exc.__class__.__name__}.)",
        )
        state.payload, state.sent, state.withheld, state.corrected = None, None, {}, {}
        with transaction.atomic():
            _announce_failure(scope, state, bare, {})


def _announce_failure(
    scope: AuditScope, state: Attempt, failure: RecordFailure, source_record: Any
) -> None:
    clean = RecordFailure(
        failure.kind,
        storable_text(failure.reason),
        field_errors=storable(failure.field_errors),
        target_response=storable(failure.target_response),
        existing_target_id=storable_id(failure.existing_target_id),
        candidates=storable(failure.candidates),
        stops_run=failure.stops_run,
    )
    entry = _write_audit(
        scope,
        state,
        Outcome.FAILED,
        failure_kind=clean.kind,
        failure_reason=clean.reason,
        field_errors=clean.field_errors,
    )
    snapshot = source_record if isinstance(source_record, dict) else {}
    payload = state.payload
    record_failed.send(
        sender=Flow,
        flow=scope.flow,
        source_id=state.source_id,
        failure=clean,
        source_record=storable(mask_payload(snapshot, scope.sensitive_source)),
        payload=storable(mask_payload(payload, scope.sensitive)) if payload is not None else None,
        audit_entry=entry,
    )


def _write_audit(scope: AuditScope, state: Attempt, outcome: str, **failure: Any) -> AuditEntry:
    entry = audit_entry(scope, state, outcome, **failure)
    if state.deferred is not None:
        state.deferred.append(entry)
    else:
        entry.save(force_insert=True)
    return entry


def audit_entry(
    scope: AuditScope,
    state: Attempt,
    outcome: str,
    *,
    failure_kind: str = "",
    failure_reason: str = "",
    field_errors: dict | None = None,
) -> AuditEntry:
    """The audit entry of an attempt as it stands, not yet saved."""
    shown = state.sent if state.sent is not None else state.payload
    return AuditEntry(
        flow=scope.flow,
        run=scope.run,
        source_id=state.source_id,
        target_id=state.target_id,
        action=state.action,
        payload_version=scope.version,
        payload=storable(mask_payload(shown or {}, scope.sensitive)),
        withheld=storable(state.withheld),
        corrected=storable(
            {
                name: {k: (MASK if name in scope.sensitive else v) for k, v in change.items()}
                for name, change in state.corrected.items()
            }
        ),
        idempotency_key=state.idempotency_key,
        outcome=outcome,
        failure_kind=failure_kind,
        failure_reason=failure_reason,
        field_errors=storable(field_errors or {}),
        match=storable(state.match) if state.match is not None else None,
        attempt=state.attempt,
        actor=scope.actor,
        duration_ms=int((time.monotonic() - state.started) * 1000),
    )


def position_moment(updated_at: str) -> datetime | None:
    """The moment a source's ``updated_at`` names, for the flow's cursor; None if unparsable."""
    return _moment(updated_at)
