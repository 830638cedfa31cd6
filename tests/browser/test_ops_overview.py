"""The overview an operations lead reads every morning, in a real browser (Debian's chromium)."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from review_queue.models import ReviewItem
from tests.browser.helpers import log_in, watch_for_errors
from tests.factories import ReviewItemFactory, run_flow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A month of a busy flow's failures: the kinds, by weight, as the queue's benchmark has them.
KINDS = [
    ("invalid", 40),
    ("target_rejected", 25),
    ("already_exists", 10),
    ("possible_duplicate", 10),
    ("mapping_error", 5),
    ("retries_exhausted", 5),
    ("conflict", 5),
]


@pytest.fixture
def a_month_of_failures(demo_flow, in_process_jobs, django_capture_on_commit_callbacks):
    """The demo's first run, then 180 items over the last 34 days: most closed within hours
    or days (resolved, some dismissed), the rest still waiting. Seeded, so the same each run."""
    run_flow(demo_flow, django_capture_on_commit_callbacks)
    chance = random.Random(9)
    now = timezone.now()
    kinds, weights = zip(*KINDS, strict=True)
    for n in range(180):
        first_seen = now - timedelta(hours=chance.uniform(0.1, 34 * 24))
        closed_at = first_seen + timedelta(hours=chance.expovariate(1 / 14))
        status = ReviewItem.Status.OPEN
        if closed_at < now and chance.random() < 0.8:
            status = chance.choice([ReviewItem.Status.RESOLVED] * 4 + [ReviewItem.Status.DISMISSED])
        else:
            closed_at = None
        item = ReviewItemFactory(
            flow=demo_flow, source_id=f"C-9{n:03d}", kind=chance.choices(kinds, weights)[0]
        )
        ReviewItem.objects.filter(pk=item.pk).update(
            first_seen=first_seen, last_seen=first_seen, status=status, closed_at=closed_at
        )
    return demo_flow


def test_the_operator_reads_the_overview_with_its_charts(
    page: Page, live_server, a_month_of_failures, artifacts_dir
):
    problems = watch_for_errors(page)
    page.set_viewport_size({"width": 1440, "height": 900})

    log_in(page, live_server, "olivia", "olivia-demo")

    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Overview")).to_have_class("nav-link active")
    for name in [
        "Items opened per day",
        "Items closed per day",
        "Backlog by age",
        "Median time to resolve, per day",
    ]:
        expect(page.get_by_role("img", name=name)).to_be_visible()
    active = ReviewItem.objects.filter(status__in=ReviewItem.ACTIVE_STATUSES).count()
    expect(page.locator("#backlog-total")).to_have_text(str(active))
    expect(page.locator("#flows")).to_contain_text("CRM contacts")
    expect(page.locator("#runs tbody tr").first).to_contain_text("36")
    page.screenshot(path=str(artifacts_dir / "ops-overview.png"), full_page=True)

    # The numbers behind a chart, for whoever cannot see its bars.
    backlog = page.locator("#chart-backlog-card")
    backlog.get_by_text("The numbers", exact=True).click()
    table = page.locator("#chart-backlog-numbers")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr").last).to_contain_text("30 days or more")
    backlog.screenshot(path=str(artifacts_dir / "ops-overview-backlog-numbers.png"))

    # A narrow window: the charts stack and still read.
    page.set_viewport_size({"width": 800, "height": 900})
    page.screenshot(path=str(artifacts_dir / "ops-overview-narrow.png"), full_page=True)
    assert problems == []
