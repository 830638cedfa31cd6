"""A fix must not be undone by the next run: an operator's correction is kept for the record
and applied until the source's own value changes; a record that fails again after a fix says
so and links the earlier item."""

import httpx
import pytest

from integration_console.sync.models import AuditEntry, Correction, RecordLink
from integration_console.sync.services import record_corrections
from review_queue.models import ReviewItem
from review_queue.services import review_item_retry
from tests.factories import demo_user, run_flow

pytestmark = pytest.mark.django_db


def fix(item, capture, **changes):
    with capture(execute=True):
        review_item_retry(
            item=item, user=demo_user("olivia"), payload={**(item.payload or {}), **changes}
        )
    item.refresh_from_db()
    return item


def erp_customer_of(simulator, source_id):
    target_id = RecordLink.objects.get(source_id=source_id).target_id
    return httpx.get(f"{simulator.erp_url}/customers/{target_id}").json()


def test_a_corrected_field_holds_on_the_next_runs_while_the_source_is_unchanged(
    queued, demo_flow, simulator, django_capture_on_commit_callbacks
):
    item = fix(queued["C-0013"], django_capture_on_commit_callbacks, country_code="DE")
    assert item.status == "resolved"
    fixed = item.events.get(action="payload_fixed")
    assert "Kept as corrections of C-0013 (country_code)" in fixed.note

    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    # The CRM still says Brazil, and the correction still says DE: nothing new to queue.
    assert not ReviewItem.objects.filter(source_id="C-0013", status="open").exists()
    assert run.failed_count == 3
    assert erp_customer_of(simulator, "C-0013")["country_code"] == "DE"
    [correction] = record_corrections(flow=demo_flow, source_id="C-0013")
    assert (correction.value, correction.source_value, correction.retired_at) == (
        "DE",
        "Brazil",
        None,
    )


def test_the_sources_new_value_wins_over_an_old_correction(
    queued, demo_flow, simulator, django_capture_on_commit_callbacks
):
    fix(queued["C-0013"], django_capture_on_commit_callbacks, country_code="DE")
    httpx.put(f"{simulator.crm_url}/contacts/C-0013", json={"country": "France"})

    run_flow(demo_flow, django_capture_on_commit_callbacks)

    assert erp_customer_of(simulator, "C-0013")["country_code"] == "FR"
    correction = Correction.objects.get(source_id="C-0013")
    assert correction.retired_at is not None and "France" in correction.retired_reason


def test_the_audit_says_which_fields_a_kept_correction_replaced(
    queued, demo_flow, simulator, django_capture_on_commit_callbacks
):
    fix(queued["C-0013"], django_capture_on_commit_callbacks, country_code="DE")
    httpx.put(f"{simulator.crm_url}/contacts/C-0013", json={"last_name": "Changed"})
    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    entry = AuditEntry.objects.get(run=run, source_id="C-0013")
    assert entry.action == "update"
    assert entry.corrected == {"country_code": {"from": "BR", "to": "DE"}}


def test_a_record_that_fails_again_after_a_fix_links_the_earlier_item(
    queued, demo_flow, simulator, django_capture_on_commit_callbacks
):
    first = fix(queued["C-0021"], django_capture_on_commit_callbacks, phone="+4930123456")
    assert first.status == "resolved"
    httpx.put(f"{simulator.crm_url}/contacts/C-0021", json={"phone": "call me at noon"})

    run_flow(demo_flow, django_capture_on_commit_callbacks)

    again = ReviewItem.objects.get(source_id="C-0021", status="open")
    assert again.pk != first.pk
    assert again.previous_item == first
    assert again.reason.startswith(f"Failed again after a fix (item #{first.pk}).")


def test_an_unchanged_field_in_the_fix_form_is_no_correction(
    queued, demo_flow, django_capture_on_commit_callbacks
):
    fix(queued["C-0013"], django_capture_on_commit_callbacks, country_code="DE")

    assert set(Correction.objects.values_list("target_field", flat=True)) == {"country_code"}


def test_the_item_page_shows_the_corrections_kept_for_its_record(
    queued, operator_client, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    item = fix(queued["C-0013"], django_capture_on_commit_callbacks, country_code="DE")
    page = operator_client.get(reverse("review_queue:item_detail", args=[item.pk])).content

    assert b"Corrections kept for this record" in page
    assert b"<code>country_code</code> = &quot;DE&quot;" in page
    assert b"applied on every run" in page
