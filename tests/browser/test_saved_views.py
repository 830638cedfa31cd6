"""An operator saves the queue's current filters as a view and opens it again from its link, in
a real browser (Debian's chromium via Playwright)."""

import pytest
from playwright.sync_api import Page, expect

from review_queue.models import SavedView
from tests.browser.helpers import log_in
from tests.factories import run_flow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_operator_saves_the_current_filters_and_opens_them_from_the_views_link(
    page: Page,
    live_server,
    demo_flow,
    in_process_jobs,
    django_capture_on_commit_callbacks,
    artifacts_dir,
):
    run_flow(demo_flow, django_capture_on_commit_callbacks)
    log_in(page, live_server, "olivia", "olivia-demo")
    page.get_by_role("link", name="Review queue").click()
    rows = page.locator("#review-items tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator("#built-in-views .active")).to_have_text("All needing attention")

    page.get_by_label("Kind").select_option("invalid")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)
    page.get_by_label("Save this view as").fill("Invalid contacts")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_role("alert").first).to_contain_text("Saved the view “Invalid contacts”.")
    assert SavedView.objects.get().query == "kind=invalid"
    page.get_by_role("link", name="All needing attention").click()
    expect(rows).to_have_count(4)

    page.locator("#saved-views").get_by_role("link", name="Invalid contacts").click()
    expect(rows).to_have_count(2)
    expect(page.get_by_label("Kind")).to_have_value("invalid")
    expect(page.locator("#saved-views [aria-current=page]")).to_have_text("Invalid contacts")
    page.screenshot(path=str(artifacts_dir / "saved-view-open.png"), full_page=True)

    page.get_by_role("button", name="Delete the view Invalid contacts").click()
    expect(page.get_by_role("alert").first).to_contain_text("Deleted the view “Invalid contacts”.")
    expect(page.locator("#saved-views")).to_contain_text("none yet")
    assert not SavedView.objects.exists()


def test_a_built_in_view_lists_what_it_says(
    page: Page,
    live_server,
    demo_flow,
    in_process_jobs,
    django_capture_on_commit_callbacks,
    artifacts_dir,
):
    run_flow(demo_flow, django_capture_on_commit_callbacks)
    log_in(page, live_server, "olivia", "olivia-demo")
    page.get_by_role("link", name="Review queue").click()
    page.get_by_role("link", name="Mine").click()
    expect(page.locator("#built-in-views .active")).to_have_text("Mine")
    expect(page.locator("#review-items tbody")).to_contain_text("Nothing matches these filters.")
    page.get_by_role("link", name="Unassigned").click()
    expect(page.locator("#review-items tbody tr")).to_have_count(4)
    page.screenshot(path=str(artifacts_dir / "saved-views-unassigned.png"), full_page=True)
