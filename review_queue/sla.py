"""Service levels of the queue: when an item's SLA runs out, and who is told when it did.

An item's SLA comes from the most specific active ReviewSla for its flow and kind; its due time
is its first failure plus the rule's time. It is set when the item opens (or its kind changes)
and recomputed, in batches, when a rule is saved or deleted. Every five minutes (RQ's cron) the
breaches nobody has been told of are e-mailed: one message per recipient, listing its items."""

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, Value
from django.urls import reverse
from django.utils import timezone

from integration_console import roles

from .models import ReviewItem, ReviewItemEvent, ReviewSla

logger = logging.getLogger(__name__)

APPLY_BATCH = 1000
ESCALATE_BATCH = 500
# A run of the escalation job tells about at most this many breaches; the rest, the next run
# (five minutes later), so that one run stays well inside RQ's job timeout.
ESCALATE_MAX_PER_RUN = 5000
ACTOR = "job:review_sla"


def review_sla_rules() -> list[ReviewSla]:
    """Every active rule: a short table, read once per batch of work."""
    return list(ReviewSla.objects.filter(active=True))


def review_sla_for(
    rules: Iterable[ReviewSla], *, flow_id: int | None, kind: str
) -> ReviewSla | None:
    """The rule that covers items of this flow and kind: the most specific of those that
    match (flow and kind > flow > kind > the default), or None."""
    matching = [
        rule for rule in rules if rule.flow_id in (None, flow_id) and rule.kind in ("", kind)
    ]
    return max(matching, key=lambda rule: rule.specificity, default=None)


def review_sla_due_at(*, flow_id: int, kind: str, opened_at: datetime) -> datetime | None:
    """When an item of this flow and kind, opened at ``opened_at``, is past its SLA (one
    query). For review_item_record_failure, when an item opens or its kind changes."""
    rules = ReviewSla.objects.filter(
        Q(flow_id=flow_id) | Q(flow__isnull=True), Q(kind=kind) | Q(kind=""), active=True
    )
    rule = review_sla_for(rules, flow_id=flow_id, kind=kind)
    return None if rule is None else opened_at + rule.within


def review_sla_apply(
    *, flow_id: int | None = None, kind: str = "", batch_size: int = APPLY_BATCH
) -> int:
    """Recompute the due time of the active items in a rule's scope (``flow_id`` None: every
    flow; ``kind`` empty: every kind), after that rule was added, changed or deleted: each gets
    the due time of whichever rule now covers it, or none. Closed items keep theirs.

    Idempotent. Each batch (by id, so a long apply holds no lock for long) commits on its own,
    with one UPDATE per flow and kind found in it. Returns the number of items it went through.
    """
    rules = review_sla_rules()
    items = ReviewItem.objects.filter(status__in=ReviewItem.ACTIVE_STATUSES)
    if flow_id is not None:
        items = items.filter(flow_id=flow_id)
    if kind:
        items = items.filter(kind=kind)
    seen = 0
    last_id = 0
    while True:
        batch = list(
            items.filter(id__gt=last_id)
            .order_by("id")
            .values_list("id", "flow_id", "kind")[:batch_size]
        )
        if not batch:
            return seen
        by_scope: dict[tuple[int, str], list[int]] = defaultdict(list)
        for pk, item_flow_id, item_kind in batch:
            by_scope[(item_flow_id, item_kind)].append(pk)
        with transaction.atomic():
            for (item_flow_id, item_kind), ids in by_scope.items():
                rule = review_sla_for(rules, flow_id=item_flow_id, kind=item_kind)
                due = (
                    None
                    if rule is None
                    else ExpressionWrapper(
                        F("first_seen") + Value(rule.within), output_field=DateTimeField()
                    )
                )
                # Status again: an item closed since the batch was read keeps its due time.
                ReviewItem.objects.filter(id__in=ids, status__in=ReviewItem.ACTIVE_STATUSES).update(
                    sla_due_at=due
                )
        seen += len(batch)
        last_id = batch[-1][0]


def review_sla_apply_after_change(*, scopes: Iterable[tuple[int | None, str]]) -> int:
    """review_sla_apply for the scopes (flow id or None, kind or "") of a rule before and
    after a change; each item once, as a scope inside another is left to the larger one."""
    scopes = set(scopes)

    def covers(outer: tuple[int | None, str], inner: tuple[int | None, str]) -> bool:
        return outer[0] in (None, inner[0]) and outer[1] in ("", inner[1])

    widest = [s for s in scopes if not any(o != s and covers(o, s) for o in scopes)]
    return sum(review_sla_apply(flow_id=flow_id, kind=kind) for flow_id, kind in widest)


def review_items_past_sla(items, *, now: datetime | None = None):
    """The items of ``items`` that still need attention and whose SLA ran out: a range of the
    partial index review_item_active_sla."""
    return items.filter(status__in=ReviewItem.ACTIVE_STATUSES, sla_due_at__lt=now or timezone.now())


def review_items_to_escalate(*, now: datetime):
    """The breaches nobody was told of, oldest first: the partial index
    review_item_sla_unescalated in its order."""
    return ReviewItem.objects.filter(
        status__in=ReviewItem.ACTIVE_STATUSES,
        sla_due_at__isnull=False,
        sla_due_at__lt=now,
        escalated_at__isnull=True,
    ).order_by("sla_due_at", "id")


@dataclass
class Escalation:
    """What one run of review_sla_escalate did."""

    mailed: dict[str, list[int]] = field(default_factory=dict)  # addresses -> item ids
    unaddressed: list[int] = field(default_factory=list)  # breaches nobody could be told of
    not_sent: dict[str, list[int]] = field(default_factory=dict)  # left for the next run

    @property
    def items(self) -> int:
        return sum(map(len, self.mailed.values())) + len(self.unaddressed)


def review_sla_escalate(
    *,
    now: datetime | None = None,
    batch_size: int = ESCALATE_BATCH,
    limit: int = ESCALATE_MAX_PER_RUN,
) -> Escalation:
    """E-mail each breach of an SLA once: the active items past their due time that were not
    escalated yet, oldest breach first, grouped per recipient into one message each. The
    recipient of an item is its assignee (with an e-mail address), else its rule's
    ``escalate_to``, else the business owners with an e-mail address; a breach with none of
    them is marked escalated all the same, with an event that says nobody could be told.

    Each recipient's items are claimed (rows locked, skipping those another run holds),
    marked, given an ``escalated`` event and mailed in one transaction: a mail that cannot be
    sent (logged, in ``not_sent``) leaves its items for the next run and the other recipients'
    mails go on; two runs at once never mail one breach twice.
    The queries grow with the batches and the recipients, never with the items one by one.
    """
    now = now or timezone.now()
    rules = review_sla_rules()
    pending = review_items_to_escalate(now=now)
    per_recipient: dict[tuple[str, ...], list[int]] = defaultdict(list)
    unaddressed: list[int] = []
    business_owners: tuple[str, ...] | None = None
    after: tuple[datetime, int] | None = None
    read = 0
    while read < limit:
        rows = pending.values_list("id", "sla_due_at", "flow_id", "kind", "assignee__email")
        if after is not None:
            rows = rows.filter(Q(sla_due_at__gt=after[0]) | Q(sla_due_at=after[0], id__gt=after[1]))
        batch = list(rows[: min(batch_size, limit - read)])
        if not batch:
            break
        for pk, _due, flow_id, kind, assignee_email in batch:
            rule = review_sla_for(rules, flow_id=flow_id, kind=kind)
            if assignee_email:
                per_recipient[(assignee_email,)].append(pk)
            elif rule is not None and rule.escalate_to:
                per_recipient[(rule.escalate_to,)].append(pk)
            else:
                if business_owners is None:
                    business_owners = _business_owner_emails()
                if business_owners:
                    per_recipient[business_owners].append(pk)
                else:
                    unaddressed.append(pk)
        read += len(batch)
        after = (batch[-1][1], batch[-1][0])

    done = Escalation()
    for recipients, ids in per_recipient.items():
        try:
            mailed = _escalate_to(recipients, ids, now=now, batch_size=batch_size)
        except Exception:
            # One address the mail server refuses must not hold back everyone else's.
            logger.exception("Could not e-mail %s about %d SLA breaches", recipients, len(ids))
            done.not_sent[", ".join(recipients)] = list(ids)
            continue
        if mailed:
            done.mailed[", ".join(recipients)] = mailed
    if unaddressed:
        done.unaddressed = _escalate_to([], unaddressed, now=now, batch_size=batch_size)
        logger.warning(
            "%d review items are past their SLA and nobody could be told: no assignee, no "
            "address on their SLA, no business owner with an e-mail address.",
            len(done.unaddressed),
        )
    return done


def _business_owner_emails() -> tuple[str, ...]:
    """The data's owners as people: ownership rules name a system, not a person, so a breach
    nobody else is named for goes to the business-owner role."""
    users = (
        get_user_model()
        .objects.filter(groups__name=roles.BUSINESS_OWNER, is_active=True)
        .exclude(email="")
    )
    return tuple(sorted(set(users.values_list("email", flat=True))))


def _escalate_to(
    recipients: Sequence[str], ids: Sequence[int], *, now: datetime, batch_size: int
) -> list[int]:
    """Claim, mark and record the items of ``ids`` still to escalate, and mail them to
    ``recipients`` (nobody, if empty), in one transaction. Returns the items it escalated."""
    to = ", ".join(recipients)
    note = f"Past its SLA; e-mailed to {to}." if to else "Past its SLA; nobody to e-mail."
    with transaction.atomic():
        claimed: list[ReviewItem] = []
        for start in range(0, len(ids), batch_size):
            claimed += (
                ReviewItem.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(
                    id__in=ids[start : start + batch_size],
                    status__in=ReviewItem.ACTIVE_STATUSES,
                    escalated_at__isnull=True,
                )
                .select_related("flow")
                .only(
                    "id",
                    "source_id",
                    "kind",
                    "reason",
                    "sla_due_at",
                    "first_seen",
                    "version",
                    "flow",
                    "flow__name",
                )
                .order_by("sla_due_at", "id")
            )
        if not claimed:
            return []
        claimed_ids = [item.pk for item in claimed]
        for start in range(0, len(claimed_ids), batch_size):
            ReviewItem.objects.filter(id__in=claimed_ids[start : start + batch_size]).update(
                escalated_at=now
            )
        # Not a change of the item's data: its version stays, so an operator working on it
        # is not told "changed since you opened it" because a reminder went out.
        ReviewItemEvent.objects.bulk_create(
            [
                ReviewItemEvent(
                    item=item,
                    action=ReviewItemEvent.Action.ESCALATED,
                    actor=ACTOR,
                    note=note,
                    details={"sla_due_at": item.sla_due_at.isoformat(), "to": list(recipients)},
                    item_version=item.version,
                )
                for item in claimed
            ],
            batch_size=batch_size,
        )
        if recipients:
            subject, body = _message(claimed, now=now)
            send_mail(subject, body, None, list(recipients))
    return claimed_ids


def _message(items: Sequence[ReviewItem], *, now: datetime) -> tuple[str, str]:
    base = settings.CONSOLE_BASE_URL.rstrip("/")
    count = len(items)
    subject = (
        f"{count} review item{'s' if count != 1 else ''} past {'its' if count == 1 else 'their'}"
        " SLA"
    )
    lines = [
        f"{'This item has' if count == 1 else 'These items have'} waited longer than "
        f"{'its' if count == 1 else 'their'} SLA allows:",
        "",
    ]
    for item in items:
        late = _duration(now - item.sla_due_at)
        lines += [
            f"- {item.source_id} ({item.flow.name}, {item.get_kind_display()}): past its SLA "
            f"by {late}, waiting {_duration(now - item.first_seen)}",
            f"  {item.reason[:200]}",
            f"  {base}{reverse('review_queue:item_detail', args=[item.pk])}",
        ]
    lines += [
        "",
        f"Every item past its SLA: {base}{reverse('review_queue:item_list')}?past_sla=1",
    ]
    return subject, "\n".join(lines) + "\n"


def _duration(span: timedelta) -> str:
    minutes = max(0, int(span.total_seconds()) // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"
