"""An operator settles the shipped demo's possible duplicates in a real browser (Debian's
chromium via Playwright): compares a record with its candidate, merges one into a candidate
field by field and undoes it, and creates one anyway."""

import re
import time

import httpx
import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from integration_console.sync.models import Merge
from review_queue.models import ReviewItem
from tests.browser.helpers import log_in, watch_for_errors
from tests.factories import run_flow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queued_world(shipped_demo_flow, settings, django_capture_on_commit_callbacks, job_runner):
    # The first run executes here, so the operator starts from the seeded queue with its four
    # possible duplicates (C-0031, C-0033, C-0035, C-0037).
    redis_url = settings.REDIS_URL
    settings.REDIS_URL = ""
    run_flow(shipped_demo_flow, django_capture_on_commit_callbacks)
    settings.REDIS_URL = redis_url
    return shipped_demo_flow


def open_item(page: Page, live_server, source_id: str) -> ReviewItem:
    item = ReviewItem.objects.get(source_id=source_id, kind="possible_duplicate")
    log_in(page, live_server, "olivia", "olivia-demo")
    expect(page.get_by_role("heading", name="Flows")).to_be_visible()
    page.goto(live_server.url + reverse("review_queue:item_detail", args=[item.pk]))
    expect(page).to_have_title(f"{source_id} · Review queue")
    return item


def erp_customer(simulator, target_id: str) -> dict:
    response = httpx.get(f"{simulator.erp_url}/customers/{target_id}", timeout=10)
    response.raise_for_status()
    return response.json()


def test_operator_compares_a_possible_duplicate_with_its_candidate_side_by_side(
    page: Page, live_server, queued_world, simulator, artifacts_dir
):
    problems = watch_for_errors(page)
    open_item(page, live_server, "C-0033")

    candidates = page.locator("#candidates")
    expect(candidates).to_contain_text("Possible duplicate: 1 Simulated ERP record looks like")
    expect(candidates.locator("th.candidate-head")).to_have_count(1)
    head = candidates.locator("th.candidate-head[data-target-id='E-10003']")
    expect(head).to_contain_text(re.compile(r"E-10003\s*\d+%"))

    # Given and family names are swapped: the candidate says so, and the names, alike once
    # swapped back, are not highlighted; each shows how alike it is.
    expect(head.locator(".names-swapped")).to_have_text("given and family names swapped")
    for field in ("given_name", "family_name"):
        row = candidates.locator(f"tr[data-field='{field}']")
        expect(row.locator("td.differs")).to_have_count(0)
        expect(row.locator(".field-score")).to_have_text("(100%)")
    customer = erp_customer(simulator, "E-10003")
    given_name = candidates.locator("tr[data-field='given_name'] td")
    expect(given_name.nth(0)).to_have_text(customer["family_name"])
    expect(given_name.nth(1)).to_contain_text(customer["given_name"])
    # The e-mail lost a hyphen: it differs too. The company is the same: not highlighted.
    expect(candidates.locator("tr[data-field='email'] td.differs")).to_have_count(1)
    expect(candidates.locator("tr[data-field='company'] td.differs")).to_have_count(0)

    expect(candidates.get_by_role("button", name="Link to E-10003")).to_be_visible()
    expect(candidates.get_by_role("link", name="Merge into E-10003…")).to_be_visible()
    expect(candidates.get_by_label("Why it is not a duplicate")).to_be_visible()
    expect(candidates.get_by_role("button", name="Not a duplicate: create it")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "duplicate-compare.png"), full_page=True)
    assert problems == [], "\n".join(problems)


def test_operator_merges_field_by_field_then_undoes_the_merge(
    page: Page, live_server, queued_world, simulator, artifacts_dir
):
    problems = watch_for_errors(page)
    open_item(page, live_server, "C-0037")
    before = erp_customer(simulator, "E-10004")
    assert before["given_name"] == "Robert"

    page.get_by_role("link", name="Merge into E-10004…").click()
    expect(page).to_have_title("Merge C-0037 · Review queue")
    expect(page.get_by_label("Surviving record")).to_have_value("E-10004")
    fields = page.locator("#merge-fields")
    # Each field's radios: the CRM record's value first, then E-10004's.
    fields.locator("tr[data-field='given_name'] input[value='source']").check()
    fields.locator("tr[data-field='company'] input[value='E-10004']").check()
    # By the owner rule the CRM's e-mail would win; the operator keeps the ERP's.
    email = fields.locator("tr[data-field='email']")
    expect(email.locator("input[value='source']")).to_be_checked()
    email.get_by_label(before["email"]).check()
    page.get_by_role("button", name="Preview").click()

    preview = page.locator("#merge-preview")
    expect(preview).to_contain_text("The merged record, as E-10004 will hold it")
    expect(preview.locator("[data-field='given_name']")).to_have_text("Given name: Bob")
    expect(preview.locator("[data-field='crm_ref']")).to_have_text("CRM reference: C-0037")
    expect(preview.locator("[data-field='company']")).to_have_text(f"Company: {before['company']}")
    expect(preview.locator("[data-field='email']")).to_have_text(f"Email: {before['email']}")
    # The choices survive the preview's round trip.
    expect(fields.locator("tr[data-field='given_name'] input[value='source']")).to_be_checked()
    expect(email.locator("input[value='E-10004']")).to_be_checked()
    page.screenshot(path=str(artifacts_dir / "duplicate-merge-preview.png"), full_page=True)

    page.locator("#apply-merge").click()
    expect(page).to_have_title(re.compile(r"Merge #\d+ · Review queue"))
    expect(page.locator("#merge-status")).to_have_text("Applied", timeout=30_000)
    expect(page.locator("#merge-steps li").first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "duplicate-merge-applied.png"), full_page=True)
    merged = erp_customer(simulator, "E-10004")
    assert (merged["given_name"], merged["crm_ref"], merged["email"], merged["company"]) == (
        "Bob",
        "C-0037",
        before["email"],
        before["company"],
    )

    page.get_by_label("Why undo it").fill("Bob is Robert's son, not Robert")
    page.get_by_role("button", name="Undo the merge").click()
    expect(page.locator("#merge-status")).to_have_text("Undone", timeout=30_000)
    expect(page.get_by_text("Bob is Robert's son, not Robert")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "duplicate-merge-undone.png"), full_page=True)
    undone = erp_customer(simulator, "E-10004")
    assert (undone["given_name"], undone["crm_ref"]) == ("Robert", before["crm_ref"])

    page.get_by_role("navigation", name="breadcrumb").get_by_role("link", name="C-0037").click()
    expect(page.locator("#item-status")).to_have_text("Open")
    expect(page.locator("#candidates")).to_be_visible()
    expect(page.locator("#history")).to_contain_text("Bob is Robert's son, not Robert")
    assert problems == [], "\n".join(problems)


def test_operator_creates_a_possible_duplicate_anyway(
    page: Page, live_server, queued_world, simulator
):
    problems = watch_for_errors(page)
    open_item(page, live_server, "C-0035")

    page.get_by_label("Why it is not a duplicate").fill("Another person at the same company")
    page.get_by_role("button", name="Not a duplicate: create it").click()

    expect(page.locator("#item-status")).to_have_text("Resolved", timeout=30_000)
    expect(page.locator("#history")).to_contain_text("Not a duplicate: create anyway")
    expect(page.locator("#history")).to_contain_text("Another person at the same company")
    response = httpx.get(f"{simulator.erp_url}/customers", params={"page_size": 200}, timeout=10)
    created = [c for c in response.json()["results"] if c.get("crm_ref") == "C-0035"]
    assert len(created) == 1, created
    new_id = created[0]["id"]
    assert new_id != "E-10005"
    expect(page.locator("#resolution")).to_contain_text(f"Synced to Simulated ERP as {new_id}")
    assert problems == [], "\n".join(problems)


def test_operator_previews_high_score_pairs_and_links_them_in_one_bulk_action(
    page: Page, live_server, queued_world, simulator, artifacts_dir
):
    problems = watch_for_errors(page)
    log_in(page, live_server, "olivia", "olivia-demo")
    expect(page.get_by_role("heading", name="Flows")).to_be_visible()
    page.goto(live_server.url + reverse("review_queue:item_list"))
    page.locator("#duplicates-link").click()
    page.get_by_label("Best candidate scores at least (%)").fill("70")
    page.get_by_role("button", name="Show").click()

    rows = page.locator("#pairs tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator("#pairs")).to_contain_text("E-10004")
    page.screenshot(path=artifacts_dir / "duplicate-pairs.png", full_page=True)
    page.get_by_role("button", name="Link these 4 pairs").click()

    expect(page.locator("#bulk-status")).to_have_text("Succeeded", timeout=30_000)
    expect(page.locator("#count-succeeded")).to_have_text("4")
    expect(page.locator("dt", has_text="Linked")).to_be_visible()
    page.screenshot(path=artifacts_dir / "duplicate-pairs-linked.png", full_page=True)
    linked = ReviewItem.objects.filter(kind="possible_duplicate", status="resolved")
    assert {item.source_id for item in linked} == {"C-0031", "C-0033", "C-0035", "C-0037"}
    assert problems == []


def test_operator_previews_the_merged_records_and_merges_the_pairs_in_one_bulk_action(
    page: Page, live_server, queued_world, simulator, artifacts_dir
):
    problems = watch_for_errors(page)
    log_in(page, live_server, "olivia", "olivia-demo")
    expect(page.get_by_role("heading", name="Flows")).to_be_visible()
    page.goto(live_server.url + reverse("review_queue:duplicate_pairs"))
    page.get_by_label("Best candidate scores at least (%)").fill("84")
    page.get_by_label("A merge takes each field's").select_option("newest")
    page.get_by_role("button", name="Show").click()

    expect(page.locator("#pairs tbody tr")).to_have_count(2)
    jordi = page.locator("#pairs tbody tr", has_text="C-0033")
    # The CRM's record is the newer one: its swapped names are what the merge writes.
    expect(jordi.locator('li[data-field="given_name"].changes')).to_contain_text("De Keyser")
    page.screenshot(path=artifacts_dir / "duplicate-pairs-merge-preview.png", full_page=True)
    page.get_by_role("button", name=re.compile(r"Merge these 2 pairs")).click()

    expect(page.locator("#bulk-status")).to_have_text("Succeeded", timeout=30_000)
    expect(page.locator("dt", has_text="Merge queued")).to_be_visible()
    expect(page.locator("#count-succeeded")).to_have_text("2")
    merges = Merge.objects.filter(source_id__in=["C-0031", "C-0033"])
    for _ in range(150):
        if merges.count() == 2 and all(m.status == Merge.Status.APPLIED for m in merges):
            break
        time.sleep(0.2)
    assert sorted(merges.values_list("source_id", "status")) == [
        ("C-0031", "applied"),
        ("C-0033", "applied"),
    ]
    assert erp_customer(simulator, "E-10003")["given_name"] == "De Keyser"
    page.reload()
    listed = page.locator("#bulk-merges")
    expect(listed.locator("tbody tr")).to_have_count(2)
    expect(listed.locator("tr", has_text="C-0033")).to_contain_text("E-10003")
    expect(listed.locator("tr", has_text="C-0033")).to_contain_text("Applied")
    page.screenshot(path=artifacts_dir / "duplicate-pairs-merged.png", full_page=True)
    listed.get_by_role("link", name="C-0033").click()
    expect(page.locator("#merge-status")).to_have_text("Applied")
    assert problems == []
