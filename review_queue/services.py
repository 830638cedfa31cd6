"""Everything that changes a review item. Each service is transactional; those that move an
item between statuses are idempotent."""

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import formats, timezone

from integration_console.sync.dispatch import enqueue_job
from integration_console.sync.failures import FailureKind, RecordFailure
from integration_console.sync.locks import record_lock
from integration_console.sync.models import AuditEntry, Flow, Merge
from integration_console.sync.redaction import MASK, contains_mask, mask_payload, sensitive_fields
from integration_console.sync.services import (
    LinkRefused,
    record_distinct_from,
    record_link_lost_create,
    record_link_to_target,
    stage_refusal,
)
from integration_console.sync.services.merges import (
    RULES,
    SOURCE,
    MergeRefused,
    MergeSide,
    merge_request,
    survivorship,
)

from .fingerprints import failure_cause, failure_fingerprint
from .models import ReviewItem, ReviewItemComment, ReviewItemEvent
from .sla import review_sla_due_at
from .timeline import ItemChange, review_item_changes_since


class ActionNotAllowed(Exception):
    """The item's status does not allow this action; the message is for the operator."""


class ItemChanged(ActionNotAllowed):
    """The item changed since the operator opened it (its version moved on): nothing of the
    action was applied. ``changes`` say who did what and when since; ``version`` is the
    item's version now."""

    def __init__(self, changes: list[ItemChange], *, version: int) -> None:
        self.changes = changes
        self.version = version
        told = "; ".join(
            f"{c.who} {c.what} at {formats.date_format(timezone.localtime(c.when), 'Y-m-d H:i:s')}"
            for c in changes
        )
        self.told = f": {told}" if told else ""
        super().__init__(
            f"This item changed since you opened it{self.told}. "
            "Nothing was saved; review the item and try again."
        )

    def in_bulk(self) -> str:
        """The refusal as a bulk action lists it: nobody opened this item."""
        return f"It changed while the bulk action ran{self.told}; it was left as it was."


@contextmanager
def _item_locked(item: ReviewItem) -> Iterator[ReviewItem]:
    """The record's lock, a transaction, and the item read afresh with its row locked: where
    an operator's action is checked and made. Every writer of an item holds the record's
    lock (the engine, links and the actions here), so a version checked under it holds until
    the action is done."""
    with record_lock(item.flow_id, item.source_id), transaction.atomic():
        yield ReviewItem.objects.select_for_update().get(pk=item.pk)


def _is_repeat(
    item: ReviewItem, expected_version: int | None, *, user: AbstractBaseUser, done: bool
) -> bool:
    """Check the version the operator saw (``expected_version``; None for the engine and bulk
    actions, which act on the item as it is) against the item's, under the item's lock.

    Raises ItemChanged when the item moved on since, unless this is the operator sending the
    same action again (a double click: ``done``, the action's result already holds, and only
    they changed the item since): then True, and the caller does nothing."""
    if expected_version is None or item.version == expected_version:
        return False
    changes = review_item_changes_since(item, expected_version)
    mine = changes and all(change.who == user.get_username() for change in changes)
    if done and mine:
        return True
    raise ItemChanged(changes, version=item.version)


def actor_for(user: AbstractBaseUser) -> str:
    return f"user:{user.get_username()}"


def _require_actionable(item: ReviewItem, verb: str) -> None:
    if not item.is_actionable:
        raise ActionNotAllowed(f"A {item.get_status_display().lower()} item cannot be {verb}.")


def _active_item(flow: Flow, source_id: str) -> ReviewItem | None:
    return (
        ReviewItem.objects.select_for_update()
        .filter(flow=flow, source_id=source_id, status__in=ReviewItem.ACTIVE_STATUSES)
        .first()
    )


# The two services the sync signals call run inside the record's transaction; a savepoint of
# their own would cost two statements per record and guard nothing.
@transaction.atomic(savepoint=False)
def review_item_record_failure(
    *,
    flow: Flow,
    source_id: str,
    failure: RecordFailure,
    source_record: dict[str, Any] | None,
    payload: dict[str, Any] | None,
    actor: str,
) -> ReviewItem:
    """Open an item for a failed record, or update the one already open for it.

    A failure while the item is being retried sends it back to ``open`` with the new reason;
    any other repeat adds an occurrence. Never two active items for one source record.
    """
    now = timezone.now()
    item = _active_item(flow, source_id)
    details = {"kind": failure.kind, "reason": failure.reason}
    if item is None:
        item = ReviewItem(flow=flow, source_id=source_id, occurrences=0)
        item.previous_item = _last_fixed_item(flow, source_id)
        action = ReviewItemEvent.Action.OPENED
    elif item.status == ReviewItem.Status.RETRYING:
        item.status = ReviewItem.Status.OPEN
        action = ReviewItemEvent.Action.RETRY_FAILED
    else:
        action = ReviewItemEvent.Action.RECURRED
    if action != ReviewItemEvent.Action.RETRY_FAILED:
        item.occurrences += 1
    if item.pk is not None:
        item.version += 1
    if item.pk is None or item.kind != failure.kind:
        # Its SLA counts from when it opened, by the rule for its flow and (new) kind.
        item.sla_due_at = review_sla_due_at(
            flow_id=flow.pk, kind=failure.kind, opened_at=item.first_seen or now
        )
    item.kind = failure.kind
    item.reason = failure.reason
    if item.previous_item_id:
        item.reason = f"Failed again after a fix (item #{item.previous_item_id}). {failure.reason}"
    item.field_errors = failure.field_errors
    item.target_response = failure.target_response
    item.existing_target_id = failure.existing_target_id
    item.candidates = failure.candidates
    # The engine's own reason, not the item's (which may name an earlier fixed item).
    record_ids = (source_id, failure.existing_target_id)
    item.fingerprint = failure_fingerprint(
        flow_id=flow.pk,
        kind=failure.kind,
        reason=failure.reason,
        field_errors=failure.field_errors,
        record_ids=record_ids,
    )
    item.cause = failure_cause(
        reason=failure.reason, field_errors=failure.field_errors, record_ids=record_ids
    )
    item.last_seen = now
    if source_record:
        item.source_snapshot = source_record
    if payload is not None:
        item.payload = payload
    if item.pk is None:
        try:
            with transaction.atomic():
                item.save()
        except IntegrityError:
            # Another attempt on this record opened its item between our look and our write
            # (a run and a retry at once): count this failure on that item instead.
            return review_item_record_failure(
                flow=flow,
                source_id=source_id,
                failure=failure,
                source_record=source_record,
                payload=payload,
                actor=actor,
            )
    else:
        item.save()
    ReviewItemEvent.objects.create(
        item=item, action=action, actor=actor, note=failure.reason, details=details
    )
    return item


def _last_fixed_item(flow: Flow, source_id: str) -> ReviewItem | None:
    """The record's most recent closed item that a person corrected, if any."""
    return (
        ReviewItem.objects.filter(
            flow=flow,
            source_id=source_id,
            status=ReviewItem.Status.RESOLVED,
            events__action=ReviewItemEvent.Action.PAYLOAD_FIXED,
        )
        .order_by("-closed_at", "-id")
        .first()
    )


@transaction.atomic(savepoint=False)
def review_item_hold_back(*, flow: Flow, source_id: str, reason: str) -> None:
    """A retry went through but the flow's stage let nothing be written: a retrying item goes
    back to ``open`` with the reason, instead of waiting for an answer that never comes."""
    item = _active_item(flow, source_id)
    if item is None or item.status != ReviewItem.Status.RETRYING:
        return
    item.status = ReviewItem.Status.OPEN
    item.version += 1
    item.save()
    ReviewItemEvent.objects.create(
        item=item, action=ReviewItemEvent.Action.RETRY_FAILED, actor="system", note=reason
    )


@transaction.atomic(savepoint=False)
def review_item_resolve_by_sync(
    *,
    flow: Flow,
    source_id: str,
    target_id: str,
    payload: dict[str, Any],
    action: str,
    actor: str,
) -> None:
    """A successful attempt resolves the record's active item, if it has one, and keeps the
    payload that was written."""
    item = _active_item(flow, source_id)
    if item is None:
        return
    item.status = ReviewItem.Status.RESOLVED
    item.target_id = target_id
    if action == AuditEntry.Action.LINK:
        item.resolution = f"Linked to {target_id} in {flow.target_system}."
    elif action == AuditEntry.Action.MERGE:
        item.resolution = f"Merged into {target_id} in {flow.target_system}."
    else:
        item.payload = payload
        item.resolution = f"Synced to {flow.target_system} as {target_id}."
    item.closed_at = timezone.now()
    item.version += 1
    item.save()
    ReviewItemEvent.objects.create(
        item=item, action=ReviewItemEvent.Action.RESOLVED, actor=actor, note=item.resolution
    )


def review_item_retry(
    *,
    item: ReviewItem,
    user: AbstractBaseUser,
    payload: dict[str, Any] | None = None,
    expected_version: int | None = None,
) -> ReviewItem:
    """Queue a retry of the item's record, read afresh from the source. With ``payload``, an
    operator's corrected (already validated) payload, the fields that differ from the item's
    payload are kept as corrections of the record first, so that the next runs apply them
    too until the source's own value changes. A second request while a retry is running does
    nothing; a correction sent while one runs is refused (the running retry would not carry
    it). Refused while the flow's stage writes nothing, for a payload holding a mask (it
    would write the mask), and with ItemChanged when ``expected_version`` is not the item's.
    Raises JobNotQueued, with the item open again, when the job queue refuses the retry."""
    if payload is not None and contains_mask(payload):
        raise ActionNotAllowed(
            "The corrected payload holds a hidden value (••••••). Enter a new value, or leave "
            "the field empty to send the value the source has now."
        )
    with _item_locked(item) as item:
        retrying = item.status == ReviewItem.Status.RETRYING and not item.retry_is_stale
        if _is_repeat(item, expected_version, user=user, done=retrying and payload is None):
            return item
        if retrying:
            if payload is None:
                return item
            raise ActionNotAllowed(
                "A retry of this record is running: your correction was not saved. Wait for "
                "the retry's answer, then correct the item if it still needs it."
            )
        _require_actionable(item, "retried")
        refusal = stage_refusal(item.flow)
        if refusal:
            raise ActionNotAllowed(refusal)
        actor = actor_for(user)
        previous_status = item.status
        item.status = ReviewItem.Status.RETRYING
        item.retry_requested_at = timezone.now()
        item.version += 1
        item.save()
        corrections = None
        if payload is None:
            ReviewItemEvent.objects.create(
                item=item, action=ReviewItemEvent.Action.RETRY_REQUESTED, actor=actor
            )
        else:
            corrections = _corrections(item, payload)
            kept = ", ".join(sorted(corrections)) or "no field changed"
            ReviewItemEvent.objects.create(
                item=item,
                action=ReviewItemEvent.Action.PAYLOAD_FIXED,
                actor=actor,
                note=(
                    f"Kept as corrections of {item.source_id} ({kept}): "
                    f"{item.flow.source_system}'s connector cannot write them back, so every "
                    "run applies them until the source's own value changes."
                ),
                details={"changes": _shown_changes(item, corrections)},
            )
        enqueue_job(
            "integration_console.sync.jobs.retry_record",
            item.flow_id,
            item.source_id,
            actor,
            corrections,
            on_failure=lambda exc: _retry_not_queued(item.pk, previous_status, exc),
        )
    return item


@transaction.atomic
def _retry_not_queued(item_id: int, status: str, exc: Exception) -> None:
    item = ReviewItem.objects.select_for_update().get(pk=item_id)
    if item.status != ReviewItem.Status.RETRYING:
        return
    item.status = status
    item.version += 1
    item.save()
    ReviewItemEvent.objects.create(
        item=item,
        action=ReviewItemEvent.Action.RETRY_FAILED,
        actor="system",
        note=f"The retry could not be queued: {exc}",
    )


def review_item_dismiss(
    *,
    item: ReviewItem,
    user: AbstractBaseUser,
    reason: str,
    expected_version: int | None = None,
) -> ReviewItem:
    """Close the item without syncing the record; the reason is kept in its history and in
    the audit trail. Dismissing a dismissed item does nothing. Holds the record's lock, so a
    link or retry of the same record by someone else is either done before (and the item is
    no longer open) or waits and finds it dismissed. With ``expected_version``, ItemChanged
    when the item moved on since the operator saw it.

    When the record's retries ran out, the target is first searched for a create whose answer
    was lost: if it landed, the record is linked to it instead and ActionNotAllowed says so."""
    with record_lock(item.flow_id, item.source_id):
        if expected_version is not None:
            # Read under the record's lock, which every writer of the item holds: the version
            # checked here is the one _dismiss changes, and nothing is linked on a stale one.
            item = ReviewItem.objects.select_related("flow").get(pk=item.pk)
            done = item.status == ReviewItem.Status.DISMISSED
            if _is_repeat(item, expected_version, user=user, done=done):
                return item
        if item.kind == FailureKind.RETRIES_EXHAUSTED and item.is_actionable:
            found = record_link_lost_create(
                flow=item.flow, source_id=item.source_id, actor=actor_for(user)
            )
            if found is not None:
                raise ActionNotAllowed(
                    f"Not dismissed: {item.flow.target_system} has this record as {found} (an "
                    "earlier attempt created it but its answer was lost). It is linked now, "
                    "and the item is resolved."
                )
        return _dismiss(item=item, user=user, reason=reason)


@transaction.atomic
def _dismiss(*, item: ReviewItem, user: AbstractBaseUser, reason: str) -> ReviewItem:
    item = ReviewItem.objects.select_for_update().get(pk=item.pk)
    if item.status == ReviewItem.Status.DISMISSED:
        return item
    _require_actionable(item, "dismissed")
    actor = actor_for(user)
    item.status = ReviewItem.Status.DISMISSED
    item.resolution = reason
    item.closed_at = timezone.now()
    item.version += 1
    item.save()
    ReviewItemEvent.objects.create(
        item=item, action=ReviewItemEvent.Action.DISMISSED, actor=actor, note=reason
    )
    AuditEntry.objects.create(
        flow=item.flow,
        source_id=item.source_id,
        action=AuditEntry.Action.DISMISS,
        payload=item.payload or {},  # stored masked by the pipeline
        outcome=AuditEntry.Outcome.SKIPPED,
        failure_kind=item.kind,
        failure_reason=f"Dismissed: {reason}",
        actor=actor,
    )
    return item


def review_item_link(
    *,
    item: ReviewItem,
    user: AbstractBaseUser,
    target_id: str,
    expected_version: int | None = None,
) -> ReviewItem:
    """Link the item's record to an existing target record (the target says it has it, or a
    person knows it does); the item is resolved by that link (which moves its version on).
    Runs now, not as a job: it is one look-up in the target, and the operator waits for its
    answer. With ``expected_version``, ItemChanged when the item moved on since."""
    with record_lock(item.flow_id, item.source_id):
        # Checked under the record's lock: an item someone dismissed a moment ago stays so.
        item.refresh_from_db()
        done = item.status == ReviewItem.Status.RESOLVED and item.target_id == target_id
        if _is_repeat(item, expected_version, user=user, done=done):
            return item
        _require_actionable(item, "linked")
        try:
            record_link_to_target(
                flow=item.flow, source_id=item.source_id, target_id=target_id, actor=actor_for(user)
            )
        except LinkRefused as exc:
            raise ActionNotAllowed(str(exc)) from exc
    item.refresh_from_db()
    return item


def review_item_link_best(*, item: ReviewItem, user: AbstractBaseUser, min_score: float) -> None:
    """Link a possible duplicate to its best candidate when that scores ``min_score`` or more
    and no other record of the source is linked to it (a bulk link of high-score pairs, after
    a person looked at each in the preview). ActionNotAllowed, with the reason, otherwise."""
    best = _best_candidate(item, min_score)
    review_item_link(item=item, user=user, target_id=str(best["target_id"]))


def _best_candidate(item: ReviewItem, min_score: float) -> dict[str, Any]:
    """The item's best candidate, if a bulk action may take it without a person: it scores
    ``min_score`` or more and no other record of the source is linked to it. ActionNotAllowed,
    with the reason, otherwise."""
    candidates = [c for c in item.candidates if isinstance(c, dict)]
    if item.kind != FailureKind.POSSIBLE_DUPLICATE or not candidates:
        raise ActionNotAllowed("Not a possible duplicate with candidates.")
    best = candidates[0]
    score = float((best.get("score") or {}).get("total") or 0)
    if score < min_score:
        # Rounded, 80.96% would read "81%, below 81%": then a tenth, rounded down, tells.
        shown = f"{score:.0%}"
        if shown == f"{min_score:.0%}":
            shown = f"{math.floor(score * 1000) / 10:.1f}%"
        raise ActionNotAllowed(
            f"Its best candidate scores {shown}, below {min_score:.0%}: left for a person."
        )
    if best.get("linked_from"):
        raise ActionNotAllowed(
            f"{best['target_id']} is linked to {best['linked_from']} already: merge them one "
            "by one."
        )
    return best


def review_item_create_anyway(
    *,
    item: ReviewItem,
    user: AbstractBaseUser,
    reason: str,
    expected_version: int | None = None,
) -> ReviewItem:
    """A person says a possible duplicate is none of its candidates: each pair is remembered,
    so that matching never offers it again, and the record is retried, which creates it (or
    finds a match the person has not seen yet, and asks again). With ``expected_version``,
    ItemChanged when the item moved on since."""
    with _item_locked(item) as item:
        if _is_repeat(item, expected_version, user=user, done=False):
            return item
        _require_actionable(item, "created anyway")
        if item.kind != FailureKind.POSSIBLE_DUPLICATE or not item.candidates:
            raise ActionNotAllowed(
                "Only a possible duplicate with candidates can be created anyway."
            )
        if item.status == ReviewItem.Status.RETRYING and not item.retry_is_stale:
            raise ActionNotAllowed("A retry of this record is running; wait for its answer.")
        targets = [str(candidate.get("target_id")) for candidate in item.candidates]
        actor = actor_for(user)
        record_distinct_from(
            flow=item.flow, source_id=item.source_id, target_ids=targets, reason=reason, actor=actor
        )
        item.version += 1
        item.save(update_fields=["version"])
        ReviewItemEvent.objects.create(
            item=item,
            action=ReviewItemEvent.Action.CREATED_ANYWAY,
            actor=actor,
            note=reason,
            details={"not": targets},
        )
    return review_item_retry(item=item, user=user, expected_version=item.version)


def review_item_merge(
    *,
    item: ReviewItem,
    user: AbstractBaseUser,
    survivor_id: str,
    merged_ids: list[str],
    choices: dict[str, str],
    expected_version: int | None = None,
) -> Merge:
    """Merge a possible duplicate into the survivor among its candidates, with each field's
    value from the side a person chose; ``merged_ids``, other candidates that are the same
    record too, are merged away. The merge is applied by a job; its link step resolves the
    item. ActionNotAllowed when the item is no possible duplicate, names a record that is no
    candidate, or its record is merged already; ItemChanged when the item moved on."""
    with _item_locked(item) as item:
        _is_repeat(item, expected_version, user=user, done=False)
        _require_actionable(item, "merged")
        candidates = {str(c.get("target_id")) for c in item.candidates if isinstance(c, dict)}
        if item.kind != FailureKind.POSSIBLE_DUPLICATE or not candidates:
            raise ActionNotAllowed("Only a possible duplicate with candidates can be merged.")
        if survivor_id not in candidates or not set(merged_ids) <= candidates:
            raise ActionNotAllowed("A merge takes only the item's candidates.")
        actor = actor_for(user)
        try:
            merge = merge_request(
                flow=item.flow,
                source_id=item.source_id,
                survivor_id=survivor_id,
                merged_ids=merged_ids,
                choices=choices,
                actor=actor,
            )
        except MergeRefused as exc:
            raise ActionNotAllowed(str(exc)) from exc
        item.version += 1
        item.save(update_fields=["version"])
        away = f"; merging away {', '.join(merge.merged_ids)}" if merge.merged_ids else ""
        ReviewItemEvent.objects.create(
            item=item,
            action=ReviewItemEvent.Action.MERGE_REQUESTED,
            actor=actor,
            note=f"Merge into {survivor_id} queued{away}.",
            details={"merge": merge.pk, "choices": choices},
        )
    return merge


def review_item_merge_plan(
    item: ReviewItem,
    *,
    survivor: str,
    rule: str,
    merged_ids: Iterable[str] = (),
    owners: dict[str, int] | None = None,
) -> tuple[list[MergeSide], dict[str, str]]:
    """The records a merge of the item into ``survivor`` takes (its record, key SOURCE, then
    the survivor and ``merged_ids`` among its candidates, in their order), as a person may
    see them, and each field's choice by the survivorship ``rule``. What the merge page starts
    from, and what a bulk merge takes as it is: both choose from the same sides. One query
    (the flow's ownership rules, unless ``owners`` gives them), besides the item's flow and
    data class."""
    hidden = sensitive_fields(item.flow.data_class.fields)
    # Sensitive values are masked here, whatever was stored: a merge records only which side
    # each value comes from, and its job reads the real values afresh. (Masks tie by the most
    # complete rule, so the record's is taken, as on the merge page.)
    sides = [
        MergeSide(
            SOURCE,
            mask_payload(item.payload or {}, hidden),
            str((item.source_snapshot or {}).get("updated_at", "")),
        )
    ]
    taking = {survivor, *merged_ids}
    for candidate in item.candidates:
        if isinstance(candidate, dict) and str(candidate.get("target_id")) in taking:
            values = candidate.get("values") or {}
            sides.append(
                MergeSide(
                    str(candidate["target_id"]),
                    mask_payload(values, hidden),
                    str(values.get("updated_at", "")),
                )
            )
    fields = [f["name"] for f in item.flow.data_class.fields]
    choices = survivorship(
        flow=item.flow, fields=fields, sides=sides, survivor=survivor, rule=rule, owners=owners
    )
    return sides, choices


def review_item_merge_best(
    *, item: ReviewItem, user: AbstractBaseUser, min_score: float, rule: str
) -> Merge:
    """Merge a possible duplicate into its best candidate when that scores ``min_score`` or
    more and no other record of the source is linked to it (a bulk merge of high-score pairs,
    after a person looked at each merged record in the preview): each field's value by the
    survivorship ``rule``, and nothing merged away. Goes through review_item_merge, so its
    checks, its event and its job are those of a merge from the item's page; refused with
    ItemChanged when the item moved on since it was read here (its choices were made from
    it). ActionNotAllowed, with the reason, otherwise."""
    if rule not in RULES:
        raise ActionNotAllowed(
            f"{rule!r} is no way to choose the merged values: one of {', '.join(RULES)}."
        )
    survivor = str(_best_candidate(item, min_score)["target_id"])
    _, choices = review_item_merge_plan(item, survivor=survivor, rule=rule)
    return review_item_merge(
        item=item,
        user=user,
        survivor_id=survivor,
        merged_ids=[],
        choices=choices,
        expected_version=item.version,
    )


def review_item_reopen_after_undo(*, flow: Flow, source_id: str, reason: str, actor: str) -> None:
    """A merge of the record was undone: its item opens again (the record has no link now),
    unless a later failure opened another."""
    if _active_item(flow, source_id) is not None:
        return
    item = (
        ReviewItem.objects.select_for_update()
        .filter(flow=flow, source_id=source_id, status=ReviewItem.Status.RESOLVED)
        .order_by("-closed_at", "-pk")
        .first()
    )
    if item is None:
        return
    _reopen(item, actor=actor, note=f"Merge undone: {reason}")


def review_item_take(
    *, item: ReviewItem, user: AbstractBaseUser, expected_version: int | None = None
) -> ReviewItem:
    """Assign the item to ``user`` and mark it in progress. Taking an item one already holds
    does nothing; taking one someone else holds reassigns it, and says so in its history.
    With ``expected_version``, ItemChanged when the item moved on since."""
    with _item_locked(item) as item:
        done = item.status == ReviewItem.Status.IN_PROGRESS and item.assignee_id == user.pk
        if _is_repeat(item, expected_version, user=user, done=done) or done:
            return item
        _require_actionable(item, "taken")
        previous = item.assignee
        item.status = ReviewItem.Status.IN_PROGRESS
        item.assignee = user
        item.version += 1
        item.save()
        note = f"Taken over from {previous.get_username()}." if previous else ""
        ReviewItemEvent.objects.create(
            item=item, action=ReviewItemEvent.Action.TAKEN, actor=actor_for(user), note=note
        )
    return item


ACT_PERMISSION = "review_queue.change_reviewitem"


def people_who_may_act():
    """Active users who may act on review items (through a role or directly), by name."""
    app_label, codename = ACT_PERMISSION.split(".")
    granted = Q(
        groups__permissions__codename=codename,
        groups__permissions__content_type__app_label=app_label,
    ) | Q(
        user_permissions__codename=codename,
        user_permissions__content_type__app_label=app_label,
    )
    users = get_user_model().objects.filter(is_active=True)
    return users.filter(granted | Q(is_superuser=True)).distinct().order_by("username")


def review_item_assign(
    *,
    item: ReviewItem,
    user: AbstractBaseUser,
    assignee: AbstractBaseUser | None,
    expected_version: int | None = None,
) -> ReviewItem:
    """Give the item to ``assignee`` (in progress), or to nobody (open again). Only someone who
    may act on items can be given one. Assigning it to whom it already has does nothing.
    With ``expected_version``, ItemChanged when the item moved on since."""
    with _item_locked(item) as item:
        done = item.assignee_id == (assignee.pk if assignee else None)
        if _is_repeat(item, expected_version, user=user, done=done) or done:
            return item
        _require_actionable(item, "assigned")
        if assignee is not None and not assignee.has_perm(ACT_PERMISSION):
            raise ActionNotAllowed(f"{assignee.get_username()} may not act on review items.")
        action, note, details = assignment_change(item, assignee)
        item.save()
        ReviewItemEvent.objects.create(
            item=item, action=action, actor=actor_for(user), note=note, details=details
        )
    return item


def assignment_change(
    item: ReviewItem, assignee: AbstractBaseUser | None
) -> tuple[str, str, dict[str, Any]]:
    """Give the item to ``assignee`` (None: nobody), in memory, as an assignment does: its
    status and version with it. The event's action, note and details. Shared by the service
    and the bulk job's batches, so that both change an item the same way."""
    previous = item.assignee
    item.assignee = assignee
    details = {"assignee": assignee.get_username() if assignee else None}
    if assignee is None:
        item.status = ReviewItem.Status.OPEN
        action, note = ReviewItemEvent.Action.UNASSIGNED, ""
    else:
        item.status = ReviewItem.Status.IN_PROGRESS
        action = ReviewItemEvent.Action.ASSIGNED
        note = f"Assigned to {assignee.get_username()}."
    if previous is not None:
        note = f"{note} It was {previous.get_username()}'s.".strip()
    item.version += 1
    return action, note, details


def review_item_reopen(
    *,
    item: ReviewItem,
    user: AbstractBaseUser,
    reason: str,
    expected_version: int | None = None,
) -> ReviewItem:
    """Open a resolved or dismissed item again, unless its record already has an active item
    (a later failure opened one): then that item is where the work goes on. With
    ``expected_version``, ItemChanged when the item moved on since.

    The reopened item's SLA is that of an item opening: the due time the rules give today
    (while it was closed, rule changes passed it by), counted from its first failure as
    review_sla_due_at counts it; and its breach, if it is past that, is escalated again."""
    with _item_locked(item) as item:
        done = not item.is_closed
        if _is_repeat(item, expected_version, user=user, done=done) or done:
            return item
        active = _active_item(item.flow, item.source_id)
        if active is not None:
            raise ActionNotAllowed(
                f"{item.source_id} already has an item that needs attention (#{active.pk})."
            )
        _reopen(item, actor=actor_for(user), note=reason)
    return item


def _reopen(item: ReviewItem, *, actor: str, note: str) -> None:
    """Open a closed item again, with the SLA of an item opening: the due time today's rules
    give (while it was closed, rule changes passed it by), counted from its first failure as
    review_sla_due_at counts it; a breach, if it is past that, is escalated again."""
    item.status = ReviewItem.Status.OPEN
    item.closed_at = None
    item.resolution = ""
    item.sla_due_at = review_sla_due_at(
        flow_id=item.flow_id, kind=item.kind, opened_at=item.first_seen
    )
    item.escalated_at = None
    item.version += 1
    item.save()
    ReviewItemEvent.objects.create(
        item=item, action=ReviewItemEvent.Action.REOPENED, actor=actor, note=note
    )


def review_item_comment(
    *, item: ReviewItem, user: AbstractBaseUser, body: str
) -> ReviewItemComment:
    """Add a comment to the item's timeline; any status. A comment is no change of the item:
    its version stays, and nobody's open page goes stale for it."""
    return ReviewItemComment.objects.create(item=item, author=user, body=body)


def _corrections(item: ReviewItem, payload: dict[str, Any]) -> dict[str, Any]:
    """The fields an operator changed in the fix form, with their new values. A sensitive
    field left empty is not a change: the source's own value is read again."""
    sensitive = sensitive_fields(item.flow.data_class.fields)
    before = item.payload or {}
    keys = (before.keys() | payload.keys()) - (sensitive - payload.keys())
    return {k: payload.get(k) for k in sorted(keys) if before.get(k) != payload.get(k)}


def _shown_changes(item: ReviewItem, corrections: dict[str, Any]) -> dict[str, list[Any]]:
    """Field -> [old, new] for the item's history, sensitive values masked."""
    sensitive = sensitive_fields(item.flow.data_class.fields)
    before = item.payload or {}
    return {
        name: [MASK, MASK] if name in sensitive else [before.get(name), value]
        for name, value in corrections.items()
    }
