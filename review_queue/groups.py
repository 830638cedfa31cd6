"""Review items grouped by cause: the items that need attention and share a fingerprint
(review_queue/fingerprints.py) are one group. The groups page's reads, the actions on a whole
group (each one bulk action), and "fix the rule": a draft of the flow's field map, whose
approval retries the group's records.

The groups are never stored: one GROUP BY over the partial index ``review_item_active_cause``
(fingerprint, -last_seen, -id, first_seen, flow, kind on the active items) counts them, read
from the index alone, and the page's examples are a second query by primary key.
"""

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Self
from urllib.parse import urlencode

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone

from integration_console.catalog.models import FieldMap, FieldMapVersion, FieldRule
from integration_console.catalog.services import field_map_version_draft
from integration_console.sync.dispatch import JobNotQueued
from integration_console.sync.failures import FailureKind
from integration_console.sync.models import Flow

from .bulk import BulkActionNotQueued, bulk_action_start
from .models import BulkAction, ReviewItem, RuleFix
from .services import ACT_PERMISSION

logger = logging.getLogger(__name__)

GROUP_PAGE_SIZE = 25
# Starting a draft of a field map is what the catalog asks of whoever does it (its admin's
# "new draft" action); business owners and admins hold it, operators do not.
FIX_RULE_PERMISSION = "catalog.add_fieldmapversion"
# What a group's example shows: never the payload-sized JSON columns.
EXAMPLE_COLUMNS = (
    "id",
    "source_id",
    "kind",
    "status",
    "reason",
    "cause",
    "field_errors",
    "fingerprint",
    "last_seen",
    "flow__name",
    "flow__field_map_id",
)
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
_IDS_PER_QUERY = 500  # ids in one IN (...): SQLite refuses more than 32,766 parameters


class GroupActionRefused(Exception):
    """Nothing in the group to act on, or no rule to fix; the message is for people."""


def is_fingerprint(text: str) -> bool:
    return bool(_FINGERPRINT.fullmatch(text))


@dataclass(frozen=True)
class GroupCursor:
    """A position in the groups' order (largest first, then by fingerprint): the group a page
    starts after. Written into the page's links as ``<count>_<fingerprint>``."""

    count: int
    fingerprint: str

    def __str__(self) -> str:
        return f"{self.count}_{self.fingerprint}"

    @classmethod
    def parse(cls, text: str) -> Self:
        """Raises ValueError, with a reason a person can read, for anything else."""
        count, _, fingerprint = text.partition("_")
        if not count.isdigit() or not is_fingerprint(fingerprint):
            raise ValueError(f"{text!r} is not a position in the groups")
        return cls(int(count), fingerprint)


@dataclass(frozen=True)
class ReviewGroup:
    """The items that need attention and share a fingerprint: how many, since when, until
    when, and the newest of them as the example (flow, kind and cause are the group's, since
    they are part of the fingerprint). ``count`` is 0 for a group whose items are all closed;
    the example is then its newest item, whatever its status."""

    fingerprint: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    example: ReviewItem

    @property
    def flow(self) -> Flow:
        return self.example.flow

    @property
    def kind(self) -> str:
        return self.example.kind

    @property
    def kind_label(self) -> str:
        return FailureKind(self.example.kind).label if self.example.kind in FailureKind else ""

    @property
    def cause(self) -> str:
        return self.example.cause or self.example.reason

    @property
    def fields(self) -> list[str]:
        errors = self.example.field_errors
        return sorted(map(str, errors)) if isinstance(errors, dict) else []


@dataclass(frozen=True)
class GroupPage:
    """One page of groups, largest first; ``next`` is where the following page starts, or
    None when this page holds the last group."""

    groups: list[ReviewGroup]
    next: GroupCursor | None

    def __iter__(self):
        return iter(self.groups)

    def __len__(self) -> int:
        return len(self.groups)


def _active() -> QuerySet[ReviewItem]:
    # The very condition of the partial indexes, so that PostgreSQL can use them.
    return ReviewItem.objects.filter(status__in=ReviewItem.ACTIVE_STATUSES)


def review_group_page(
    *,
    flow: Flow | None = None,
    kind: str = "",
    after: GroupCursor | None = None,
    size: int = GROUP_PAGE_SIZE,
) -> GroupPage:
    """The ``size`` largest groups (of ``flow``, of ``kind``) after ``after``, in two queries
    whatever the number of items: the GROUP BY, read from the index alone, and the examples
    by primary key. The order is (count desc, fingerprint), a keyset: a group that grows
    while someone pages may show twice or not at all, as in any live list."""
    rows = _active()
    if flow is not None:
        rows = rows.filter(flow=flow)
    if kind:
        rows = rows.filter(kind=kind)
    groups = (
        rows.order_by()
        .values("fingerprint")
        .annotate(
            count=Count("*"),
            first_seen=Min("first_seen"),
            last_seen=Max("last_seen"),
            example_id=Max("id"),
        )
    )
    if after is not None:
        groups = groups.filter(
            Q(count__lt=after.count) | Q(count=after.count, fingerprint__gt=after.fingerprint)
        )
    with _in_one_process():
        found = list(groups.order_by("-count", "fingerprint")[: size + 1])
    shown = found[:size]
    examples = _examples(row["example_id"] for row in shown)
    page = [
        ReviewGroup(
            fingerprint=row["fingerprint"],
            count=row["count"],
            first_seen=row["first_seen"],
            last_seen=row["last_seen"],
            example=examples[row["example_id"]],
        )
        for row in shown
        if row["example_id"] in examples  # closed between the two queries: left out
    ]
    following = None
    if len(found) > size:
        following = GroupCursor(shown[-1]["count"], shown[-1]["fingerprint"])
    return GroupPage(groups=page, next=following)


@contextmanager
def _in_one_process() -> Iterator[None]:
    """On PostgreSQL, no parallel workers for the queries inside. The planner reads the whole
    index of active items in parallel when it can, and the workers' start and the merge of
    their sorted partial groups cost more than they save: at 249,093 active items (1,000,000
    in all) the GROUP BY takes about 50 ms in parallel and 30 ms in one process. SET LOCAL
    lasts until the transaction ends, hence a transaction of its own (or the caller's)."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        yield


def review_group(fingerprint: str) -> ReviewGroup | None:
    """The group ``fingerprint``, or None when no item ever had it. Two queries: the
    aggregate (an index range) and the example."""
    if not is_fingerprint(fingerprint):
        return None
    summary = (
        _active()
        .filter(fingerprint=fingerprint)
        .aggregate(
            count=Count("*"),
            first_seen=Min("first_seen"),
            last_seen=Max("last_seen"),
            example_id=Max("id"),
        )
    )
    example = None
    if summary["count"]:
        example = _examples([summary["example_id"]]).get(summary["example_id"])
    if example is None:  # all closed (or closed a moment ago): the newest, whatever its status
        example = (
            ReviewItem.objects.filter(fingerprint=fingerprint)
            .select_related("flow")
            .only(*EXAMPLE_COLUMNS)
            .order_by("-id")
            .first()
        )
    if example is None:
        return None
    return ReviewGroup(
        fingerprint=fingerprint,
        count=summary["count"],
        first_seen=summary["first_seen"],
        last_seen=summary["last_seen"],
        example=example,
    )


def review_group_items(fingerprint: str, *, limit: int = 10) -> list[ReviewItem]:
    """The group's ``limit`` most recently seen items that need attention (an index range)."""
    return list(
        _active()
        .filter(fingerprint=fingerprint)
        .select_related("assignee")
        .only("id", "source_id", "status", "occurrences", "last_seen", "assignee__username")
        .order_by("-last_seen", "-id")[:limit]
    )


def review_group_item_ids(fingerprint: str) -> list[int]:
    """The ids of the group's items that need attention now, in one query."""
    return sorted(_active().filter(fingerprint=fingerprint).values_list("id", flat=True))


def review_group_rules(group: ReviewGroup) -> list[FieldRule]:
    """The rules of the active version of the group's field map that its failing fields name
    (by target field; for contract drift, whose fields are the source's, by source path), in
    the version's order. One query; none when the group names no field."""
    fields = set(group.fields)
    if not fields:
        return []
    rules = FieldRule.objects.filter(
        version__field_map_id=group.flow.field_map_id,
        version__status=FieldMapVersion.Status.ACTIVE,
    ).order_by("position", "id")
    by_source = group.kind == FailureKind.CONTRACT_DRIFT
    return [rule for rule in rules if _names(rule, fields, by_source=by_source)]


def _names(rule: FieldRule, fields: set[str], *, by_source: bool) -> bool:
    path = rule.source_path if by_source else rule.target_path
    return bool(path) and (path in fields or _top_field(path) in fields)


def _top_field(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def _examples(ids: Iterable[int]) -> dict[int, ReviewItem]:
    return (
        ReviewItem.objects.select_related("flow")
        .only(*EXAMPLE_COLUMNS)
        .filter(status__in=ReviewItem.ACTIVE_STATUSES)
        .in_bulk(list(ids))
    )


def _still_active(ids: list[int]) -> list[int]:
    """Which of ``ids`` still need attention, a few hundred ids a query."""
    found: list[int] = []
    for start in range(0, len(ids), _IDS_PER_QUERY):
        chunk = ids[start : start + _IDS_PER_QUERY]
        found += _active().filter(pk__in=chunk).values_list("id", flat=True)
    return sorted(found)


# --- acting on a whole group -----------------------------------------------------------------


def review_group_act(
    *,
    fingerprint: str,
    user: AbstractBaseUser,
    action: str,
    parameters: dict | None = None,
) -> BulkAction:
    """Start the bulk action ``action`` (retry, assign, dismiss) on every item of the group
    that needs attention now: their ids are read here, in one query, so an item that joins the
    group afterwards is not acted on. Answers at once; the job does the work in batches, each
    item through the same service a click on it would (review_queue/bulk.py).

    Raises GroupActionRefused, recording nothing, when no item of the group needs attention;
    BulkActionNotQueued as bulk_action_start does."""
    ids = review_group_item_ids(fingerprint) if is_fingerprint(fingerprint) else []
    if not ids:
        raise GroupActionRefused("No item of this group needs attention now: nothing was done.")
    return bulk_action_start(
        user=user,
        action=action,
        parameters=parameters or {},
        item_ids=ids,
        filter_query=urlencode({"fingerprint": fingerprint}),
    )


# --- fix the rule ------------------------------------------------------------------------------


@transaction.atomic
def rule_fix_start(*, fingerprint: str, user: AbstractBaseUser) -> RuleFix:
    """Open a draft of the group's field map in which to fix the rules its failing fields
    name, and record which group it fixes, with the group's items that need attention now.

    The draft is the one already fixing this group, if it is still a draft or waits for
    approval (its snapshot then takes in the items that joined the group since); otherwise the
    map's newest draft, whoever started it; otherwise a new draft copied from the active
    version (the catalog's field_map_version_draft). Serialised on the field map's row, so two
    people asking at once get one draft. Raises GroupActionRefused when the user may not draft
    field maps, when no item of the group needs attention, or when its failing fields name no
    rule of the active version."""
    if not user.has_perm(FIX_RULE_PERMISSION):
        raise GroupActionRefused(
            "Only someone who may draft field maps (a business owner or an admin) can fix a rule."
        )
    group = review_group(fingerprint)
    if group is None or not group.count:
        raise GroupActionRefused("No item of this group needs attention now: nothing to fix.")
    rules = review_group_rules(group)
    if not rules:
        named = ", ".join(group.fields) or "none"
        raise GroupActionRefused(
            f"The group's failing fields ({named}) name no rule of the active field map "
            f"version of {group.flow.name}: there is no rule to fix."
        )
    field_map = FieldMap.objects.select_for_update().get(pk=group.flow.field_map_id)
    ids = review_group_item_ids(fingerprint)
    targets = [rule.target_path for rule in rules]
    fix = (
        RuleFix.objects.select_for_update()
        .filter(
            fingerprint=fingerprint,
            status=RuleFix.Status.WAITING,
            draft_version__status__in=(
                FieldMapVersion.Status.DRAFT,
                FieldMapVersion.Status.SUBMITTED,
            ),
        )
        .select_related("draft_version")
        .order_by("-id")
        .first()
    )
    if fix is not None:
        fix.item_ids = sorted(set(fix.item_ids) | set(ids))
        fix.rule_targets = list(dict.fromkeys([*fix.rule_targets, *targets]))
        fix.save(update_fields=["item_ids", "rule_targets"])
        return fix
    draft = field_map.versions.filter(status=FieldMapVersion.Status.DRAFT).order_by("-number")
    draft = draft.first() or field_map_version_draft(field_map=field_map, user=user)
    return RuleFix.objects.create(
        fingerprint=fingerprint,
        flow=group.flow,
        draft_version=draft,
        rule_targets=targets,
        item_ids=ids,
        requested_by=user,
    )


def rule_fix_draft_rules(fix: RuleFix) -> list[tuple[int, FieldRule]]:
    """The rules of the fix's draft that it is about, each with its row number in the draft's
    rules as the admin lists them (its inline's ``rules-<n>`` row). One query."""
    rules = fix.draft_version.rules.order_by("position", "id")
    wanted = set(fix.rule_targets)
    return [(row, rule) for row, rule in enumerate(rules) if rule.target_path in wanted]


def review_group_rule_fixes(fingerprint: str) -> list[RuleFix]:
    """The group's rule fixes, newest first, with their drafts and re-runs."""
    return list(
        RuleFix.objects.filter(fingerprint=fingerprint)
        .select_related("draft_version__field_map", "bulk_action", "requested_by")
        .defer("item_ids", "bulk_action__item_ids")
        .order_by("-requested_at", "-id")[:10]
    )


def rule_fixes_after_approval(*, version: FieldMapVersion, user: AbstractBaseUser) -> None:
    """Called inside the approval's transaction: once it commits, re-run the groups that
    ``version`` fixes (rule_fixes_rerun). After the commit, not inside: a job queue that
    refuses the re-run must neither undo the approval nor fail the approver's request; the
    refused re-run is then recorded on its bulk action's row."""
    if not RuleFix.objects.filter(draft_version=version, status=RuleFix.Status.WAITING).exists():
        return
    transaction.on_commit(lambda: rule_fixes_rerun(version=version, user=user), robust=True)


def rule_fixes_rerun(*, version: FieldMapVersion, user: AbstractBaseUser) -> list[BulkAction]:
    """Retry exactly the records of each group that ``version`` fixes: one bulk retry per
    waiting fix, on the items of its snapshot that still need attention. Asked by the person
    who asked for the fix (the approver when that person may no longer act on items).

    Idempotent: a fix moves from waiting to re-run by a compare-and-set, so a second call (or
    a second process) starts nothing again. Returns the bulk actions started."""
    started = []
    fixes = RuleFix.objects.filter(draft_version=version, status=RuleFix.Status.WAITING)
    for fix in fixes.select_related("requested_by"):
        try:
            with transaction.atomic():
                claimed = RuleFix.objects.filter(pk=fix.pk, status=RuleFix.Status.WAITING).update(
                    status=RuleFix.Status.RERUN, rerun_at=timezone.now()
                )
                if not claimed:
                    continue
                ids = _still_active(list(fix.item_ids))
                if not ids:
                    continue
                asker = fix.requested_by
                if asker is None or not asker.is_active or not asker.has_perm(ACT_PERMISSION):
                    asker = user
                bulk = bulk_action_start(
                    user=asker,
                    action=BulkAction.Action.RETRY,
                    item_ids=ids,
                    filter_query=urlencode({"fingerprint": fix.fingerprint}),
                )
                RuleFix.objects.filter(pk=fix.pk).update(bulk_action=bulk)
                started.append(bulk)
        except (BulkActionNotQueued, JobNotQueued):
            # The bulk action's row says "not queued", and the fix links to it.
            logger.warning("Rule fix %s: the re-run of its group was not queued", fix.pk)
    return started
