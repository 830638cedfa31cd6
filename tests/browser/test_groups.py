"""An operator works the queue by cause in a real browser (Debian's chromium via Playwright):
the groups page, one group's page, and a retry of the whole group with its progress."""

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from review_queue.models import BulkAction, ReviewItem
from tests.browser.helpers import log_in, watch_for_errors
from tests.factories import run_flow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A bad night: four more CRM contacts moved to Brazil, which the ERP does not take; with the
# demo's C-0013 they are one cause.
BRAZILIAN = ["C-0002", "C-0003", "C-0004", "C-0005"]
BR_CAUSE = "country_code: 'BR' is not one of the allowed values"


@pytest.fixture
def queued_world(demo_flow, simulator, settings, django_capture_on_commit_callbacks, job_runner):
    for source_id in BRAZILIAN:
        httpx.put(f"{simulator.crm_url}/contacts/{source_id}", json={"country": "Brazil"})
    # The first run executes here so the test starts from the seeded queue in either lane;
    # the operator's retry then goes through whatever runs jobs in this lane.
    redis_url = settings.REDIS_URL
    settings.REDIS_URL = ""
    run_flow(demo_flow, django_capture_on_commit_callbacks)
    settings.REDIS_URL = redis_url
    return demo_flow


def test_operator_retries_a_group_of_the_demos_failures_and_sees_its_progress(
    page: Page, live_server, queued_world, artifacts_dir
):
    problems = watch_for_errors(page)
    log_in(page, live_server, "olivia", "olivia-demo")
    page.get_by_role("link", name="Review queue").click()
    expect(page.locator("#review-items tbody tr")).to_have_count(8)
    page.get_by_role("link", name="Grouped by cause").click()

    expect(page).to_have_title("Groups by cause · Review queue")
    rows = page.locator("#groups tbody tr")
    expect(rows).to_have_count(4)
    largest = rows.first
    expect(largest).to_contain_text(BR_CAUSE)
    expect(largest.locator("td").first).to_have_text("5")
    expect(largest).to_contain_text("Invalid")
    expect(largest).to_contain_text("CRM contacts → ERP customers")
    for other in ("email: This field is required.", "phone: Enter a phone number"):
        expect(rows.filter(has_text=other).locator("td").first).to_have_text("1")
    page.screenshot(path=str(artifacts_dir / "groups-page.png"), full_page=True)

    largest.get_by_role("link", name=re.compile(re.escape(BR_CAUSE))).click()
    expect(page.locator("#group-title")).to_contain_text(f"5 items: {BR_CAUSE}")
    expect(page.locator("#group-items tbody tr")).to_have_count(5)
    expect(page.locator("#failing-rules")).to_contain_text("country → country_code")
    page.screenshot(path=str(artifacts_dir / "group-detail.png"), full_page=True)

    page.get_by_role("button", name="Retry all 5").click()
    expect(page).to_have_title(re.compile(r"Retry in bulk #\d+ · Review queue"))
    expect(page.get_by_role("alert").first).to_contain_text("Queued: retry the group's 5 items.")
    expect(page.locator("#bulk-status")).to_contain_text("Succeeded", timeout=30_000)
    expect(page.locator("#count-succeeded")).to_have_text("5")
    page.screenshot(path=str(artifacts_dir / "group-retry-progress.png"), full_page=True)

    bulk_action = BulkAction.objects.get()
    brazilian = ReviewItem.objects.filter(source_id__in=[*BRAZILIAN, "C-0013"])
    assert sorted(bulk_action.item_ids) == sorted(brazilian.values_list("pk", flat=True))
    # Retried from the source as it is: still Brazilian, so they wait in the queue again.
    expect(page.locator("#bulk-done")).to_contain_text("5 of 5 done")
    page.get_by_role("link", name="Back to the queue").click()
    expect(page.locator("#review-items tbody tr")).to_have_count(5, timeout=30_000)
    expect(page.get_by_label("Group")).to_have_value(bulk_action.filter_query.split("=")[1])
    page.screenshot(path=str(artifacts_dir / "group-items-list.png"), full_page=True)
    assert problems == [], "\n".join(problems)


def test_business_owner_fixes_the_rule_of_a_group_in_a_draft_of_the_field_map(
    page: Page, live_server, queued_world, artifacts_dir
):
    log_in(page, live_server, "bruno", "bruno-demo")
    page.goto(f"{live_server.url}/queue/groups/")
    page.locator("#groups tbody tr").first.get_by_role(
        "link", name=re.compile(re.escape(BR_CAUSE))
    ).click()
    page.get_by_role("button", name="Fix the rule").click()

    expect(page).to_have_url(re.compile(r"/admin/catalog/fieldmapversion/\d+/change/#rules-4$"))
    expect(page.locator(".messagelist")).to_contain_text(
        "CRM contact → ERP customer v2 is the draft that fixes this group. Correct the rule "
        "country → country_code [trim|country_iso], save, and submit it"
    )
    expect(page.locator("#rules-4")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "group-fix-the-rule.png"), full_page=True)
