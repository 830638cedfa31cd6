"""The item's timeline: its history (events), its record's audit entries and its comments,
merged newest first, each with who and when; and what changed on an item since a version."""

import heapq
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from django.db.models import Q, QuerySet
from django.utils.text import Truncator

from integration_console.sync.models import AuditEntry
from integration_console.sync.redaction import MASK, mask_payload, sensitive_fields

from .models import ReviewItem, ReviewItemComment, ReviewItemEvent

# The order of the three sources among entries written at the same instant: part of the
# timeline's order (created_at, source, id), so that a position in it is exact.
EVENT, AUDIT, COMMENT = "event", "audit", "comment"
_RANK = {AUDIT: 0, EVENT: 1, COMMENT: 2}


@dataclass(frozen=True)
class TimelineCursor:
    """A position in the timeline's order (-created_at, -source, -id): the entry a page starts
    after (or ends before). Written into the page's links as ``<created_at>_<source>_<id>``."""

    created_at: datetime
    source: str
    id: int

    def __str__(self) -> str:
        return f"{self.created_at.isoformat()}_{self.source}_{self.id}"

    @classmethod
    def parse(cls, text: str) -> Self:
        """Raises ValueError, with a reason a person can read, for anything else."""
        head, _, pk = text.rpartition("_")
        when, _, source = head.rpartition("_")
        try:
            created_at = datetime.fromisoformat(when)
            position = cls(created_at, source, int(pk))
        except ValueError:
            raise ValueError(f"{text!r} is not a position in the timeline") from None
        if source not in _RANK:
            raise ValueError(f"{text!r} is not a position in the timeline")
        if created_at.tzinfo is None:
            raise ValueError(f"{text!r} has no time zone")
        return position


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened: ``source`` says which of ``event``, ``audit_entry`` or
    ``comment`` it is. ``who`` is a person's username, or the job or system that acted. An
    audit entry's ``payload`` is shown with the data class's sensitive fields masked."""

    source: str
    created_at: datetime
    id: int
    who: str
    event: ReviewItemEvent | None = None
    audit_entry: AuditEntry | None = None
    comment: ReviewItemComment | None = None
    payload: dict[str, Any] | None = None

    @property
    def cursor(self) -> TimelineCursor:
        return TimelineCursor(self.created_at, self.source, self.id)

    @property
    def key(self) -> tuple[datetime, int, int]:
        return (self.created_at, _RANK[self.source], self.id)


@dataclass(frozen=True)
class TimelinePage:
    """Newest first. ``older``/``newer`` are the cursors of the neighbouring pages, or None
    where there is (as far as this page knows) nothing more."""

    entries: list[TimelineEntry]
    older: TimelineCursor | None
    newer: TimelineCursor | None

    def __iter__(self):
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


def review_item_timeline(
    item: ReviewItem,
    *,
    size: int,
    after: TimelineCursor | None = None,
    before: TimelineCursor | None = None,
) -> TimelinePage:
    """The ``size`` entries that follow ``after`` (are older than it) or precede ``before``
    (are newer), newest first. Three queries whatever the page's depth: each source gives its
    next ``size + 1`` entries past the cursor from an index range, and they are merged here;
    nothing is counted."""
    sensitive = sensitive_fields(item.flow.data_class.fields)
    newest_first = before is None
    cursor = after if newest_first else before
    found: list[TimelineEntry] = []
    for source, rows in _sources(item).items():
        rows = rows.filter(_past(cursor, source, older=newest_first)) if cursor else rows
        order = ("-created_at", "-id") if newest_first else ("created_at", "id")
        found.extend(_entry(source, row, sensitive) for row in rows.order_by(*order)[: size + 1])
    pick = heapq.nlargest if newest_first else heapq.nsmallest
    merged = pick(size + 1, found, key=lambda entry: entry.key)
    shown = merged[:size] if newest_first else merged[:size][::-1]
    more = len(merged) > size
    if newest_first:
        older = shown[-1].cursor if more and shown else None
        newer = shown[0].cursor if after is not None and shown else None
    else:
        older = shown[-1].cursor if shown else None
        newer = shown[0].cursor if more and shown else None
    return TimelinePage(entries=shown, older=older, newer=newer)


def _sources(item: ReviewItem) -> dict[str, QuerySet]:
    return {
        EVENT: ReviewItemEvent.objects.filter(item=item),
        AUDIT: AuditEntry.objects.filter(
            flow_id=item.flow_id, source_id=item.source_id
        ).select_related("payload_version"),
        COMMENT: ReviewItemComment.objects.filter(item=item).select_related("author"),
    }


def _past(cursor: TimelineCursor, source: str, *, older: bool) -> Q:
    """The rows of ``source`` beyond ``cursor`` in the timeline's order (older, or newer)."""
    beyond = "lt" if older else "gt"
    rank, cursor_rank = _RANK[source], _RANK[cursor.source]
    if rank == cursor_rank:
        return Q(**{f"created_at__{beyond}": cursor.created_at}) | Q(
            created_at=cursor.created_at, **{f"id__{beyond}": cursor.id}
        )
    # Another source: its rows at the cursor's very instant sort wholly before or after it.
    same_instant_beyond = rank < cursor_rank if older else rank > cursor_rank
    return Q(**{f"created_at__{beyond}{'e' if same_instant_beyond else ''}": cursor.created_at})


def _entry(source: str, row: Any, sensitive: set[str]) -> TimelineEntry:
    if source == EVENT:
        return TimelineEntry(EVENT, row.created_at, row.pk, actor_label(row.actor), event=row)
    if source == COMMENT:
        who = row.author.get_username() if row.author else "(a deleted user)"
        return TimelineEntry(COMMENT, row.created_at, row.pk, who, comment=row)
    for name in sensitive & row.corrected.keys():
        row.corrected[name] = {"from": MASK, "to": MASK}
    return TimelineEntry(
        AUDIT,
        row.created_at,
        row.pk,
        actor_label(row.actor),
        audit_entry=row,
        payload=mask_payload(row.payload, sensitive) if row.payload else None,
    )


def actor_label(actor: str) -> str:
    """``user:olivia`` -> ``olivia``; a job's or the system's name as it is."""
    return actor.removeprefix("user:")


@dataclass(frozen=True)
class ItemChange:
    """One change of an item, told to an operator who had not seen it."""

    who: str
    what: str
    when: datetime


def review_item_changes_since(
    item: ReviewItem, version: int, *, limit: int = 10
) -> list[ItemChange]:
    """What was done to ``item`` after its version ``version``: who did what and when, oldest
    first (the last ``limit`` changes). One query."""
    events = item.events.filter(item_version__gt=version).order_by("-created_at", "-id")
    return [
        ItemChange(who=actor_label(e.actor), what=_what(e), when=e.created_at)
        for e in reversed(events[:limit])
    ]


def _what(event: ReviewItemEvent) -> str:
    Action = ReviewItemEvent.Action
    note = Truncator(event.note).chars(140)
    if event.action == Action.PAYLOAD_FIXED:
        changed = sorted((event.details or {}).get("changes", {}))
        fields = ", ".join(changed) if changed else "the payload"
        return f"corrected {fields} and asked for a retry"
    if event.action == Action.ASSIGNED and "assignee" in (event.details or {}):
        return f"assigned it to {event.details['assignee']}"
    said = {
        Action.OPENED: "opened it",
        Action.RECURRED: "saw it fail again",
        Action.RETRY_REQUESTED: "asked for a retry",
        Action.RETRY_FAILED: "saw its retry fail",
        Action.RESOLVED: "resolved it",
        Action.DISMISSED: "dismissed it",
        Action.TAKEN: "took it",
        Action.ASSIGNED: "assigned it",
        Action.UNASSIGNED: "unassigned it",
        Action.REOPENED: "reopened it",
        Action.COMMENTED: "commented",
    }.get(event.action, event.get_action_display().lower())
    return f"{said}: “{note}”" if note else said
