"""The overview's figures for a small queue whose every number is known (tests/ops/conftest)."""

from datetime import date, timedelta

import pytest

from integration_console.ops.selectors import (
    backlog_by_kind_and_age,
    failures_needing_attention,
    flow_overview,
    items_opened_and_closed_per_day,
    time_to_resolve_per_day,
)
from tests.factories import FlowFactory, ReviewItemFactory
from tests.ops.conftest import NOW

pytestmark = pytest.mark.django_db


def on(daily_counts: dict[str, list[int]], days: list[date]) -> dict[date, dict[str, int]]:
    """The days that have any count, with their counts by kind."""
    return {
        day: {kind: counts[i] for kind, counts in daily_counts.items() if counts[i]}
        for i, day in enumerate(days)
        if any(counts[i] for counts in daily_counts.values())
    }


def test_the_window_is_the_last_30_days_up_to_today(known_items):
    daily = items_opened_and_closed_per_day(now=NOW)
    assert len(daily.days) == 30
    assert (daily.days[0], daily.days[-1]) == (date(2026, 10, 28), date(2026, 11, 26))


def test_items_opened_per_day_by_kind(known_items):
    daily = items_opened_and_closed_per_day(now=NOW)
    assert on(daily.opened, daily.days) == {
        date(2026, 10, 28): {"invalid": 1},  # first seen at the window's first second
        date(2026, 11, 16): {"target_rejected": 1},
        date(2026, 11, 21): {"conflict": 2},
        date(2026, 11, 23): {"invalid": 1},
        date(2026, 11, 24): {"invalid": 1, "target_rejected": 1, "already_exists": 1},
        date(2026, 11, 26): {"invalid": 2},
    }
    assert daily.opened_total == 10


def test_items_closed_per_day_by_kind_count_resolved_and_dismissed(known_items):
    daily = items_opened_and_closed_per_day(now=NOW)
    assert on(daily.closed, daily.days) == {
        date(2026, 10, 28): {"invalid": 1},
        date(2026, 11, 24): {"invalid": 2, "already_exists": 1},
        date(2026, 11, 25): {"invalid": 1, "conflict": 1},
    }
    assert daily.closed_total == 6
    # Kinds in the order of FailureKind, so that each keeps its colour.
    assert daily.kinds == ["invalid", "conflict", "target_rejected", "already_exists"]


def test_the_backlog_by_age_counts_active_items_only(known_items):
    backlog = backlog_by_kind_and_age(now=NOW)
    assert backlog.buckets == [
        "< 1 hour",
        "< 1 day",
        "< 3 days",
        "< 7 days",
        "< 30 days",
        "30 days or more",
    ]
    assert backlog.counts == {
        "invalid": [1, 1, 0, 0, 0, 1],
        "conflict": [0, 0, 0, 1, 0, 0],
        "target_rejected": [0, 0, 1, 0, 1, 0],
    }
    assert backlog.totals == [1, 1, 1, 1, 1, 1]
    assert backlog.total == 6


def test_failures_needing_attention_are_the_active_items_by_kind_most_first(known_items):
    assert failures_needing_attention(now=NOW) == [
        {"kind": "invalid", "label": "Invalid", "count": 3},
        {"kind": "target_rejected", "label": "Rejected by target", "count": 2},
        {"kind": "conflict", "label": "Conflict", "count": 1},
    ]


def test_the_median_time_to_resolve_per_day_leaves_dismissed_items_out(known_items):
    times = time_to_resolve_per_day(now=NOW)
    by_day = {
        day: (median, count)
        for day, median, count in zip(times.days, times.medians, times.resolved, strict=True)
        if count
    }
    assert by_day == {
        date(2026, 11, 24): (timedelta(hours=3), 3),  # of 1 day, 3 hours, 1 hour
        date(2026, 11, 25): (timedelta(days=4), 1),  # the dismissed item is not counted
    }
    assert times.medians[0] is None
    # Over the window: the middle of 1 h, 3 h, 24 h and 96 h.
    assert times.overall == timedelta(hours=13, minutes=30)
    assert times.resolved_total == 4


def test_an_empty_queue_has_empty_trends(db):
    daily = items_opened_and_closed_per_day(now=NOW)
    assert (daily.kinds, daily.opened_total, daily.closed_total) == ([], 0, 0)
    backlog = backlog_by_kind_and_age(now=NOW)
    assert (backlog.total, backlog.totals) == (0, [0] * 6)
    times = time_to_resolve_per_day(now=NOW)
    assert times.overall is None and set(times.medians) == {None}


def test_the_flows_carry_their_active_items_counted_in_the_same_pass(known_items, flow):
    other = FlowFactory(name="ERP invoices to CRM")
    ReviewItemFactory(flow=other)
    backlog = backlog_by_kind_and_age(now=NOW)
    assert backlog.per_flow == {flow.pk: 6, other.pk: 1}
    assert {f.name: f.open_items for f in flow_overview(backlog)} == {
        flow.name: 6,
        other.name: 1,
    }
    assert {f.name: f.open_items for f in flow_overview(now=NOW)} == {flow.name: 6, other.name: 1}
