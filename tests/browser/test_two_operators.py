"""Two operators, each in a browser of their own, on one item: the one who acts second on
what they opened is told what changed, and keeps what they typed."""

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect

from integration_console import roles
from review_queue.models import ReviewItem
from tests.browser.helpers import log_in
from tests.factories import PASSWORD, UserFactory, run_flow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queued_world(demo_flow, settings, django_capture_on_commit_callbacks, job_runner):
    # The first run executes here, so both operators start from the seeded queue.
    redis_url = settings.REDIS_URL
    settings.REDIS_URL = ""
    run_flow(demo_flow, django_capture_on_commit_callbacks)
    settings.REDIS_URL = redis_url
    UserFactory(username="oscar", role=roles.OPERATOR)
    return demo_flow


def operator_on(browser: Browser, live_server, username: str, password: str, url: str) -> Page:
    """A browser context of the operator's own (own cookies, own session) on ``url``."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    log_in(page, live_server, username, password)
    expect(page.get_by_role("heading", name="Flows")).to_be_visible()
    page.goto(url)
    return page


def test_a_fix_saved_after_a_colleague_dismissed_the_item_is_refused_and_kept(
    browser: Browser, live_server, queued_world, artifacts_dir
):
    item = ReviewItem.objects.get(source_id="C-0013")
    url = live_server.url + reverse("review_queue:item_detail", args=[item.pk])
    olivia = operator_on(browser, live_server, "olivia", "olivia-demo", url)
    oscar = operator_on(browser, live_server, "oscar", PASSWORD, url)

    # Oscar starts correcting the record while Olivia decides it is not one to sync.
    oscar.get_by_label("Country *").select_option("AT")
    oscar.get_by_label("Company").fill("Grimani-Villadicani GmbH")
    olivia.get_by_label("Reason for dismissing").fill("A test record from the CRM import")
    olivia.get_by_role("button", name="Dismiss").click()
    expect(olivia.locator("#item-status")).to_have_text("Dismissed")

    oscar.get_by_role("button", name="Save and retry").click()

    notice = oscar.locator("#item-changed")
    expect(notice).to_contain_text("This item changed since you opened it:")
    expect(notice).to_contain_text("olivia dismissed it: “A test record from the CRM import”")
    expect(notice).to_contain_text("Nothing was saved; review the item and try again.")
    expect(oscar.locator("#item-status")).to_have_text("Dismissed")
    fix = oscar.locator("#fix")
    expect(fix).to_contain_text("Your correction (not saved)")
    expect(oscar.get_by_label("Country *")).to_have_value("AT")
    expect(oscar.get_by_label("Company")).to_have_value("Grimani-Villadicani GmbH")
    expect(oscar.get_by_role("button", name="Save and retry")).to_have_count(0)
    expect(oscar.locator("#history li").first).to_contain_text("olivia")
    oscar.screenshot(path=str(artifacts_dir / "two-operators-second-is-told.png"), full_page=True)
    olivia.reload()
    olivia.screenshot(path=str(artifacts_dir / "two-operators-first-dismissed.png"), full_page=True)

    item.refresh_from_db()
    assert (item.status, item.payload["country_code"]) == ("dismissed", "BR")
    assert not item.events.filter(actor="user:oscar").exists()


def test_a_fix_refused_for_a_change_is_sent_again_from_the_page_that_told_it(
    browser: Browser, live_server, queued_world, artifacts_dir
):
    item = ReviewItem.objects.get(source_id="C-0013")
    url = live_server.url + reverse("review_queue:item_detail", args=[item.pk])
    olivia = operator_on(browser, live_server, "olivia", "olivia-demo", url)
    oscar = operator_on(browser, live_server, "oscar", PASSWORD, url)

    olivia.get_by_role("button", name="Take it").click()
    expect(olivia.locator("#assignee")).to_have_text("assigned to olivia")
    oscar.get_by_label("Country *").select_option("AT")
    oscar.get_by_role("button", name="Save and retry").click()

    expect(oscar.locator("#item-changed")).to_contain_text("olivia took it")
    expect(oscar.locator("#assignee")).to_have_text("assigned to olivia")
    expect(oscar.get_by_label("Country *")).to_have_value("AT")
    oscar.screenshot(path=str(artifacts_dir / "two-operators-fix-kept.png"), full_page=True)
    # Having seen Olivia took it, Oscar sends his fix anyway: now it is applied.
    oscar.get_by_role("button", name="Save and retry").click()
    expect(oscar.locator(".alert-success").first).to_contain_text("Corrected payload saved")
    expect(oscar.locator("#item-changed")).to_have_count(0)
    # The retry it queued ends before the test does: a worker still writing would hold up the
    # flush of the database between tests.
    expect(oscar.locator("#item-status")).to_have_text("Resolved", timeout=30_000)
