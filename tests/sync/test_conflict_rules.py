"""Merging by ownership on update: fields the target owns are withheld (and the audit says so),
and each field's conflict rule decides the rest, against the simulator over HTTP."""

import time

import httpx
import pytest

from integration_console.catalog.models import FieldRule, OwnershipRule
from integration_console.sync.models import AuditEntry, RecordLink
from review_queue.models import ReviewItem
from tests.factories import run_flow

pytestmark = pytest.mark.django_db


def erp_customer(simulator, customer_id: str) -> dict:
    return httpx.get(f"{simulator.erp_url}/customers/{customer_id}").json()


def edit(url: str, **values) -> None:
    httpx.put(url, json=values).raise_for_status()


def set_conflict_rule(flow, field: str, rule: str) -> None:
    version = flow.field_map.active_version
    FieldRule.objects.filter(version=version, target_path=field).update(conflict_rule=rule)


@pytest.fixture
def synced(demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks):
    """The demo flow after its first run, with C-0001's ERP customer id."""
    run_flow(demo_flow, django_capture_on_commit_callbacks)
    target_id = RecordLink.objects.get(source_id="C-0001").target_id
    return demo_flow, target_id


def rerun(flow, capture):
    return run_flow(flow, capture)


def last_update(source_id: str) -> AuditEntry:
    return AuditEntry.objects.filter(source_id=source_id, action="update").latest("id")


def test_a_field_the_target_owns_is_withheld_and_the_audit_says_why(
    synced, simulator, django_capture_on_commit_callbacks
):
    flow, target_id = synced  # the demo: the ERP owns customer.company
    edit(f"{simulator.crm_url}/contacts/C-0001", company="New Name GmbH", last_name="Neu")
    run = rerun(flow, django_capture_on_commit_callbacks)

    assert run.updated_count == 1
    entry = last_update("C-0001")
    assert "company" not in entry.payload and entry.payload["family_name"] == "Neu"
    assert entry.withheld == {"company": f"{flow.target_system} owns customer.company."}
    assert erp_customer(simulator, target_id)["company"] != "New Name GmbH"


def test_a_data_class_the_target_owns_is_never_overwritten(
    synced, simulator, django_capture_on_commit_callbacks
):
    flow, target_id = synced
    OwnershipRule.objects.filter(data_class=flow.data_class, field="").update(
        owner=flow.target_system
    )
    before = erp_customer(simulator, target_id)
    edit(f"{simulator.crm_url}/contacts/C-0001", last_name="Neu", phone="+4930111222")
    rerun(flow, django_capture_on_commit_callbacks)

    entry = last_update("C-0001")
    assert entry.payload == {}
    assert set(entry.withheld) >= {"family_name", "phone", "given_name", "email"}
    assert erp_customer(simulator, target_id) == before


def test_source_wins_overwrites_the_targets_value(
    synced, simulator, django_capture_on_commit_callbacks
):
    flow, target_id = synced
    edit(f"{simulator.erp_url}/customers/{target_id}", family_name="Typed In The ERP")
    edit(f"{simulator.crm_url}/contacts/C-0001", phone="+4930111222")
    rerun(flow, django_capture_on_commit_callbacks)

    assert erp_customer(simulator, target_id)["family_name"] != "Typed In The ERP"


def test_newest_wins_keeps_a_target_value_changed_after_the_source(
    synced, simulator, django_capture_on_commit_callbacks
):
    flow, target_id = synced
    set_conflict_rule(flow, "family_name", FieldRule.ConflictRule.NEWEST_WINS)
    edit(f"{simulator.crm_url}/contacts/C-0001", last_name="From The CRM")
    time.sleep(1.1)  # the simulator's clock counts whole seconds
    edit(f"{simulator.erp_url}/customers/{target_id}", family_name="Newer In The ERP")
    rerun(flow, django_capture_on_commit_callbacks)

    assert erp_customer(simulator, target_id)["family_name"] == "Newer In The ERP"
    assert "newest wins" in last_update("C-0001").withheld["family_name"]


def test_newest_wins_sends_a_source_value_changed_after_the_target(
    synced, simulator, django_capture_on_commit_callbacks
):
    flow, target_id = synced
    set_conflict_rule(flow, "family_name", FieldRule.ConflictRule.NEWEST_WINS)
    edit(f"{simulator.erp_url}/customers/{target_id}", family_name="Older In The ERP")
    time.sleep(1.1)
    edit(f"{simulator.crm_url}/contacts/C-0001", last_name="Newer In The CRM")
    rerun(flow, django_capture_on_commit_callbacks)

    assert erp_customer(simulator, target_id)["family_name"] == "Newer In The CRM"


def test_ask_opens_a_conflict_item_showing_both_values(
    synced, simulator, django_capture_on_commit_callbacks
):
    flow, target_id = synced
    set_conflict_rule(flow, "family_name", FieldRule.ConflictRule.ASK)
    edit(f"{simulator.erp_url}/customers/{target_id}", family_name="ERP Spelling")
    edit(f"{simulator.crm_url}/contacts/C-0001", last_name="CRM Spelling")
    run = rerun(flow, django_capture_on_commit_callbacks)

    assert run.failed_count == 4 + 1  # the demo's four bad contacts fail again
    item = ReviewItem.objects.get(source_id="C-0001", status="open")
    assert item.kind == "conflict"
    assert item.target_response == {
        "conflicts": {"family_name": {"source": "CRM Spelling", "target": "ERP Spelling"}}
    }
    assert "'CRM Spelling'" in item.reason and "'ERP Spelling'" in item.reason
    assert erp_customer(simulator, target_id)["family_name"] == "ERP Spelling"


def test_ask_does_not_bother_anyone_when_both_systems_agree(
    synced, simulator, django_capture_on_commit_callbacks
):
    flow, target_id = synced
    set_conflict_rule(flow, "family_name", FieldRule.ConflictRule.ASK)
    edit(f"{simulator.erp_url}/customers/{target_id}", family_name="Same")
    edit(f"{simulator.crm_url}/contacts/C-0001", last_name="Same")
    run = rerun(flow, django_capture_on_commit_callbacks)

    assert (run.updated_count, run.failed_count) == (1, 4)
    assert not ReviewItem.objects.filter(source_id="C-0001").exists()


def test_the_run_page_shows_what_an_update_withheld_and_why(
    synced, simulator, client, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    from tests.factories import demo_user

    flow, _ = synced
    edit(f"{simulator.crm_url}/contacts/C-0001", company="New Name GmbH", last_name="Neu")
    run = rerun(flow, django_capture_on_commit_callbacks)
    client.force_login(demo_user("olivia"))

    page = client.get(reverse("sync:run_detail", args=[run.pk])).content.decode()

    assert "Withheld <code>company</code>: Simulated ERP owns customer.company." in page


def test_a_field_sent_on_create_only_is_left_out_of_updates(
    synced, simulator, django_capture_on_commit_callbacks
):
    flow, target_id = synced
    version = flow.field_map.active_version
    FieldRule.objects.filter(version=version, target_path="crm_ref").update(create_only=True)
    edit(f"{simulator.erp_url}/customers/{target_id}", crm_ref="Kept by the ERP")
    edit(f"{simulator.crm_url}/contacts/C-0001", last_name="Neu")
    rerun(flow, django_capture_on_commit_callbacks)

    entry = last_update("C-0001")
    assert "crm_ref" not in entry.payload
    assert entry.withheld["crm_ref"] == "Sent on create only."
    assert erp_customer(simulator, target_id)["crm_ref"] == "Kept by the ERP"
