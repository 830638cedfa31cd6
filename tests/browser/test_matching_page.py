"""An admin sets a flow's matching thresholds in a real browser (Debian's chromium via
Playwright), after the shipped demo's first run: reads the match spec, tries thresholds and sees
what they would have decided for the run's decisions, then saves them."""

import re

import pytest
from playwright.sync_api import Page, expect

from integration_console.catalog.models import DataClass
from tests.browser.helpers import log_in, watch_for_errors
from tests.factories import run_flow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def decided_world(shipped_demo_flow, settings, django_capture_on_commit_callbacks):
    # The first run executes here: C-0029 is linked (score 1.0); C-0031 and C-0033 (names
    # swapped, capped below auto-link: 0.84), C-0035 (0.81) and C-0037 (0.8) wait for a person.
    redis_url = settings.REDIS_URL
    settings.REDIS_URL = ""
    run_flow(shipped_demo_flow, django_capture_on_commit_callbacks)
    settings.REDIS_URL = redis_url
    return shipped_demo_flow


def outcome(page: Page, verdict: str, column: str):
    return page.locator(f"#outcome-{verdict} td[data-column='{column}']")


def test_admin_tries_thresholds_sees_the_preview_change_and_saves_them(
    page: Page, live_server, decided_world, artifacts_dir
):
    problems = watch_for_errors(page)
    log_in(page, live_server, "ada", "ada-demo")
    page.locator("#flows").get_by_role("link", name="Matching").click()

    expect(page).to_have_title("Matching · CRM contacts → ERP customers · Integration Console")
    expect(page.locator("#current-auto-link")).to_have_text("0.85")
    expect(page.locator("#current-review")).to_have_text("0.7")
    expect(page.locator("#spec-fields")).to_contain_text("e-mail (case, dots and tags aside)")
    expect(page.locator("#spec-blocking")).to_contain_text("Family name as it sounds")
    expect(page.locator("#match-index")).to_contain_text(re.compile(r"\d+ records indexed"))
    expect(page.locator("#thresholds")).to_contain_text("last 5 recorded matching decisions")
    for verdict, count in (("auto_link", "1"), ("review", "4"), ("new", "0")):
        expect(outcome(page, verdict, "current")).to_have_text(count)
        expect(outcome(page, verdict, "tried")).to_have_count(0)

    # Review above auto-link: said plainly, and nothing offered to save.
    page.get_by_label("Auto-link at").fill("0.7")
    page.get_by_label("Review from").fill("0.8")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#threshold-errors")).to_contain_text(
        "review (0.8) must be below auto_link (0.7)"
    )
    expect(page.get_by_role("button", name="Use these thresholds")).to_have_count(0)
    page.screenshot(path=str(artifacts_dir / "matching-thresholds-invalid.png"), full_page=True)

    # Lower: C-0035 and C-0037 would be linked; the swapped names stay capped below 0.8.
    page.get_by_label("Auto-link at").fill("0.8")
    page.get_by_label("Review from").fill("0.75")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#threshold-errors")).to_have_count(0)
    for verdict, tried, change in (("auto_link", "3", "+2"), ("review", "2", "-2")):
        expect(outcome(page, verdict, "tried")).to_have_text(tried)
        expect(outcome(page, verdict, "change")).to_have_text(change)
    expect(page.locator("#unsure-links")).to_contain_text("2 of the auto-links counted")
    expect(page.locator("#score-histogram tr[data-band='0.8']")).to_contain_text(
        "auto-link from 0.8"
    )

    # Higher: only C-0029 is linked, and the two weakest fall below review: new.
    page.get_by_label("Auto-link at").fill("0.9")
    page.get_by_label("Review from").fill("0.82")
    page.get_by_role("button", name="Preview").click()
    for verdict, tried in (("auto_link", "1"), ("review", "2"), ("new", "2")):
        expect(outcome(page, verdict, "tried")).to_have_text(tried)

    page.get_by_label("Auto-link at").fill("0.8")
    page.get_by_label("Review from").fill("0.75")
    page.get_by_role("button", name="Preview").click()
    expect(outcome(page, "auto_link", "tried")).to_have_text("3")
    page.screenshot(path=str(artifacts_dir / "matching-thresholds.png"), full_page=True)

    page.get_by_role("button", name="Use these thresholds").click()
    expect(page.get_by_role("alert").first).to_contain_text("Thresholds saved")
    expect(page.locator("#current-auto-link")).to_have_text("0.8")
    expect(page.locator("#current-review")).to_have_text("0.75")
    expect(outcome(page, "auto_link", "current")).to_have_text("3")
    page.screenshot(path=str(artifacts_dir / "matching-thresholds-saved.png"), full_page=True)

    customer = DataClass.objects.get(name="customer")
    assert (customer.matching["auto_link"], customer.matching["review"]) == (0.8, 0.75)
    assert customer.history.latest().history_user.username == "ada"
    assert problems == [], "\n".join(problems)
