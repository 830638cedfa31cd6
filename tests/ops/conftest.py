from datetime import UTC, datetime, timedelta

import pytest

from integration_console import roles
from review_queue.models import ReviewItem
from tests.factories import FlowFactory, ReviewItemFactory, UserFactory

# A fixed "now" for the trends: their days, windows and ages are counted from it.
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
WINDOW_START = datetime(2026, 10, 28, tzinfo=UTC)  # the first of the 30 days up to NOW


def review_item(
    flow,
    kind: str = "invalid",
    *,
    first_seen: datetime,
    status: str = ReviewItem.Status.OPEN,
    closed_at: datetime | None = None,
) -> ReviewItem:
    """An item of ``flow`` first seen (and perhaps closed) when the test says: the timestamps
    are set after the insert, as ``auto_now_add`` would not take them."""
    item = ReviewItemFactory(flow=flow, kind=kind)
    ReviewItem.objects.filter(pk=item.pk).update(
        first_seen=first_seen, last_seen=first_seen, status=status, closed_at=closed_at
    )
    return item


@pytest.fixture
def flow(db):
    return FlowFactory(name="CRM contacts to ERP customers")


@pytest.fixture
def known_items(flow):
    """A small queue whose every figure is known: see the comments for where each item
    falls. Active: 6; opened in the window: 10; closed in it: 6; resolved in it: 4."""
    resolved, dismissed = ReviewItem.Status.RESOLVED, ReviewItem.Status.DISMISSED
    hour, day = timedelta(hours=1), timedelta(days=1)
    # Active items, one per age bucket.
    review_item(flow, "invalid", first_seen=NOW - hour / 2)  # < 1 hour, opened 26 Nov
    review_item(flow, "invalid", first_seen=NOW - 5 * hour)  # < 1 day, opened 26 Nov
    review_item(  # < 3 days, opened 24 Nov
        flow, "target_rejected", first_seen=NOW - 2 * day, status=ReviewItem.Status.IN_PROGRESS
    )
    review_item(flow, "conflict", first_seen=NOW - 5 * day)  # < 7 days, opened 21 Nov
    review_item(  # < 30 days, opened 16 Nov
        flow, "target_rejected", first_seen=NOW - 10 * day, status=ReviewItem.Status.RETRYING
    )
    review_item(flow, "invalid", first_seen=NOW - 40 * day)  # 30 days or more: not opened
    # Resolved on 24 Nov after 1 day, 3 hours and 1 hour: that day's median is 3 hours.
    closed = NOW - 2 * day
    review_item(flow, "invalid", first_seen=closed - day, status=resolved, closed_at=closed)
    review_item(
        flow, "already_exists", first_seen=closed - 3 * hour, status=resolved, closed_at=closed
    )
    review_item(flow, "invalid", first_seen=closed - hour, status=resolved, closed_at=closed)
    # 25 Nov: one resolved after 4 days, one dismissed (closed, but not a resolution).
    closed = NOW - day
    review_item(flow, "conflict", first_seen=closed - 4 * day, status=resolved, closed_at=closed)
    review_item(flow, "invalid", first_seen=NOW - 60 * day, status=dismissed, closed_at=closed)
    # Before the window: resolved 45 days ago; and the window's edges, to the second.
    review_item(
        flow, "invalid", first_seen=NOW - 60 * day, status=resolved, closed_at=NOW - 45 * day
    )
    review_item(
        flow,
        "invalid",
        first_seen=WINDOW_START,
        status=dismissed,
        closed_at=WINDOW_START + hour,
    )
    just_before = WINDOW_START - timedelta(seconds=1)
    review_item(flow, "invalid", first_seen=just_before, status=dismissed, closed_at=just_before)


@pytest.fixture
def operator_client(client, db):
    client.force_login(UserFactory(role=roles.OPERATOR))
    return client
