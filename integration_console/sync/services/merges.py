"""Merging a source record with its duplicates in the target, and undoing a merge.

A merge is planned on a page (the survivor, and each field's value taken from the source record
or from one of the target records, with survivorship rules as defaults), then applied by a job,
step by step: read what is there, remove the merged-away records (archive where the target can,
so that an undo can bring them back; else delete), update the survivor, link the source record
to it and re-point other links. Each step is idempotent and recorded on the Merge row before the
next begins, so that a job that dies half-way is resumed where it stopped, or rolled back.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from connectors.base import Capabilities, can_bring_back, removal_for_merge
from connectors.errors import ConnectorError
from integration_console.storable import storable

from ..connections import connector_for
from ..dispatch import enqueue_job
from ..failures import RecordFailure
from ..identify import forget, matching_for, remember_written
from ..locks import record_lock
from ..models import AuditEntry, Flow, Merge, RecordLink
from ..pipeline import Attempt, audit_entry, payload_hash, prepare
from ..signals import merge_undone, record_synced
from .runs import flow_context

logger = logging.getLogger(__name__)

# A merge's job takes seconds: one that has not moved for this long lost its job.
STALLED_AFTER = timedelta(minutes=10)

SOURCE = "source"
RULES = {
    "owner": "the owner system's value",
    "newest": "the newest value",
    "most_complete": "the most complete value",
}


class MergeRefused(Exception):
    """The merge (or its undo) cannot be made; the message says why, for people."""


@dataclass(frozen=True)
class MergeSide:
    """One record taking part in a merge: the source record (key "source") or a target one."""

    key: str
    values: dict[str, Any]
    updated_at: str = ""


@dataclass(frozen=True)
class MergeAbilities:
    """What the target allows a merge, said on the page before anyone merges."""

    removal: str | None  # "archive", "delete" or None: the merged-away records stay
    brings_back: bool  # an undo can restore what the merge removed


def merge_abilities(flow: Flow) -> MergeAbilities:
    target = connector_for(flow.target_system)
    try:
        capabilities: Capabilities = target.capabilities
    finally:
        target.close()
    return MergeAbilities(removal_for_merge(capabilities), can_bring_back(capabilities))


def survivorship(
    *,
    flow: Flow,
    fields: Iterable[str],
    sides: list[MergeSide],
    survivor: str,
    rule: str,
    owners: dict[str, int] | None = None,
) -> dict[str, str]:
    """Each field's default choice (the key of the side its value comes from) by ``rule``:
    ``owner`` takes the value of the system that owns the field (the source's, or the
    survivor's where the target owns it), ``newest`` the value of the most recently updated
    record, ``most_complete`` the longest value. A field no side fills keeps the survivor's.
    ``owners`` (``field_owners(flow)``), when the caller plans many merges of one flow."""
    by_key = {side.key: side for side in sides}
    owners = field_owners(flow) if owners is None else owners
    choices = {}
    for name in fields:
        filled = [side for side in sides if not _blank(side.values.get(name))]
        if not filled:
            choices[name] = survivor
            continue
        if rule == "newest":
            choice = max(filled, key=lambda side: side.updated_at or "").key
        elif rule == "most_complete":
            choice = max(filled, key=lambda side: len(str(side.values.get(name)))).key
        else:
            owner = owners.get(name, owners.get(""))
            preferred = survivor if owner == flow.target_system_id else SOURCE
            choice = preferred if preferred in {side.key for side in filled} else filled[0].key
        choices[name] = choice if choice in by_key else survivor
    return choices


def merged_values(choices: dict[str, str], sides: list[MergeSide]) -> dict[str, Any]:
    """The merged record: each field's value from the side chosen for it."""
    by_key = {side.key: side for side in sides}
    return {name: by_key[key].values.get(name) for name, key in choices.items() if key in by_key}


def merge_request(
    *,
    flow: Flow,
    source_id: str,
    survivor_id: str,
    merged_ids: list[str],
    choices: dict[str, str],
    actor: str,
) -> Merge:
    """Record a merge and queue its job. MergeRefused when the flow writes nothing, a choice
    names a record that takes no part, or the record has a merge in force already (whoever
    asked first: two people merging one record get one merge)."""
    if not flow.writes_to_target:
        raise MergeRefused(
            f"{flow} is in the {flow.get_stage_display().lower()} stage: nothing is written to "
            f"{flow.target_system}."
        )
    merged_ids = [target_id for target_id in merged_ids if target_id != survivor_id]
    allowed = {SOURCE, survivor_id, *merged_ids}
    strangers = sorted({key for key in choices.values() if key not in allowed})
    if strangers:
        raise MergeRefused(f"A field's value is taken from a record outside the merge: {strangers}")
    try:
        with transaction.atomic():
            merge = Merge.objects.create(
                flow=flow,
                source_id=source_id,
                survivor_id=survivor_id,
                merged_ids=merged_ids,
                choices=choices,
                requested_by=actor,
            )
            enqueue_job("integration_console.sync.jobs.apply_merge", merge.pk)
    except IntegrityError:
        existing = Merge.objects.filter(flow=flow, source_id=source_id).exclude(
            status=Merge.Status.UNDONE
        )
        done_by = existing.values_list("requested_by", flat=True).first() or "someone"
        raise MergeRefused(
            f"{source_id} is being merged or was merged already (by {done_by}); undo that "
            "merge first to merge it otherwise."
        ) from None
    return merge


def merge_apply(*, merge_id: int) -> Merge:
    """Apply a merge's steps not yet done (the job). A step that fails stops the merge as
    ``failed`` with the reason: it can be resumed (its job queued again) or undone."""
    merge = Merge.objects.select_related("flow").get(pk=merge_id)
    if merge.status not in (Merge.Status.QUEUED, Merge.Status.APPLYING, Merge.Status.FAILED):
        return merge
    flow = merge.flow
    with flow_context(flow, actor=merge.requested_by) as ctx, record_lock(flow.pk, merge.source_id):
        merge.refresh_from_db()
        if merge.status not in (Merge.Status.QUEUED, Merge.Status.APPLYING, Merge.Status.FAILED):
            return merge
        _save(merge, status=Merge.Status.APPLYING, error="")
        try:
            _apply_steps(ctx, merge)
        except (ConnectorError, RecordFailure, MergeRefused) as exc:
            reason = (
                exc.message if isinstance(exc, ConnectorError) else str(getattr(exc, "reason", exc))
            )
            logger.warning("Merge %s stopped: %s", merge.pk, reason)
            _save(merge, status=Merge.Status.FAILED, error=reason)
            return merge
        _save(merge, status=Merge.Status.APPLIED, applied_at=timezone.now())
    return merge


def merge_resume(*, merge: Merge) -> Merge:
    if merge.status != Merge.Status.FAILED:
        raise MergeRefused("Only a merge that stopped half-way can be resumed.")
    enqueue_job("integration_console.sync.jobs.apply_merge", merge.pk)
    return merge


def merges_recover(*, now=None) -> list[int]:
    """Queue again the merges (and undos) under way that have not moved for STALLED_AFTER:
    their job was lost or its worker died. Their steps are idempotent and recorded, so the job
    goes on from the first step not done. Returns their ids."""
    now = now or timezone.now()
    stalled = Merge.objects.filter(
        status__in=[Merge.Status.QUEUED, Merge.Status.APPLYING, Merge.Status.UNDOING],
        updated_at__lt=now - STALLED_AFTER,
    )
    ids = []
    for merge in stalled:
        job = "undo_merge" if merge.status == Merge.Status.UNDOING else "apply_merge"
        enqueue_job(f"integration_console.sync.jobs.{job}", merge.pk)
        ids.append(merge.pk)
    return ids


def merge_undo_request(*, merge: Merge, actor: str, reason: str) -> Merge:
    """Queue the undo of an applied merge (or the roll-back of one that stopped half-way)."""
    with transaction.atomic():
        merge = Merge.objects.select_for_update().get(pk=merge.pk)
        if merge.status == Merge.Status.UNDOING and not merge.error:
            return merge  # under way
        if merge.status != Merge.Status.UNDOING and not merge.can_be_undone:
            raise MergeRefused(f"A {merge.get_status_display().lower()} merge cannot be undone.")
        _save(merge, status=Merge.Status.UNDOING, undo_reason=reason, undone_by=actor, error="")
        enqueue_job("integration_console.sync.jobs.undo_merge", merge.pk)
    return merge


def merge_undo(*, merge_id: int) -> Merge:
    """Walk a merge's done steps back (the job): the links as they were, the survivor's
    previous values, the merged-away records restored where the target can."""
    merge = Merge.objects.select_related("flow").get(pk=merge_id)
    flow = merge.flow
    with flow_context(flow, actor=merge.undone_by) as ctx, record_lock(flow.pk, merge.source_id):
        merge.refresh_from_db()
        if merge.status != Merge.Status.UNDOING:
            return merge
        try:
            lost = _undo_steps(ctx, merge)
        except ConnectorError as exc:
            _save(merge, error=f"The undo stopped: {exc.message}. Undo again to go on.")
            return merge
        note = f" {lost}" if lost else ""
        _save(merge, status=Merge.Status.UNDONE, undone_at=timezone.now(), error=note.strip())
    with transaction.atomic():
        merge_undone.send(
            sender=Flow,
            flow=flow,
            source_id=merge.source_id,
            reason=merge.undo_reason,
            actor=merge.undone_by,
        )
    return merge


# --- the steps ---------------------------------------------------------------------------


def _apply_steps(ctx, merge: Merge) -> None:
    flow, target, resource = merge.flow, ctx.target, merge.flow.target_resource
    if "read" not in merge.steps:
        record = ctx.source.get(flow.source_resource, merge.source_id)
        state = Attempt(merge.source_id, 0.0)
        link = RecordLink.objects.for_record(flow, merge.source_id).first()
        payload = prepare(ctx, state, record, link=None, corrections=None)
        survivor = target.get(resource, merge.survivor_id)
        others = {target_id: target.get(resource, target_id) for target_id in merge.merged_ids}
        sides = {SOURCE: payload, merge.survivor_id: survivor, **others}
        merge.values = storable(
            {name: sides.get(key, {}).get(name) for name, key in merge.choices.items()}
        )
        merge.survivor_before = storable({name: survivor.get(name) for name in merge.values})
        merge.merged_before = storable(others)
        merge.removal = removal_for_merge(target.capabilities) or "" if merge.merged_ids else ""
        merge.link_before = (
            {"target_id": link.target_id, "payload_hash": link.payload_hash} if link else None
        )
        merge.source_digest = payload_hash(payload)
        _done(merge, "read")
    for target_id in merge.merged_ids:
        step = f"remove:{target_id}"
        if step in merge.steps:
            continue
        # Removed before the survivor takes their values: a target that keeps a value unique
        # (an e-mail) would refuse the survivor's update while the other still holds it.
        if merge.removal == "archive":
            target.archive(resource, target_id)
        elif merge.removal == "delete":
            target.delete(resource, target_id)
        _done(merge, step)
    if "update" not in merge.steps:
        body = {k: v for k, v in merge.values.items() if (merge.survivor_before or {}).get(k) != v}
        if body:
            target.update(resource, merge.survivor_id, body)
        _done(merge, "update")
    if "link" not in merge.steps:
        with transaction.atomic():
            _link(ctx, merge)
            _done(merge, "link")


def _link(ctx, merge: Merge) -> None:
    flow = merge.flow
    link = RecordLink.objects.for_record(flow, merge.source_id).first()
    if link is None:
        link = RecordLink(flow=flow, **RecordLink.natural_key_of(flow, merge.source_id))
    link.flow, link.target_id, link.payload_hash = flow, merge.survivor_id, merge.source_digest
    link.save()
    moved = []
    for other in RecordLink.objects.filter(
        target_system_id=flow.target_system_id, target_id__in=merge.merged_ids
    ).exclude(source_id=merge.source_id):
        moved.append({"source_id": other.source_id, "from": other.target_id})
        other.target_id = merge.survivor_id
        other.payload_hash = ""  # its next run writes its own fields to the survivor
        other.save()
    merge.repointed = moved
    matching = matching_for(flow)
    if matching is not None:
        forget(matching, merge.merged_ids)
        remember_written(
            matching, [(merge.survivor_id, {**(merge.survivor_before or {}), **merge.values})]
        )
    state = Attempt(
        merge.source_id, 0.0, action=AuditEntry.Action.MERGE, target_id=merge.survivor_id
    )
    state.sent = merge.values
    entry = audit_entry(ctx.scope, state, AuditEntry.Outcome.SUCCEEDED)
    entry.duration_ms = 0
    entry.save(force_insert=True)
    record_synced.send(
        sender=Flow,
        flow=flow,
        source_id=merge.source_id,
        target_id=merge.survivor_id,
        audit_entry=entry,
    )


def _undo_steps(ctx, merge: Merge) -> str:
    """Walk the done steps back; returns what could not be brought back, for people."""
    flow, target, resource = merge.flow, ctx.target, merge.flow.target_resource
    if "link" in merge.steps:
        with transaction.atomic():
            _unlink(ctx, merge)
            merge.steps = [step for step in merge.steps if step != "link"]
            _save(merge)
    if "update" in merge.steps:
        before = merge.survivor_before or {}
        body = {k: before.get(k) for k, v in merge.values.items() if before.get(k) != v}
        if body:
            target.update(resource, merge.survivor_id, body)
        merge.steps = [step for step in merge.steps if step != "update"]
        _save(merge)
    lost = []
    for target_id in merge.merged_ids:
        step = f"remove:{target_id}"
        if step not in merge.steps:
            continue
        if merge.removal == "archive":
            target.restore(resource, target_id)
        elif merge.removal == "delete":
            lost.append(target_id)
        merge.steps = [s for s in merge.steps if s != step]
        _save(merge)
    merge.steps = []  # all walked back; what was read stays on the row, for the record
    _save(merge)
    matching = matching_for(flow)
    if matching is not None:
        restored = {t: v for t, v in merge.merged_before.items() if t not in lost}
        remember_written(
            matching, [(merge.survivor_id, merge.survivor_before or {}), *restored.items()]
        )
    if lost:
        gone = ", ".join(lost)
        return f"{flow.target_system} deleted {gone} in the merge: it cannot be brought back."
    return ""


def _unlink(ctx, merge: Merge) -> None:
    flow = merge.flow
    link = RecordLink.objects.for_record(flow, merge.source_id).first()
    if link is not None:
        if merge.link_before is None:
            link.delete()
        else:
            link.target_id = merge.link_before["target_id"]
            link.payload_hash = merge.link_before["payload_hash"]
            link.save()
    for moved in merge.repointed:
        other = RecordLink.objects.for_record(flow, moved["source_id"]).first()
        if other is not None and other.target_id == merge.survivor_id:
            other.target_id, other.payload_hash = moved["from"], ""
            other.save()
    state = Attempt(
        merge.source_id, 0.0, action=AuditEntry.Action.UNMERGE, target_id=merge.survivor_id
    )
    state.sent = merge.survivor_before or {}
    entry = audit_entry(
        ctx.scope, state, AuditEntry.Outcome.SUCCEEDED, failure_reason=merge.undo_reason
    )
    entry.duration_ms = 0
    entry.save(force_insert=True)


def _done(merge: Merge, step: str) -> None:
    merge.steps = [*merge.steps, step]
    _save(merge)


def _save(merge: Merge, **changes: Any) -> None:
    for name, value in changes.items():
        setattr(merge, name, value)
    merge.save()


def field_owners(flow: Flow) -> dict[str, int]:
    """Field -> the id of the system that owns it ("": every other field)."""
    from integration_console.catalog.models import OwnershipRule

    return {
        rule.field: rule.owner_id
        for rule in OwnershipRule.objects.filter(data_class=flow.data_class)
    }


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
