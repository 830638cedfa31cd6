"""An operator exports what the queue's filters select, in a real browser (Debian's chromium via
Playwright): filter the list, export, watch the progress page finish, download the file."""

import csv
import re

import pytest
from django.http import QueryDict
from playwright.sync_api import Page, expect

from integration_console import roles
from review_queue import exports
from review_queue.models import QueueExport
from tests.browser.helpers import log_in, watch_for_errors
from tests.factories import PASSWORD, FlowFactory, ReviewItemFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queue(job_runner):
    crm, shop = FlowFactory(name="CRM contacts → ERP"), FlowFactory(name="Shop orders → ERP")
    crm_items = ReviewItemFactory.create_batch(3, flow=crm)
    ReviewItemFactory(flow=crm, source_id="=cmd|' /C calc'!A0", reason="=1+1")
    ReviewItemFactory.create_batch(2, flow=shop)
    UserFactory(username="olga", role=roles.OPERATOR)
    return crm, crm_items


def test_operator_exports_the_filtered_queue_and_downloads_the_file(
    page: Page, live_server, queue, artifacts_dir, tmp_path
):
    crm, crm_items = queue
    problems = watch_for_errors(page)
    log_in(page, live_server, "olga", PASSWORD)
    page.goto(f"{live_server.url}/queue/")
    expect(page.locator("#review-items tbody tr")).to_have_count(6)

    page.get_by_label("Flow").select_option(label=crm.name)
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#review-items tbody tr")).to_have_count(4)
    page.screenshot(path=str(artifacts_dir / "queue-export-list.png"))

    page.get_by_role("button", name="Export CSV").click()
    expect(page).to_have_title(re.compile(r"Export #\d+ · Review queue"))
    # The page refreshes itself (a meta refresh: the CSP allows no script) until the file is done.
    expect(page.locator("#export-status")).to_contain_text("Succeeded", timeout=30_000)
    expect(page.locator("#export-ready")).to_contain_text("4 items written.")
    page.screenshot(path=str(artifacts_dir / "queue-export-done.png"), full_page=True)

    with page.expect_download() as download_info:
        page.locator("#export-download").click()
    download = download_info.value
    export = QueueExport.objects.get()
    assert download.suggested_filename == f"review-items-{export.requested_at:%Y-%m-%d}.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    # Written where the job's process writes (a worker in the Redis lane): not a tmp_path.
    exports.queue_export_file(export).unlink()
    with saved.open(newline="", encoding="utf-8-sig") as file:
        header, *rows = list(csv.reader(file))
    assert header[:5] == ["id", "flow", "kind", "status", "source_id"]
    assert {row[1] for row in rows} == {crm.name}
    exported = {row[4] for row in rows}
    assert exported == {item.source_id for item in crm_items} | {"'=cmd|' /C calc'!A0"}
    assert QueryDict(export.filter_query)["flow"] == str(crm.pk)
    assert problems == []
