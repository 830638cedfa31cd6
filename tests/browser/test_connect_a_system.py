"""An admin connects a new REST system in a real browser, as the README walks through: add it
in the admin with its settings, test the connection, browse its records. The screenshots are
the README's."""

import json

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The simulator's "offset" style: offset/limit paging, records under "items", a total, an API
# key in a header, and a changed-since parameter of its own.
SHOP_SETTINGS = {
    "auth": {"type": "api_key", "name": "X-API-Key"},
    "records_path": "items",
    "total_path": "total",
    "pagination": {"type": "offset"},
    "changed_since": {"param": "modified_after"},
    "update_method": "PATCH",
}


def test_an_admin_adds_a_rest_system_tests_the_connection_and_browses_it(
    page: Page, live_server, demo_flow, simulator, monkeypatch, artifacts_dir
):
    monkeypatch.setenv("IC_SHOP_API_KEY", "sim-api-key")  # the simulator's default key
    log_in(page, live_server, "ada", "ada-demo")

    page.goto(f"{live_server.url}/admin/catalog/system/add/")
    page.get_by_label("Name").fill("Web shop")
    page.get_by_label("Connector").select_option("rest")
    page.get_by_label("Base url").fill(f"{simulator.base_url}/styles/offset/crm")
    page.get_by_label("Settings").fill(json.dumps(SHOP_SETTINGS, indent=2))
    page.get_by_label("Auth token variable").fill("IC_SHOP_API_KEY")
    page.screenshot(path=artifacts_dir / "connect-1-add-system.png", full_page=True)
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")

    page.get_by_role("link", name="Test the connection").click()
    page.get_by_label("Resource").fill("contacts")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#probe-result")).to_contain_text("Connected: 5 records")
    expect(page.locator("body")).not_to_contain_text("sim-api-key")
    page.screenshot(path=artifacts_dir / "connect-2-test-connection.png", full_page=True)

    page.goto(f"{page.url.split('/test/')[0]}/browse/?resource=contacts")
    expect(page.locator("#browsed-records tbody tr")).to_have_count(25)
    page.screenshot(path=artifacts_dir / "connect-3-browse.png")


def test_settings_that_do_not_suit_the_kind_are_refused_when_saved(
    page: Page, live_server, demo_flow, simulator
):
    log_in(page, live_server, "ada", "ada-demo")
    page.goto(f"{live_server.url}/admin/catalog/system/add/")
    page.get_by_label("Name").fill("Broken shop")
    page.get_by_label("Base url").fill(f"{simulator.base_url}/styles/offset/crm")
    page.get_by_label("Settings").fill(json.dumps({"pagination": {"type": "pages"}}))
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".errorlist")).to_contain_text("pagination.type")
