"""An operator fixes a bad record in a real browser (Debian's chromium via Playwright)."""

import re

import pytest
from playwright.sync_api import Page, expect

from review_queue.models import ReviewItem
from tests.browser.helpers import log_in
from tests.factories import run_flow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queued_world(demo_flow, settings, django_capture_on_commit_callbacks, job_runner):
    # The first run executes here so the test starts from the seeded queue in either lane;
    # the operator's retry then goes through whatever runs jobs in this lane.
    redis_url = settings.REDIS_URL
    settings.REDIS_URL = ""
    run_flow(demo_flow, django_capture_on_commit_callbacks)
    settings.REDIS_URL = redis_url
    return demo_flow


def test_operator_fixes_the_bad_country_retries_and_sees_it_resolved(
    page: Page, live_server, queued_world, artifacts_dir
):
    log_in(page, live_server, "olivia", "olivia-demo")
    expect(page.get_by_role("heading", name="Flows")).to_be_visible()
    expect(page.locator("#runs tbody tr").first).to_contain_text("36")

    page.get_by_role("link", name="Review queue").click()
    rows = page.locator("#review-items tbody tr")
    expect(rows).to_have_count(4)
    page.get_by_role("link", name="C-0013").click()
    expect(page).to_have_title("C-0013 · Review queue")

    expect(page.locator("#field-errors")).to_contain_text("country_code")
    expect(page.locator("#field-errors")).to_contain_text("'BR' is not one of the allowed values")
    expect(page.locator("#source-snapshot")).to_contain_text("Brazil")
    page.screenshot(path=str(artifacts_dir / "review-item-before-fix.png"), full_page=True)

    page.get_by_label("Country *").select_option("DE")
    page.get_by_role("button", name="Save and retry").click()

    # With an rqworker the page shows "Retrying" and refreshes itself until the job is done.
    expect(page.locator("#item-status")).to_have_text("Resolved", timeout=30_000)
    expect(page.locator("#resolution")).to_contain_text(
        re.compile(r"Synced to Simulated ERP as E-\d+")
    )
    audit = page.locator("#history li[data-source=audit]").first
    expect(audit).to_contain_text("Create")
    expect(audit).to_contain_text("Succeeded")
    expect(audit).to_contain_text("olivia")
    expect(page.locator("#history")).to_contain_text("Payload corrected and retry requested")
    expect(page.locator("#history")).to_contain_text("country_code: BR → DE")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts_dir / "review-item-resolved.png"), full_page=True)

    item = ReviewItem.objects.get(source_id="C-0013")
    assert item.status == ReviewItem.Status.RESOLVED
