"""An operator works the queue from the keyboard in a real browser (Debian's chromium via
Playwright): j/k move the selection, Enter opens the item, r/e/a reach the item's forms, ? helps.
The script is a static file, so it runs under the Content Security Policy."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import log_in, watch_for_errors
from tests.factories import run_flow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SELECTED = "tr.keyboard-selected[aria-selected=true]"


@pytest.fixture
def queued_world(demo_flow, in_process_jobs, django_capture_on_commit_callbacks):
    run_flow(demo_flow, django_capture_on_commit_callbacks)
    return demo_flow


def test_j_j_k_enter_opens_the_selected_item_and_question_mark_opens_the_help(
    page: Page, live_server, queued_world, artifacts_dir
):
    problems = watch_for_errors(page)
    log_in(page, live_server, "olivia", "olivia-demo")
    page.get_by_role("link", name="Review queue").click()
    page.wait_for_load_state()  # the keys need the deferred script
    rows = page.locator("#review-items tbody tr")
    expect(rows).to_have_count(4)
    source_ids = [rows.nth(i).locator("td a").first.inner_text() for i in range(4)]

    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("j")
    expect(page.locator(SELECTED)).to_have_count(1)
    expect(rows.nth(1)).to_have_attribute("aria-selected", "true")
    expect(rows.nth(0)).to_have_attribute("aria-selected", "false")
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(rows.nth(1)).to_have_attribute("aria-selected", "true")
    page.screenshot(path=str(artifacts_dir / "keyboard-list-selection.png"), full_page=True)

    page.keyboard.press("?")
    help_dialog = page.locator("#keyboard-help")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("Select the next item")
    page.screenshot(path=str(artifacts_dir / "keyboard-list-help.png"))
    page.keyboard.press("j")  # the open dialog keeps the keys
    expect(rows.nth(1)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()

    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text(source_ids[1])
    page.wait_for_load_state()

    page.keyboard.press("?")
    expect(page.locator("#keyboard-help")).to_contain_text("Retry as is")
    page.screenshot(path=str(artifacts_dir / "keyboard-item-help.png"))
    page.keyboard.press("Escape")
    assert not problems, problems


def test_keys_on_an_item_reach_its_forms_and_are_ignored_while_typing(
    page: Page, live_server, queued_world, artifacts_dir
):
    problems = watch_for_errors(page)
    log_in(page, live_server, "olivia", "olivia-demo")
    page.get_by_role("link", name="Review queue").click()
    page.get_by_role("link", name="C-0021").click()
    page.wait_for_load_state()

    page.keyboard.press("a")
    expect(page.locator("#assign-form select")).to_be_focused()
    page.locator("#assign-form select").blur()
    page.keyboard.press("r")
    expect(page.get_by_role("button", name="Retry as is")).to_be_focused()
    page.keyboard.press("e")
    first_field = page.locator(
        "form[data-keyboard-key=e] .form-control, form[data-keyboard-key=e] .form-select"
    ).first
    expect(first_field).to_be_focused()
    page.screenshot(path=str(artifacts_dir / "keyboard-item-edit.png"), full_page=True)

    # Typing "r" or "?" in a field types it, and does nothing else.
    comment = page.locator("#comment-form textarea")
    comment.click()
    comment.type("r?a")
    expect(comment).to_have_value("r?a")
    expect(comment).to_be_focused()
    expect(page.locator("#keyboard-help")).to_be_hidden()
    assert not problems, problems
