"""What the operations overview reads: flows, runs and the review queue's counts and trends.

Every query is bounded so that none grows with the size of the queue's history: the counts of
what needs attention read the active items only (partial indexes on the active statuses), and
the trends read the last WINDOW_DAYS days of one indexed timestamp (``first_seen`` for items
opened, ``closed_at`` for items closed). The indexes are review_queue's, migration 0007.

Bounded is not cheap at a million items: the queue's figures (queue_figures) read a few hundred
thousand index entries, over 100 ms on PostgreSQL. The page reads them from a snapshot counted
at most a minute before (OverviewSnapshot; integration_console/ops/services.py).
"""

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Self

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from integration_console.sync.dispatch import jobs_run_in_process
from integration_console.sync.failures import FailureKind
from integration_console.sync.models import Flow
from integration_console.sync.selectors import recent_runs
from review_queue.models import ReviewItem

from .models import OverviewSnapshot

WINDOW_DAYS = 30

# The backlog's ages: an active item falls in the first bucket it is younger than (by when
# its record first failed); the last bucket, without a bound, holds the rest.
AGE_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("< 1 hour", timedelta(hours=1)),
    ("< 1 day", timedelta(days=1)),
    ("< 3 days", timedelta(days=3)),
    ("< 7 days", timedelta(days=7)),
    ("< 30 days", timedelta(days=30)),
    ("30 days or more", None),
)

KIND_LABELS = dict(FailureKind.choices)
KIND_ORDER = {kind: position for position, kind in enumerate(FailureKind.values)}


@dataclass(frozen=True)
class Backlog:
    """The active items by kind and age bucket (``counts[kind]`` has one count per bucket),
    and by flow (``per_flow[flow_id]``)."""

    buckets: list[str]
    kinds: list[str]
    counts: dict[str, list[int]]
    per_flow: dict[int, int]

    @property
    def totals(self) -> list[int]:
        return [sum(column) for column in zip(*self.counts.values(), strict=True)] or [
            0 for _ in self.buckets
        ]

    @property
    def total(self) -> int:
        return sum(self.totals)


@dataclass(frozen=True)
class DailyFlow:
    """Items opened and closed on each of ``days``, by kind: ``opened[kind][i]`` were first
    seen on ``days[i]``; ``closed[kind][i]`` were resolved or dismissed that day."""

    days: list[date]
    kinds: list[str]
    opened: dict[str, list[int]]
    closed: dict[str, list[int]]

    @property
    def opened_total(self) -> int:
        return sum(sum(counts) for counts in self.opened.values())

    @property
    def closed_total(self) -> int:
        return sum(sum(counts) for counts in self.closed.values())


@dataclass(frozen=True)
class ResolveTimes:
    """The median time from an item's first failure to its resolution, per day it was resolved
    (``None`` on a day nothing was), and over the whole window. Dismissed items are left out:
    dismissing is not fixing."""

    days: list[date]
    medians: list[timedelta | None]
    resolved: list[int]
    overall: timedelta | None

    @property
    def resolved_total(self) -> int:
        return sum(self.resolved)


@dataclass(frozen=True)
class QueueFigures:
    """The review queue's figures on the overview, as counted at ``counted_at``."""

    FORMAT = 1  # of to_json(): a snapshot in another format is counted again, not read

    backlog: Backlog
    daily: DailyFlow
    resolve_times: ResolveTimes
    counted_at: datetime

    def to_json(self) -> dict[str, Any]:
        backlog, daily, resolve = self.backlog, self.daily, self.resolve_times
        return {
            "format": self.FORMAT,
            "backlog": {
                "buckets": backlog.buckets,
                "kinds": backlog.kinds,
                "counts": backlog.counts,
                "per_flow": {str(flow_id): count for flow_id, count in backlog.per_flow.items()},
            },
            "daily": {
                "days": [day.isoformat() for day in daily.days],
                "kinds": daily.kinds,
                "opened": daily.opened,
                "closed": daily.closed,
            },
            "resolve_times": {
                "days": [day.isoformat() for day in resolve.days],
                "medians": [_seconds(median) for median in resolve.medians],
                "resolved": resolve.resolved,
                "overall": _seconds(resolve.overall),
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, counted_at: datetime) -> Self:
        """Raises ValueError for data of another format (or none)."""
        if not isinstance(data, dict) or data.get("format") != cls.FORMAT:
            raise ValueError("Not overview figures of this format.")
        backlog, daily, resolve = data["backlog"], data["daily"], data["resolve_times"]
        return cls(
            backlog=Backlog(
                buckets=backlog["buckets"],
                kinds=backlog["kinds"],
                counts=backlog["counts"],
                per_flow={int(flow_id): count for flow_id, count in backlog["per_flow"].items()},
            ),
            daily=DailyFlow(
                days=[date.fromisoformat(day) for day in daily["days"]],
                kinds=daily["kinds"],
                opened=daily["opened"],
                closed=daily["closed"],
            ),
            resolve_times=ResolveTimes(
                days=[date.fromisoformat(day) for day in resolve["days"]],
                medians=[_duration(seconds) for seconds in resolve["medians"]],
                resolved=resolve["resolved"],
                overall=_duration(resolve["overall"]),
            ),
            counted_at=counted_at,
        )


def _seconds(duration: timedelta | None) -> float | None:
    return None if duration is None else duration.total_seconds()


def _duration(seconds: float | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)


def queue_figures(*, now: datetime) -> QueueFigures:
    """Count the queue's figures now, in four queries whatever the table's size: one pass over
    the active items, two bounded ranges of the items opened and closed per day, and one of
    the times to resolve."""
    return QueueFigures(
        backlog=backlog_by_kind_and_age(now=now),
        daily=items_opened_and_closed_per_day(now=now),
        resolve_times=time_to_resolve_per_day(now=now),
        counted_at=now,
    )


def overview_snapshot(*, time_zone: str) -> OverviewSnapshot | None:
    """The queue's figures as last counted for ``time_zone``, if they ever were (one query)."""
    return OverviewSnapshot.objects.filter(time_zone=time_zone).first()


def ops_overview(
    *, now: datetime | None = None, figures: QueueFigures | None = None
) -> dict[str, Any]:
    """Everything the overview shows: the flows and the recent runs as they are now, and the
    queue's ``figures`` (counted here when not given; see queue_figures). Two queries more
    than the figures, whatever the table sizes."""
    now = now or timezone.now()
    figures = figures or queue_figures(now=now)
    return {
        "flows": flow_overview(figures.backlog),
        "runs": recent_runs(),
        "failures": failures_needing_attention(figures.backlog),
        "backlog": figures.backlog,
        "daily": figures.daily,
        "resolve_times": figures.resolve_times,
        "counted_at": figures.counted_at,
        "counted_ago": max(0, int((now - figures.counted_at).total_seconds())),
        "in_process_jobs": jobs_run_in_process(),
        "window_days": WINDOW_DAYS,
    }


def flow_overview(backlog: Backlog | None = None, *, now: datetime | None = None) -> list[Flow]:
    """Every flow, each with ``open_items``: its count of items needing attention, taken from
    ``backlog`` (or counted, when the caller has none), so that the active items are read
    once for the flows, the kinds and the ages together."""
    if backlog is None:
        backlog = backlog_by_kind_and_age(now=now or timezone.now())
    flows = list(
        Flow.objects.select_related("source_system", "target_system", "data_class", "field_map")
    )
    for flow in flows:
        flow.open_items = backlog.per_flow.get(flow.pk, 0)
    return flows


def backlog_by_kind_and_age(*, now: datetime) -> Backlog:
    """The active items per flow, kind and age bucket, in one pass over the partial index on
    (flow, kind, first_seen) of the active items: index-only, never the closed history."""
    bounds = [(f"younger_{i}", bound) for i, (_, bound) in enumerate(AGE_BUCKETS) if bound]
    rows = (
        ReviewItem.objects.filter(status__in=ReviewItem.ACTIVE_STATUSES)
        .order_by()
        .values("flow", "kind")
        .annotate(
            total=Count("*"),
            # Count("kind"), not Count("*"): a filtered count needs a column, and this one is
            # in the index, so the count stays index-only.
            **{name: Count("kind", filter=Q(first_seen__gt=now - bound)) for name, bound in bounds},
        )
    )
    counts: dict[str, list[int]] = {}
    per_flow: dict[int, int] = defaultdict(int)
    for row in rows:
        # Cumulative counts ("younger than") become one count per bucket.
        cumulative = [row[name] for name, _ in bounds] + [row["total"]]
        buckets = counts.setdefault(row["kind"], [0] * len(AGE_BUCKETS))
        for i in range(len(cumulative)):
            buckets[i] += cumulative[i] - (cumulative[i - 1] if i else 0)
        per_flow[row["flow"]] += row["total"]
    kinds = sorted(counts, key=_kind_position)
    return Backlog(
        buckets=[label for label, _ in AGE_BUCKETS],
        kinds=kinds,
        counts={kind: counts[kind] for kind in kinds},
        per_flow=dict(per_flow),
    )


def failures_needing_attention(
    backlog: Backlog | None = None, *, now: datetime | None = None
) -> list[dict]:
    """Active review items per failure kind, most first: what the queue holds, at a glance.
    From ``backlog`` when the caller has it; else counted (one query, active items only)."""
    if backlog is None:
        backlog = backlog_by_kind_and_age(now=now or timezone.now())
    rows = [
        {"kind": kind, "label": KIND_LABELS.get(kind, kind), "count": sum(counts)}
        for kind, counts in backlog.counts.items()
    ]
    return sorted(rows, key=lambda row: (-row["count"], row["kind"]))


def items_opened_and_closed_per_day(*, now: datetime, days: int = WINDOW_DAYS) -> DailyFlow:
    """Items first seen, and items closed, on each of the last ``days`` days (today included),
    by kind: two range scans of an index on (timestamp, kind), each bounded by the window."""
    window, since = _window(now, days)
    opened = (
        ReviewItem.objects.filter(first_seen__gte=since)
        .order_by()
        .annotate(day=TruncDate("first_seen"))
        .values("day", "kind")
        .annotate(count=Count("*"))
    )
    closed = (
        ReviewItem.objects.filter(closed_at__gte=since, closed_at__isnull=False)
        .order_by()
        .annotate(day=TruncDate("closed_at"))
        .values("day", "kind")
        .annotate(count=Count("*"))
    )
    opened_by_kind = _per_day(opened, window)
    closed_by_kind = _per_day(closed, window)
    kinds = sorted(opened_by_kind.keys() | closed_by_kind.keys(), key=_kind_position)
    empty = [0] * len(window)
    return DailyFlow(
        days=window,
        kinds=kinds,
        opened={kind: opened_by_kind.get(kind, empty) for kind in kinds},
        closed={kind: closed_by_kind.get(kind, empty) for kind in kinds},
    )


def time_to_resolve_per_day(*, now: datetime, days: int = WINDOW_DAYS) -> ResolveTimes:
    """The median time to resolve items resolved on each of the last ``days`` days, and over
    them all, from one range of the index on closed_at. PostgreSQL computes the medians
    (``percentile_cont``, per day and overall in one grouping); elsewhere (SQLite) they are
    computed here over the same bounded rows."""
    window, since = _window(now, days)
    connection = connections[router.db_for_read(ReviewItem)]
    if connection.vendor == "postgresql":
        per_day, overall = _medians_in_postgresql(connection, since)
    else:
        resolved = ReviewItem.objects.filter(
            status=ReviewItem.Status.RESOLVED, closed_at__gte=since, closed_at__isnull=False
        ).order_by()
        durations: dict[date, list[timedelta]] = defaultdict(list)
        for closed_at, first_seen in resolved.values_list("closed_at", "first_seen"):
            durations[timezone.localdate(closed_at)].append(closed_at - first_seen)
        per_day = {day: (statistics.median(d), len(d)) for day, d in durations.items()}
        every = [duration for day_durations in durations.values() for duration in day_durations]
        overall = statistics.median(every) if every else None
    return ResolveTimes(
        days=window,
        medians=[per_day.get(day, (None, 0))[0] for day in window],
        resolved=[per_day.get(day, (None, 0))[1] for day in window],
        overall=overall,
    )


def _medians_in_postgresql(
    connection: BaseDatabaseWrapper, since: datetime
) -> tuple[dict[date, tuple[timedelta, int]], timedelta | None]:
    # Raw SQL for GROUPING SETS, which the ORM cannot say: the days' medians and the window's
    # come from one scan. The row whose day is NULL is the window's.
    meta = ReviewItem._meta
    column = {
        name: connection.ops.quote_name(meta.get_field(name).column)
        for name in ("status", "closed_at", "first_seen")
    }
    sql = (
        f"SELECT ({column['closed_at']} AT TIME ZONE %s)::date, "
        f"PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY {column['closed_at']} - "
        f"{column['first_seen']}), COUNT(*) "
        f"FROM {connection.ops.quote_name(meta.db_table)} "
        f"WHERE {column['status']} = %s AND {column['closed_at']} >= %s "
        f"AND {column['closed_at']} IS NOT NULL "
        "GROUP BY GROUPING SETS ((1), ())"
    )
    params = [timezone.get_current_timezone_name(), ReviewItem.Status.RESOLVED.value, since]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    per_day = {day: (median, count) for day, median, count in rows if day is not None}
    overall = next((median for day, median, _ in rows if day is None), None)
    return per_day, overall


def _window(now: datetime, days: int) -> tuple[list[date], datetime]:
    """The last ``days`` calendar days (in the current time zone) up to today, and the moment
    the first of them began."""
    today = timezone.localdate(now)
    window = [today - timedelta(days=days - 1 - i) for i in range(days)]
    since = timezone.make_aware(datetime.combine(window[0], time.min))
    return window, since


def _per_day(rows: QuerySet, window: list[date]) -> dict[str, list[int]]:
    position = {day: i for i, day in enumerate(window)}
    by_kind: dict[str, list[int]] = {}
    for row in rows:
        i = position.get(row["day"])
        if i is None:  # after today: a clock ahead of this one
            continue
        by_kind.setdefault(row["kind"], [0] * len(window))[i] += row["count"]
    return by_kind


def _kind_position(kind: str) -> int:
    return KIND_ORDER.get(kind, len(KIND_ORDER))
