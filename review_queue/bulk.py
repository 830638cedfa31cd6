"""Bulk actions on review items: the request records a BulkAction row and queues its job, and
the job applies the action to the selection in batches, outside the request.

Each item ends as the per-item service a person's click calls would leave it: the same checks
and refusals, one event, its version moved on, its history and (dismissed) its audit entry.
Retries go through that service item by item; dismissals and assignments are checked the same
way and written a batch at a time (_Together), and through the service again for an item that
needs it or a batch that cannot be written together. Every item is changed under its record's
lock, and one already as asked is left as it is, so a batch that is repeated (after a crash, a
takeover) changes nothing twice. An item that cannot take the action is counted as refused,
with its reason, and never stops the others.
"""

import logging
import secrets
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import F, Max, Q, QuerySet
from django.http import QueryDict
from django.utils import timezone

from integration_console.sync.dispatch import (
    JobNotQueued,
    enqueue_job,
    job_is_pending,
    jobs_run_in_process,
)
from integration_console.sync.failures import FailureKind
from integration_console.sync.locks import record_lock, record_lock_key
from integration_console.sync.models import AuditEntry, Merge

from .filters import ReviewItemFilter
from .models import BulkAction, ReviewItem, ReviewItemEvent
from .services import (
    ACT_PERMISSION,
    ActionNotAllowed,
    ItemChanged,
    _require_actionable,
    actor_for,
    assignment_change,
    review_item_assign,
    review_item_dismiss,
    review_item_link_best,
    review_item_merge_best,
    review_item_retry,
)

logger = logging.getLogger(__name__)

JOB = "review_queue.jobs.execute_bulk_action"
BATCH_SIZE = 200  # items between two progress writes (and two looks for a cancel)
# One job works this long at most (and one batch at least), then queues the next slice of the
# action: no job comes near RQ's timeout. A worker that dies loses the batch under way, which
# the job that resumes the action does again.
SLICE_SECONDS = 60.0
BEAT_SECONDS = 10.0  # a batch ends early after this long: its commit is the heartbeat
# A queued action whose job never started (lost with Redis, or with the web process that was to
# run it) is queued again after this long.
QUEUED_STALE_AFTER = timedelta(minutes=5)
# The merges a bulk merge's progress page lists at most (the preview it came from shows fewer).
MERGES_LISTED = 200


class BulkActionNotQueued(Exception):
    """The job queue refused the bulk action's job; the message is for people. When it was
    being started, the row (``bulk_action_id``) says "failed"."""

    def __init__(self, message: str, *, bulk_action_id: int) -> None:
        super().__init__(message)
        self.bulk_action_id = bulk_action_id


class BulkSelectionInvalid(Exception):
    """The filters of an "all matching" selection cannot be applied; nothing was recorded."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


def bulk_selection_filter(filter_query: str, user: AbstractBaseUser) -> ReviewItemFilter:
    """The queue list's filters as the query string ``filter_query`` sets them, for ``user``
    ("assigned to me"); like the list, items that need attention unless a status is chosen."""
    data = QueryDict(filter_query, mutable=True)
    for name in ("after", "before"):  # a page position is not part of the selection
        data.pop(name, None)
    data.setdefault("status", ReviewItemFilter.ACTIVE)
    return ReviewItemFilter(
        data, queryset=ReviewItem.objects.all(), request=SimpleNamespace(user=user)
    )


def _selection_problems(filterset: ReviewItemFilter) -> list[str]:
    return [
        f"the filter {name!r}: {error}"
        for name, errors in filterset.errors.items()
        for error in errors
    ]


def bulk_action_start(
    *,
    user: AbstractBaseUser,
    action: str,
    parameters: dict | None = None,
    item_ids: list[int] | None = None,
    filter_query: str = "",
) -> BulkAction:
    """Record a bulk action on the items ``item_ids`` (ticked), or, with ``item_ids`` None, on
    every item the list's filters in ``filter_query`` select, and queue its job. Answers at once
    whatever the selection's size: nothing is read of the items here.

    Raises BulkSelectionInvalid (and records nothing) for filters that cannot be applied:
    acting on "all that match" a filter the list would drop acts on far more than was chosen.
    Raises BulkActionNotQueued, with the row failed, when the job queue refuses the job, so
    that nobody is told "queued" when it is not."""
    if action not in BulkAction.Action.values:
        raise ValueError(f"Unknown bulk action {action!r}.")
    if jobs_run_in_process():
        # Without Redis there is no cron process: actions left by a restarted web process
        # are resumed here.
        bulk_actions_recover()
    now = timezone.now()
    fields = {}
    if item_ids is None:
        problems = _selection_problems(bulk_selection_filter(filter_query, user))
        if problems:
            raise BulkSelectionInvalid(problems)
        # The selection is frozen in two steps: items created after this moment are out of
        # it (their ids are higher); the job resolves the filters to ids when it starts.
        fields["selection_bound_id"] = ReviewItem.objects.aggregate(top=Max("id"))["top"]
    else:
        ids = sorted(set(item_ids))
        fields.update(item_ids=ids, total=len(ids), selection_frozen_at=now)
    bulk = BulkAction.objects.create(
        requested_by=user,
        requested_at=now,
        action=action,
        parameters=parameters or {},
        filter_query=filter_query,
        all_matching=item_ids is None,
        **fields,
    )

    def not_queued(exc: Exception) -> None:
        BulkAction.objects.filter(pk=bulk.pk, status=BulkAction.Status.QUEUED).update(
            status=BulkAction.Status.FAILED,
            finished_at=timezone.now(),
            error=f"Not queued: the job queue did not take it ({exc}). Nothing was done.",
        )

    try:
        enqueue_job(JOB, bulk.pk, "", job_id=_start_job_id(bulk.pk), on_failure=not_queued)
    except JobNotQueued as exc:
        raise BulkActionNotQueued(str(exc), bulk_action_id=bulk.pk) from exc
    return bulk


def bulk_action_cancel(*, bulk_action: BulkAction, user: AbstractBaseUser) -> BulkAction:
    """Stop the action: a queued one is cancelled at once (its job, when it comes, does
    nothing); a running one becomes ``cancelling`` and its job stops before its next batch
    (the batch under way is finished and counted). One whose job went quiet is cancelled at
    once. A finished action stays as it is. Idempotent."""
    now = timezone.now()
    rows = BulkAction.objects.filter(pk=bulk_action.pk)
    rows.filter(status=BulkAction.Status.QUEUED).update(
        status=BulkAction.Status.CANCELLED, finished_at=now
    )
    rows.filter(
        status__in=(BulkAction.Status.RUNNING, BulkAction.Status.CANCELLING),
        heartbeat_at__lt=now - BulkAction.STALE_AFTER,
    ).update(status=BulkAction.Status.CANCELLED, finished_at=now)
    rows.filter(status=BulkAction.Status.RUNNING).update(status=BulkAction.Status.CANCELLING)
    logger.info("Bulk action %s: cancel asked by %s.", bulk_action.pk, user.get_username())
    return _without_selection().get(pk=bulk_action.pk)


def bulk_action_is_stalled(bulk_action: BulkAction) -> bool:
    """Whether the action's job is lost: no heartbeat for BulkAction.STALE_AFTER, and no next
    slice waiting in RQ (a slice queued behind the many retry jobs its batches queued is late,
    not lost)."""
    if not bulk_action.is_stalled:
        return False
    return not (
        job_is_pending(_slice_job_id(bulk_action.pk, bulk_action.claim_token, bulk_action.done))
        or job_is_pending(_resume_job_id(bulk_action.pk))
    )


def bulk_action_resume(*, bulk_action: BulkAction) -> bool:
    """Queue the job of an action whose job is lost (a crashed worker, a restarted web
    process): it takes the action over and goes on where the last recorded batch ended.
    Anything else is left alone; returns whether a job was queued. Raises
    BulkActionNotQueued when the queue refuses."""
    if not bulk_action_is_stalled(bulk_action):
        return False
    try:
        enqueue_job(JOB, bulk_action.pk, "", job_id=_resume_job_id(bulk_action.pk))
    except JobNotQueued as exc:
        raise BulkActionNotQueued(str(exc), bulk_action_id=bulk_action.pk) from exc
    return True


def bulk_actions_recover(*, now: datetime | None = None) -> list[int]:
    """Queue again the job of every action nobody executes any more: running or cancelling
    with no heartbeat for BulkAction.STALE_AFTER and no job of theirs waiting in RQ, or
    queued for longer than QUEUED_STALE_AFTER with their job gone from RQ. The job's claim is
    a compare-and-set, so a job queued twice runs the action once. Returns the ids of the
    actions whose job was queued."""
    now = now or timezone.now()
    stalled = _without_selection().filter(
        status__in=(BulkAction.Status.RUNNING, BulkAction.Status.CANCELLING),
        heartbeat_at__lt=now - BulkAction.STALE_AFTER,
    )
    lost = BulkAction.objects.filter(
        status=BulkAction.Status.QUEUED, requested_at__lt=now - QUEUED_STALE_AFTER
    ).values_list("pk", flat=True)
    recovered = []
    for bulk_action in stalled:
        try:
            if bulk_action_resume(bulk_action=bulk_action):
                recovered.append(bulk_action.pk)
        except BulkActionNotQueued:
            logger.warning("Bulk action %s: not resumed; the next sweep tries.", bulk_action.pk)
    for pk in lost:
        if job_is_pending(_start_job_id(pk)):
            continue
        try:
            enqueue_job(JOB, pk, "", job_id=_start_job_id(pk))
        except JobNotQueued:
            logger.warning("Bulk action %s: not queued again; the next sweep tries.", pk)
        else:
            recovered.append(pk)
    return recovered


def bulk_action_execute(*, bulk_action_id: int, token: str = "") -> BulkAction:
    """Execute one slice of the action. With no ``token``, claim it first: a queued action
    starts; one whose job went quiet is taken over and resumed after its last recorded batch;
    anything else is left alone. With a token, go on only while it is still the action's.

    Works batch by batch (each batch's counts are written with its end), for at most
    SLICE_SECONDS, then queues the next slice. Stops before a batch when the action is being
    cancelled. Never raises for an item; a failure of the action itself marks it failed."""
    if not token:
        token = _claim(bulk_action_id)
    bulk = _without_selection().select_related("requested_by").get(pk=bulk_action_id)
    if not token or bulk.claim_token != token or not bulk.is_active:
        return bulk
    try:
        _Execution(bulk, token).execute()
    except _ClaimLost:
        logger.info("Bulk action %s: taken over by another job; this one stops.", bulk.pk)
    except Exception as exc:
        logger.exception("Bulk action %s failed", bulk.pk)
        _end(bulk.pk, token, BulkAction.Status.FAILED, error=f"The action stopped: {exc}")
    return _without_selection().get(pk=bulk_action_id)


def bulk_actions_visible_to(user: AbstractBaseUser) -> QuerySet[BulkAction]:
    """The bulk actions ``user`` may look at: their own; staff see everyone's."""
    rows = _without_selection().select_related("requested_by")
    return rows if user.is_staff else rows.filter(requested_by=user)


def bulk_actions_recent(user: AbstractBaseUser, *, limit: int = 20) -> list[BulkAction]:
    """``user``'s most recent bulk actions, newest first (staff: everyone's)."""
    return list(bulk_actions_visible_to(user).order_by("-requested_at", "-id")[:limit])


def bulk_action_merges(bulk_action: BulkAction, *, limit: int = MERGES_LISTED) -> list[Merge]:
    """The merges a bulk merge queued, by record, each as it stands now (applied, stopped
    half-way, undone...): the progress page lists them, so that one that stopped is found and
    resumed or undone. At most ``limit``; none for any other action."""
    if (
        bulk_action.action != BulkAction.Action.MERGE_BEST
        or bulk_action.started_at is None
        or bulk_action.requested_by is None
    ):
        return []
    chosen = BulkAction.objects.filter(pk=bulk_action.pk).values_list("item_ids", flat=True)
    sources_of: dict[int, list[str]] = {}
    for flow_id, source_id in ReviewItem.objects.filter(pk__in=chosen.get() or []).values_list(
        "flow_id", "source_id"
    ):
        sources_of.setdefault(flow_id, []).append(source_id)
    if not sources_of:
        return []
    records = Q()
    for flow_id, source_ids in sources_of.items():
        records |= Q(flow_id=flow_id, source_id__in=source_ids)
    return list(
        Merge.objects.filter(
            records,
            requested_by=actor_for(bulk_action.requested_by),
            requested_at__gte=bulk_action.started_at,
        ).order_by("source_id", "-requested_at")[:limit]
    )


# --- the job ---------------------------------------------------------------------------------


class _ClaimLost(Exception):
    """Another job owns the action now (it was taken over as abandoned): stop writing to it."""


def _without_selection() -> QuerySet[BulkAction]:
    # item_ids can hold hundreds of thousands of ids: only the job reads it.
    return BulkAction.objects.defer("item_ids")


# RQ job ids, so that recovery can ask RQ whether an action's job is still waiting.
def _start_job_id(bulk_action_id: int) -> str:
    return f"review-bulk-action-{bulk_action_id}"


def _slice_job_id(bulk_action_id: int, token: str, done: int) -> str:
    # A slice is queued by the slice before it, while that one still runs: each has its own id
    # (by how far the action stood), never the id of the job that queues it.
    return f"review-bulk-action-{bulk_action_id}-{token}-{done}"


def _resume_job_id(bulk_action_id: int) -> str:
    return f"review-bulk-action-{bulk_action_id}-resume"


def _claim(bulk_action_id: int) -> str:
    """Compare-and-set: queued -> running, or a quiet running/cancelling action taken over,
    under a new token. The token, or "" when there is nothing to claim."""
    token = secrets.token_hex(16)
    now = timezone.now()
    rows = BulkAction.objects.filter(pk=bulk_action_id)
    if rows.filter(status=BulkAction.Status.QUEUED).update(
        status=BulkAction.Status.RUNNING, claim_token=token, started_at=now, heartbeat_at=now
    ):
        return token
    # The heartbeat in the condition makes the takeover itself a compare-and-set: of two jobs
    # that find the action quiet, the second finds the first one's fresh heartbeat.
    if rows.filter(
        status__in=(BulkAction.Status.RUNNING, BulkAction.Status.CANCELLING),
        heartbeat_at__lt=now - BulkAction.STALE_AFTER,
    ).update(claim_token=token, heartbeat_at=now, resumes=F("resumes") + 1):
        logger.warning("Bulk action %s went quiet; resuming it.", bulk_action_id)
        return token
    return ""


def _end(bulk_action_id: int, token: str, status: str, *, error: str = "") -> None:
    now = timezone.now()
    BulkAction.objects.filter(
        pk=bulk_action_id, claim_token=token, status__in=BulkAction.ACTIVE_STATUSES
    ).update(status=status, error=error, finished_at=now, heartbeat_at=now)


class _Execution:
    def __init__(self, bulk: BulkAction, token: str) -> None:
        self.bulk, self.token = bulk, token
        self.rows = BulkAction.objects.filter(pk=bulk.pk, claim_token=token)
        self.assignee: AbstractBaseUser | None = None  # of an assign action, once read

    def execute(self) -> None:
        bulk, user = self.bulk, self.bulk.requested_by
        # Checked again by the job: a person who lost the right to act since asking (or left)
        # does not go on acting through a job.
        if user is None or not user.is_active or not user.has_perm(ACT_PERMISSION):
            who = user.get_username() if user else "The person who asked"
            self._end(
                BulkAction.Status.FAILED,
                error=f"{who} may no longer act on review items: nothing more was done.",
            )
            return
        ids = self._selection()
        if ids is None:
            return
        deadline = time.monotonic() + SLICE_SECONDS
        while True:
            status = self._current_status()
            if status not in (BulkAction.Status.RUNNING, BulkAction.Status.CANCELLING):
                return  # cancelled while quiet, or finished by someone else
            if bulk.done >= len(ids):
                self._end(self._outcome())
                return
            if status == BulkAction.Status.CANCELLING:
                self._end(BulkAction.Status.CANCELLED)
                return
            self._apply_batch(ids[bulk.done : bulk.done + BATCH_SIZE])
            # After the batch, not before it: every job moves the action on.
            if bulk.done < len(ids) and time.monotonic() >= deadline:
                self._queue_next_slice()
                return

    def _selection(self) -> list[int] | None:
        """The item ids to act on, in the order they are done (by id); resolved from the
        filters the first time (the ids are then kept, so a resumed job walks the very same
        list). None when the filters can no longer be applied (the action is then failed)."""
        bulk = self.bulk
        if bulk.selection_frozen_at is not None:
            ids = BulkAction.objects.values_list("item_ids", flat=True).get(pk=bulk.pk)
            return ids
        # Frozen here, at the job's start: one statement (one snapshot of the table), read in
        # batches from its cursor, in the list's order (its indexes serve it), and no item
        # created after the request (its id is above the bound). Items changed since the request are
        # taken as they are now: the filters are applied here, not at the request.
        filterset = bulk_selection_filter(bulk.filter_query, bulk.requested_by)
        problems = _selection_problems(filterset)
        if problems:
            self._end(
                BulkAction.Status.FAILED,
                error=f"Nothing done: the filters cannot be applied ({'; '.join(problems)}).",
            )
            return None
        ids: list[int] = []
        if bulk.selection_bound_id is not None:
            selected = filterset.qs.filter(id__lte=bulk.selection_bound_id).order_by(
                "-last_seen", "-id"
            )
            ids = list(selected.values_list("id", flat=True).iterator(chunk_size=2000))
            # Done in id order, as ticked items are: two actions on the same items then take
            # the records' locks in the same order, and a batch done together cannot wait on
            # another that waits on it.
            ids.sort()
        now = timezone.now()
        if not self.rows.update(
            item_ids=ids, total=len(ids), selection_frozen_at=now, heartbeat_at=now
        ):
            raise _ClaimLost
        bulk.total = len(ids)
        return ids

    def _current_status(self) -> str:
        found = self.rows.values_list("status", flat=True).first()
        if found is None:
            raise _ClaimLost
        return found

    def _apply_batch(self, ids: list[int]) -> None:
        """Apply the action to the items ``ids`` (in order), or to as many of them as
        BEAT_SECONDS allows, and record the batch's counts; bulk.done moves past them.

        Dismissals (and assignments) of a batch commit together with its counts: one commit
        a batch instead of one an item (a WAL flush each on PostgreSQL), and a crash loses the
        whole batch or none of it, so a resumed job counts each item once. They are written
        together too (_apply_together), and item by item only when that fails. Retries commit
        one by one: each queues its retry job when its own transaction commits."""
        bulk = self.bulk
        together = bulk.action in (BulkAction.Action.DISMISS, BulkAction.Action.ASSIGN)
        tally = {"succeeded": 0, "refused": 0, "failed": 0}
        refusals = list(bulk.refusals)
        with transaction.atomic() if together else nullcontext():
            if together:
                outcomes = self._apply_together(ids)
            else:
                outcomes = self._apply_each(ids, savepoint=False)
            for outcome in outcomes:
                tally[outcome.outcome] += 1
                if outcome.reason and len(refusals) < BulkAction.MAX_REFUSALS:
                    refusals.append(
                        {
                            "item_id": outcome.item_id,
                            "source_id": outcome.source_id,
                            "reason": outcome.reason,
                        }
                    )
            processed = len(outcomes)
            if not self.rows.update(
                done=F("done") + processed,
                succeeded=F("succeeded") + tally["succeeded"],
                refused=F("refused") + tally["refused"],
                failed=F("failed") + tally["failed"],
                refusals=refusals,
                heartbeat_at=timezone.now(),
            ):
                raise _ClaimLost  # and a batch done together is undone: the new owner does it
        bulk.done += processed
        bulk.succeeded += tally["succeeded"]
        bulk.refused += tally["refused"]
        bulk.failed += tally["failed"]
        bulk.refusals = refusals

    def _apply_each(self, ids: list[int], *, savepoint: bool) -> list["_Outcome"]:
        """Each item through the service a person's click calls, one after the other (in a
        savepoint each when ``savepoint``); stops early after BEAT_SECONDS: a batch of slow
        items (each looked up in the target) ends early, and its commit is the heartbeat."""
        items = (
            ReviewItem.objects.select_related("flow")
            .defer("source_snapshot", "payload", "target_response")
            .in_bulk(ids)
        )
        outcomes = []
        began = time.monotonic()
        for item_id in ids:
            item = items.get(item_id)
            if item is None:
                outcomes.append(_Outcome(item_id, "", "refused", _GONE))
            else:
                outcome, reason = self._apply_one(item, savepoint=savepoint)
                outcomes.append(_Outcome(item_id, item.source_id, outcome, reason))
            if time.monotonic() - began >= BEAT_SECONDS:
                break
        return outcomes

    def _apply_together(self, ids: list[int]) -> list["_Outcome"]:
        """A dismissal or an assignment of the batch's items with a few statements for the
        whole batch (_Together), in a savepoint. Should the batch's writes fail (a deadlock, a
        bug), the savepoint is rolled back and every item goes through its service one by one,
        in a savepoint each, as an item's refusal or failure must not stop the others."""
        try:
            with transaction.atomic():
                return _Together(self).apply(ids)
        except _ThroughService:
            return self._apply_each(ids, savepoint=True)
        except Exception:
            logger.warning(
                "Bulk action %s: a batch of %d items could not be written together; item by "
                "item instead.",
                self.bulk.pk,
                len(ids),
                exc_info=True,
            )
            return self._apply_each(ids, savepoint=True)

    def _apply_one(self, item: ReviewItem, *, savepoint: bool) -> tuple[str, str]:
        """("succeeded" | "refused" | "failed", the reason). Never raises for the item."""
        try:
            with transaction.atomic() if savepoint else nullcontext():
                try:
                    self._apply(item)
                except ItemChanged as exc:
                    return "refused", exc.in_bulk()
                except ActionNotAllowed as exc:
                    # Caught inside the savepoint: what the service did before refusing is
                    # kept (a dismissal that finds the record's lost create links it, and
                    # says so).
                    return "refused", str(exc)
        except JobNotQueued as exc:
            return "refused", str(exc)
        except Exception as exc:
            # A bug on one record: its savepoint is rolled back, the others still get the
            # action.
            logger.exception("Bulk action %s: item %s failed", self.bulk.pk, item.pk)
            return "failed", f"Failed unexpectedly: {exc}"
        return "succeeded", ""

    def _apply(self, item: ReviewItem) -> None:
        bulk, user = self.bulk, self.bulk.requested_by
        if bulk.action == BulkAction.Action.RETRY:
            review_item_retry(item=item, user=user)
        elif bulk.action == BulkAction.Action.DISMISS:
            review_item_dismiss(item=item, user=user, reason=bulk.parameters.get("reason", ""))
        elif bulk.action == BulkAction.Action.ASSIGN:
            review_item_assign(item=item, user=user, assignee=self._assignee())
        elif bulk.action == BulkAction.Action.LINK_BEST:
            review_item_link_best(
                item=item, user=user, min_score=float(bulk.parameters.get("min_score", 1.0))
            )
        elif bulk.action == BulkAction.Action.MERGE_BEST:
            review_item_merge_best(
                item=item,
                user=user,
                min_score=float(bulk.parameters.get("min_score", 1.0)),
                rule=str(bulk.parameters.get("rule", "")),
            )
        else:
            raise ActionNotAllowed(f"Unknown bulk action {bulk.action!r}.")

    def _assignee(self) -> AbstractBaseUser | None:
        """Whom an assign action gives the items to (``parameters["assignee_id"]``; None:
        nobody). Read once per job, so that their permissions are cached on them too."""
        assignee_id = self.bulk.parameters.get("assignee_id")
        if assignee_id is None:
            return None
        if self.assignee is None:
            users = get_user_model().objects.filter(pk=assignee_id, is_active=True)
            self.assignee = users.first()
        if self.assignee is None:
            raise ActionNotAllowed("The person to assign to no longer exists or is inactive.")
        return self.assignee

    def _outcome(self) -> str:
        if self.bulk.refused or self.bulk.failed:
            return BulkAction.Status.SUCCEEDED_WITH_FAILURES
        return BulkAction.Status.SUCCEEDED

    def _end(self, status: str, *, error: str = "") -> None:
        _end(self.bulk.pk, self.token, status, error=error)

    def _queue_next_slice(self) -> None:
        """From the job, where nobody waits for an answer: if the queue refuses, the heartbeat
        goes stale and the action is resumed by the recovery sweep or from its page."""
        try:
            job_id = _slice_job_id(self.bulk.pk, self.token, self.bulk.done)
            enqueue_job(JOB, self.bulk.pk, self.token, job_id=job_id)
        except JobNotQueued:
            logger.warning("Bulk action %s: next slice not queued; to resume.", self.bulk.pk)


@dataclass(frozen=True)
class _Outcome:
    """What became of one item of a batch: "succeeded", "refused" or "failed", and why."""

    item_id: int
    source_id: str
    outcome: str
    reason: str = ""


_GONE = "The item no longer exists."


class _ThroughService(Exception):
    """The item (or the batch) needs the item-by-item path: see _Together."""


class _Together:
    """One batch of a dismissal or an assignment in a few statements whatever its size: the
    records' locks and the rows' (one statement each), one UPDATE of the items that change,
    then their history rows, their events and, for a dismissal, their audit entries (one
    INSERT each), where the item-by-item path spent ten statements and two savepoints an item:
    bench/queue_list.py measures both, at a million items.

    Each item is checked as its service checks it, with the same outcome and the same refusal
    (review_item_dismiss and review_item_assign in review_queue/services.py: keep these in
    step), and changed as the service changes it: status, version, one event, history, audit.
    An item whose dismissal must first ask the target for a create whose answer was lost
    (retries exhausted) goes through review_item_dismiss itself, in a savepoint."""

    def __init__(self, execution: _Execution) -> None:
        self.execution = execution
        self.bulk = execution.bulk
        self.user = execution.bulk.requested_by
        self.actor = actor_for(self.user)
        self.now = timezone.now()
        self.events: list[ReviewItemEvent] = []
        self.audit_entries: list[AuditEntry] = []

    def apply(self, ids: list[int]) -> list[_Outcome]:
        dismiss = self.bulk.action == BulkAction.Action.DISMISS
        try:
            assignee = None if dismiss else self.execution._assignee()
        except ActionNotAllowed:
            # Nobody to give the items to: each item is refused by the item-by-item path,
            # with the reason and the item's record, before anything is locked.
            raise _ThroughService from None
        # Whether the assignee may act: asked once for the batch, not once an item.
        may_act = assignee is None or assignee.has_perm(ACT_PERMISSION)
        postgresql = connection.vendor == "postgresql"
        if postgresql:
            _hold_record_locks(
                ReviewItem.objects.filter(pk__in=ids)
                .order_by("pk")
                .values_list("flow_id", "source_id")
            )
        items = _locked_items(ids, with_payload=dismiss)
        outcomes: list[_Outcome] = []
        changed: list[ReviewItem] = []
        began = time.monotonic()
        for item_id in ids:
            item = items.get(item_id)
            if item is None:
                outcomes.append(_Outcome(item_id, "", "refused", _GONE))
                continue
            # PostgreSQL: the batch holds every record's lock already. SQLite: this process's
            # lock of the record, as the service takes it (its transactions are IMMEDIATE:
            # nobody else writes to the database until the batch commits).
            with nullcontext() if postgresql else record_lock(item.flow_id, item.source_id):
                try:
                    if dismiss:
                        change = self._dismissal(item)
                    else:
                        change = self._assignment(item, assignee, may_act=may_act)
                except ActionNotAllowed as exc:
                    outcomes.append(_Outcome(item_id, item.source_id, "refused", str(exc)))
                except _ThroughService:
                    outcome, reason = self.execution._apply_one(item, savepoint=True)
                    outcomes.append(_Outcome(item_id, item.source_id, outcome, reason))
                except Exception as exc:
                    # A bug on one item: nothing of it was written yet; the others go on.
                    logger.exception("Bulk action %s: item %s failed", self.bulk.pk, item_id)
                    outcomes.append(
                        _Outcome(item_id, item.source_id, "failed", f"Failed unexpectedly: {exc}")
                    )
                else:
                    outcomes.append(_Outcome(item_id, item.source_id, "succeeded"))
                    if change:
                        changed.append(item)
            # Only the items that went through their service take long (a look-up in the
            # target each): the batch ends early, and its commit is the heartbeat.
            if time.monotonic() - began >= BEAT_SECONDS:
                break
        self._write(changed, assignee=assignee)
        return outcomes

    def _dismissal(self, item: ReviewItem) -> bool:
        """review_item_dismiss's checks and change, in memory. Whether the item changes."""
        if item.status == ReviewItem.Status.DISMISSED:
            return False
        if item.kind == FailureKind.RETRIES_EXHAUSTED and item.is_actionable:
            raise _ThroughService
        _require_actionable(item, "dismissed")
        reason = self.bulk.parameters.get("reason", "")
        item.status = ReviewItem.Status.DISMISSED
        item.resolution = reason
        item.closed_at = self.now
        item.version += 1
        self.events.append(
            ReviewItemEvent(
                item=item,
                action=ReviewItemEvent.Action.DISMISSED,
                actor=self.actor,
                note=reason,
                item_version=item.version,
            )
        )
        self.audit_entries.append(
            AuditEntry(
                flow_id=item.flow_id,
                source_id=item.source_id,
                action=AuditEntry.Action.DISMISS,
                payload=item.payload or {},  # stored masked by the pipeline
                outcome=AuditEntry.Outcome.SKIPPED,
                failure_kind=item.kind,
                failure_reason=f"Dismissed: {reason}",
                actor=self.actor,
            )
        )
        return True

    def _assignment(
        self, item: ReviewItem, assignee: AbstractBaseUser | None, *, may_act: bool
    ) -> bool:
        """review_item_assign's checks and change, in memory. Whether the item changes."""
        if item.assignee_id == (assignee.pk if assignee else None):
            return False
        _require_actionable(item, "assigned")
        if assignee is not None and not may_act:
            raise ActionNotAllowed(f"{assignee.get_username()} may not act on review items.")
        action, note, details = assignment_change(item, assignee)
        self.events.append(
            ReviewItemEvent(
                item=item,
                action=action,
                actor=self.actor,
                note=note,
                details=details,
                item_version=item.version,
            )
        )
        return True

    def _write(self, changed: list[ReviewItem], *, assignee: AbstractBaseUser | None) -> None:
        """The changed items as their services' save() would leave them (every one changes
        the same columns the same way, and its version by one), with their history rows (as
        save() writes them: same user, same reason), events and audit entries."""
        if not changed:
            return
        rows = ReviewItem.objects.filter(pk__in=[item.pk for item in changed])
        if self.bulk.action == BulkAction.Action.DISMISS:
            rows.update(
                status=ReviewItem.Status.DISMISSED,
                resolution=self.bulk.parameters.get("reason", ""),
                closed_at=self.now,
                version=F("version") + 1,
            )
        else:
            rows.update(assignee=assignee, status=changed[0].status, version=F("version") + 1)
        ReviewItem.history.bulk_history_create(changed, update=True, default_change_reason=None)
        ReviewItemEvent.objects.bulk_create(self.events)
        AuditEntry.objects.bulk_create(self.audit_entries)


def _locked_items(ids: list[int], *, with_payload: bool) -> dict[int, ReviewItem]:
    """The items ``ids``, their rows locked for the transaction (not their flows' or their
    assignees'), with every column their history copies (a column left out would be read
    again, an item at a time, when the history row is made), and the payload if asked."""
    tracked = {field.name for field in ReviewItem.history.model.tracked_fields}
    if with_payload:
        tracked.add("payload")
    untracked = [f.name for f in ReviewItem._meta.concrete_fields if f.name not in tracked]
    return (
        ReviewItem.objects.select_for_update(of=("self",))
        .select_related("flow", "assignee")
        .defer(*untracked)
        .in_bulk(ids)
    )


def _hold_record_locks(keys) -> None:
    """PostgreSQL: take the locks of the records ``keys`` (flow id, source id), as record_lock
    does, for the rest of the transaction, in the order given, in one statement. A volatile
    function in the select list runs after the ORDER BY: the locks are taken in that order,
    so two batches over the same items cannot each hold a lock the other waits for."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(t.key) "
            "FROM unnest(%s::bigint[]) WITH ORDINALITY AS t(key, n) ORDER BY t.n",
            [[record_lock_key(flow_id, source_id) for flow_id, source_id in keys]],
        )
