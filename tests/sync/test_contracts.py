"""Resource contracts at work: a draft inferred from the CRM's contacts over real HTTP, each kind
of drift the check names, and runs against a CRM that drifts."""

import html

import httpx
import pytest
from django.urls import reverse

from integration_console.catalog.models import ResourceContract, System
from integration_console.catalog.services import (
    resource_contract_approve,
    resource_contract_submit,
)
from integration_console.sync.contracts import (
    ENUM_MAX_DISTINCT,
    contract_drift,
    contract_fields_from_sample,
    resource_contract_infer,
)
from integration_console.sync.models import AuditEntry, SyncRun
from review_queue.models import ReviewItem
from tests.factories import demo_user, run_flow

CONTACT_FIELDS = {"id", "first_name", "last_name", "email", "phone", "country", "company"}
CONTRACT = {
    "id": {"type": "string", "required": True},
    "email": {"type": "string", "required": True},
    "phone": {"type": "string", "required": False},
    "age": {"type": "number", "required": False},
    "visits": {"type": "integer", "required": False},
    "country": {"type": "string", "required": True, "values": ["France", "Germany"]},
}
GOOD = {"id": "C-1", "email": "ada@example.com", "phone": "+4930123456", "country": "France"}


def crm(demo_flow) -> System:
    return demo_flow.source_system


def infer_and_approve(demo_flow) -> ResourceContract:
    """The CRM's contacts contract as a business owner infers it and an admin approves it."""
    draft = resource_contract_infer(
        system=crm(demo_flow), resource="contacts", user=demo_user("bruno")
    )
    resource_contract_submit(contract=draft, user=demo_user("bruno"))
    return resource_contract_approve(contract=draft, user=demo_user("ada"))


def chaos(simulator, kind: str, **options) -> dict:
    response = httpx.post(f"{simulator.base_url}/_control/chaos/{kind}", json=options, timeout=10)
    response.raise_for_status()
    return response.json()


# --- inference ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_draft_inferred_from_the_crm_contacts_requires_each_field_and_lists_the_countries(
    demo_flow,
):
    draft = resource_contract_infer(
        system=crm(demo_flow), resource="contacts", user=demo_user("bruno")
    )

    assert (draft.number, draft.status, draft.author.username) == (1, "draft", "bruno")
    assert set(draft.fields) == CONTACT_FIELDS | {"updated_at"}
    assert all(spec["type"] == "string" and spec["required"] for spec in draft.fields.values())
    countries = draft.fields["country"]["values"]
    assert "Brazil" in countries and "Germany" in countries
    assert len(countries) <= ENUM_MAX_DISTINCT
    # Forty different names and addresses are no closed set.
    assert not any("values" in draft.fields[name] for name in ("first_name", "email", "id"))
    assert "Inferred from 40 records of Simulated CRM's contacts" in draft.note


@pytest.mark.django_db
def test_inferring_again_makes_a_new_draft_after_the_last(demo_flow):
    infer_and_approve(demo_flow)
    again = resource_contract_infer(
        system=crm(demo_flow), resource="contacts", user=demo_user("bruno")
    )
    assert (again.number, again.status) == (2, "draft")


def test_a_sample_too_small_to_tell_makes_no_enum():
    records = [{"status": "open"}, {"status": "closed"}] * 10
    assert contract_fields_from_sample(records).fields["status"] == {
        "type": "string",
        "required": True,
    }


def test_a_field_absent_from_some_records_is_optional_and_integers_with_decimals_are_numbers():
    inferred = contract_fields_from_sample(
        [{"id": 1, "score": 2}, {"id": 2, "score": 2.5}, {"id": 3}]
    )
    assert inferred.fields["id"] == {"type": "integer", "required": True}
    assert inferred.fields["score"] == {"type": "number", "required": False}


def test_a_field_seen_with_two_types_is_named_in_the_remarks():
    inferred = contract_fields_from_sample([{"code": "A"}, {"code": "B"}, {"code": 3}])
    assert inferred.fields["code"]["type"] == "string"
    assert inferred.remarks == [
        "'code' was seen as string in 2, integer in 1 records: check its type before submitting."
    ]


def test_a_sensitive_field_gets_no_values_however_few_it_takes():
    records = [{"risk": "high" if n % 2 else "low"} for n in range(40)]
    assert contract_fields_from_sample(records).fields["risk"]["values"] == ["high", "low"]
    hidden = contract_fields_from_sample(records, sensitive={"risk"})
    assert hidden.fields["risk"] == {"type": "string", "required": True, "sensitive": True}


# --- the check, kind by kind ----------------------------------------------------------------


def test_a_record_that_keeps_the_contract_has_no_drift():
    assert contract_drift(CONTRACT, GOOD) == []


def test_a_missing_optional_field_and_empty_values_are_no_drift():
    record = {"id": "C-1", "email": None, "country": " ", "age": None}
    assert contract_drift(CONTRACT, record) == []


def test_a_missing_required_field_is_named():
    record = {key: value for key, value in GOOD.items() if key != "email"}
    assert contract_drift(CONTRACT, record) == ["field 'email' is missing"]


def test_an_unexpected_field_is_named():
    assert contract_drift(CONTRACT, GOOD | {"nickname": "Ada"}) == ["new field 'nickname'"]


def test_a_missing_field_and_a_new_field_of_its_type_look_renamed():
    record = {key: value for key, value in GOOD.items() if key != "email"}
    record["e_mail"] = "ada@example.com"
    assert contract_drift(CONTRACT, record) == ["'email' looks renamed to 'e_mail'"]


def test_a_new_field_of_another_type_is_not_taken_for_a_rename():
    record = {key: value for key, value in GOOD.items() if key != "email"}
    record["email_count"] = 3
    assert contract_drift(CONTRACT, record) == [
        "field 'email' is missing",
        "new field 'email_count'",
    ]


def test_a_value_outside_the_allowed_ones_is_named():
    assert contract_drift(CONTRACT, GOOD | {"country": "Atlantis"}) == [
        "'country' has a new value 'Atlantis'"
    ]


def test_a_sensitive_fields_new_value_is_not_repeated():
    assert contract_drift(CONTRACT, GOOD | {"country": "Atlantis"}, sensitive={"country"}) == [
        "'country' has a new value"
    ]


def test_a_changed_type_is_named():
    assert contract_drift(CONTRACT, GOOD | {"age": "42"}) == ["'age' was a number, is now a string"]
    assert contract_drift(CONTRACT, GOOD | {"visits": 2.5}) == [
        "'visits' was an integer, is now a number"
    ]
    assert contract_drift(CONTRACT, GOOD | {"age": 42}) == []


# --- runs against a drifting CRM ------------------------------------------------------------


@pytest.mark.django_db
def test_a_new_value_opens_one_contract_drift_item_while_the_other_records_sync(
    demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    infer_and_approve(demo_flow)
    chaos(simulator, "new_enum_value", system="crm", field="country", value="Atlantis", id="C-0001")

    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    drifted = ReviewItem.objects.get(kind="contract_drift")
    assert drifted.source_id == "C-0001"
    assert (
        drifted.reason == "Simulated CRM's contacts changed: 'country' has a new value 'Atlantis'"
    )
    assert drifted.field_errors == {"country": ["'country' has a new value 'Atlantis'"]}
    # The demo's 36 good contacts less the drifted one; the 4 seeded problems as ever.
    assert (run.status, run.read_count, run.created_count, run.failed_count) == (
        SyncRun.Status.SUCCEEDED_WITH_FAILURES,
        40,
        35,
        5,
    )
    assert ReviewItem.objects.exclude(kind="contract_drift").count() == 4


@pytest.mark.django_db
def test_a_renamed_field_is_named_on_the_item_page_and_an_approved_contract_accepts_it(
    demo_flow, simulator, client, in_process_jobs, django_capture_on_commit_callbacks
):
    infer_and_approve(demo_flow)
    chaos(simulator, "rename_field", system="crm", **{"from": "email", "to": "e_mail"})

    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    assert (run.read_count, run.created_count, run.failed_count) == (40, 0, 40)
    assert set(ReviewItem.objects.values_list("kind", flat=True)) == {"contract_drift"}
    item = ReviewItem.objects.get(source_id="C-0002")
    assert item.reason == "Simulated CRM's contacts changed: 'email' looks renamed to 'e_mail'"
    client.force_login(demo_user("olivia"))
    page = client.get(reverse("review_queue:item_detail", args=[item.pk])).content.decode()
    assert "looks renamed to" in page and "e_mail" in page

    # A person accepts the new shape: inferred again, submitted, approved by someone else.
    accepted = infer_and_approve(demo_flow)
    assert "e_mail" in accepted.fields and "email" not in accepted.fields
    second = run_flow(demo_flow, django_capture_on_commit_callbacks)
    kinds = set(AuditEntry.objects.filter(run=second).values_list("failure_kind", flat=True))
    assert "contract_drift" not in kinds


@pytest.mark.django_db
def test_without_an_active_contract_records_are_not_checked(
    demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    draft = resource_contract_infer(
        system=crm(demo_flow), resource="contacts", user=demo_user("bruno")
    )
    resource_contract_submit(contract=draft, user=demo_user("bruno"))
    chaos(simulator, "new_enum_value", system="crm", field="country", value="Atlantis", id="C-0001")

    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    assert not ReviewItem.objects.filter(kind="contract_drift").exists()
    assert run.failed_count == 5  # the seeded four, and Atlantis, which no country code fits


# --- the admin ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_flow_admin_infers_a_draft_of_its_source_resource(demo_flow, client):
    client.force_login(demo_user("bruno"))
    response = client.post(
        reverse("admin:sync_flow_changelist"),
        {"action": "infer_source_contract", "_selected_action": [demo_flow.pk]},
        follow=True,
    )
    assert response.status_code == 200
    draft = ResourceContract.objects.get()
    assert (draft.system, draft.resource, draft.status) == (crm(demo_flow), "contacts", "draft")
    assert f"{draft} drafted from a sample" in html.unescape(response.content.decode())


@pytest.mark.django_db
def test_an_unreachable_source_is_reported_and_drafts_nothing(demo_flow, client):
    active = infer_and_approve(demo_flow)
    System.objects.filter(pk=crm(demo_flow).pk).update(base_url="http://127.0.0.1:9/crm/api")
    client.force_login(demo_user("bruno"))
    response = client.post(
        reverse("admin:catalog_resourcecontract_changelist"),
        {"action": "infer_draft", "_selected_action": [active.pk]},
        follow=True,
    )
    assert "Could not read Simulated CRM's contacts" in html.unescape(response.content.decode())
    assert ResourceContract.objects.count() == 1
