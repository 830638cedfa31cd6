"""Field maps change under control: draft, submit, approval by someone else, then use."""

import pytest
from django.urls import reverse

from integration_console.catalog.models import (
    DataClass,
    FieldMapVersion,
    FieldRule,
    System,
    ValueAlias,
)
from integration_console.catalog.services import (
    ChangeControlError,
    field_map_fit_errors,
    field_map_version_approve,
    field_map_version_draft,
    field_map_version_errors,
    field_map_version_submit,
    field_rules_errors,
)
from integration_console.sync.models import AuditEntry
from tests.factories import demo_user, run_flow

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(demo_flow):
    return field_map_version_draft(field_map=demo_flow.field_map, user=demo_user("bruno"))


def test_a_draft_starts_as_a_copy_of_the_active_version(demo_flow, draft):
    active = demo_flow.field_map.active_version
    assert (draft.number, draft.status, draft.author.username) == (2, "draft", "bruno")
    assert [str(r) for r in draft.rules.all()] == [str(r) for r in active.rules.all()]


def test_the_author_cannot_approve_their_own_version(draft):
    field_map_version_submit(version=draft, user=demo_user("bruno"))
    with pytest.raises(ChangeControlError, match="someone else must approve it"):
        field_map_version_approve(version=draft, user=demo_user("bruno"))


def test_an_operator_cannot_approve(draft):
    field_map_version_submit(version=draft, user=demo_user("bruno"))
    with pytest.raises(ChangeControlError, match="Only a business owner or an admin"):
        field_map_version_approve(version=draft, user=demo_user("olivia"))


def test_a_draft_must_be_submitted_before_approval(draft):
    with pytest.raises(ChangeControlError, match="must be submitted"):
        field_map_version_approve(version=draft, user=demo_user("ada"))


def test_a_version_without_rules_cannot_be_submitted(draft):
    draft.rules.all().delete()
    with pytest.raises(ChangeControlError, match="no field rules"):
        field_map_version_submit(version=draft, user=demo_user("bruno"))


def test_approval_activates_the_version_retires_the_old_one_and_runs_use_it(
    demo_flow, draft, in_process_jobs, django_capture_on_commit_callbacks
):
    old = demo_flow.field_map.active_version
    draft.rules.filter(target_path="crm_ref").delete()
    field_map_version_submit(version=draft, user=demo_user("bruno"))
    approved = field_map_version_approve(version=draft, user=demo_user("ada"))

    assert (approved.status, approved.approved_by.username) == ("active", "ada")
    old.refresh_from_db()
    assert old.status == FieldMapVersion.Status.RETIRED
    assert old.history.first().status == "retired"

    run = run_flow(demo_flow, django_capture_on_commit_callbacks)
    assert run.field_map_version == approved
    entries = AuditEntry.objects.filter(run=run)
    assert set(entries.values_list("payload_version", flat=True)) == {approved.pk}
    assert "crm_ref" not in entries.filter(outcome="succeeded").first().payload


def test_in_the_admin_an_approved_versions_rules_cannot_be_changed(client, demo_flow):
    client.force_login(demo_user("bruno"))
    rule = demo_flow.field_map.active_version.rules.first()
    url = reverse("admin:catalog_fieldrule_change", args=[rule.pk])
    response = client.post(
        url,
        {
            "version": rule.version_id,
            "position": 0,
            "source_path": "x",
            "target_path": rule.target_path,
        },
    )
    assert response.status_code == 403
    rule.refresh_from_db()
    assert rule.source_path != "x"


def test_the_admins_approve_action_refuses_the_author(client, draft):
    field_map_version_submit(version=draft, user=demo_user("bruno"))
    client.force_login(demo_user("bruno"))
    response = client.post(
        reverse("admin:catalog_fieldmapversion_changelist"),
        {"action": "approve", "_selected_action": [draft.pk]},
        follow=True,
    )
    assert "someone else must approve it" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == FieldMapVersion.Status.SUBMITTED


def test_the_admins_actions_take_a_version_from_draft_to_active(client, demo_flow):
    client.force_login(demo_user("bruno"))
    client.post(
        reverse("admin:catalog_fieldmap_changelist"),
        {"action": "new_draft", "_selected_action": [demo_flow.field_map.pk]},
    )
    draft = demo_flow.field_map.versions.get(status="draft")
    client.post(
        reverse("admin:catalog_fieldmapversion_changelist"),
        {"action": "submit", "_selected_action": [draft.pk]},
    )
    client.force_login(demo_user("ada"))
    client.post(
        reverse("admin:catalog_fieldmapversion_changelist"),
        {"action": "approve", "_selected_action": [draft.pk]},
    )
    assert demo_flow.field_map.active_version == draft


# --- a map is checked against its data class before it can be used --------------------------


def test_a_version_naming_a_field_the_data_class_lacks_cannot_be_submitted(draft):
    draft.rules.filter(target_path="email").update(source_path="emial", target_path="emial")
    with pytest.raises(ChangeControlError) as refused:
        field_map_version_submit(version=draft, user=demo_user("bruno"))
    assert "Rule 3 (emial -> emial): the Customer data class has no field 'emial'." in str(
        refused.value
    )
    draft.refresh_from_db()
    assert draft.status == FieldMapVersion.Status.DRAFT


def test_a_submitted_version_that_does_not_fit_its_data_class_cannot_be_approved(draft):
    field_map_version_submit(version=draft, user=demo_user("bruno"))
    # Submitted before these checks existed, or changed around the admin.
    draft.rules.filter(target_path="phone").update(transform="trim|e164")
    with pytest.raises(
        ChangeControlError, match="Rule 4 \\(phone -> phone\\): there is no transform 'e164'."
    ):
        field_map_version_approve(version=draft, user=demo_user("ada"))
    draft.refresh_from_db()
    assert draft.status == FieldMapVersion.Status.SUBMITTED
    assert draft.field_map.active_version.number == 1


def test_a_required_field_that_no_rule_fills_is_named(draft):
    draft.rules.filter(target_path="given_name").delete()
    assert field_map_version_errors(version=draft) == [
        "No rule fills 'given_name', which the Customer data class requires."
    ]


@pytest.mark.parametrize("path", ["", "  ", "address..city", ".city", "address.", " email"])
def test_a_source_path_that_is_not_a_dotted_path_is_refused(draft, path):
    draft.rules.filter(target_path="company").update(source_path=path)
    (error,) = field_map_version_errors(version=draft)
    assert error.startswith("Rule 6 (")
    assert "source path" in error


def test_a_lookup_table_without_entries_is_refused_until_it_has_some(draft):
    draft.rules.filter(target_path="company").update(transform="trim|lookup:companies")
    assert field_map_version_errors(version=draft) == [
        "Rule 6 (company -> company): the lookup table 'companies' has no entries."
    ]
    ValueAlias.objects.create(table="companies", alias="acme", value="ACME Corp.")
    assert field_map_version_errors(version=draft) == []


def test_two_rules_filling_one_field_are_refused(demo_flow):
    customer = demo_flow.data_class
    rules = [
        FieldRule(source_path=source, target_path=target)
        for source, target in [
            ("first_name", "given_name"),
            ("last_name", "family_name"),
            ("email", "email"),
            ("work_email", "email"),
            ("country", "country_code"),
        ]
    ]
    assert field_rules_errors(rules=rules, data_class=customer) == [
        "Rule 4 (work_email -> email): rule 3 already fills 'email'."
    ]


def test_the_demo_map_fits_its_data_class(demo_flow):
    assert field_map_version_errors(version=demo_flow.field_map.active_version) == []


def test_a_field_map_for_other_records_or_systems_does_not_fit_a_flow(demo_flow):
    field_map = demo_flow.field_map
    crm, erp = field_map.source_system, field_map.target_system
    contact = DataClass.objects.create(name="contact", label="Contact", schema={"fields": []})
    shop = System.objects.create(name="Shop", base_url="https://shop.example.com/api")

    assert (
        field_map_fit_errors(
            field_map=field_map,
            data_class=field_map.data_class,
            source_system=crm,
            target_system=erp,
        )
        == []
    )
    assert field_map_fit_errors(
        field_map=field_map, data_class=contact, source_system=erp, target_system=shop
    ) == [
        "The field map CRM contact → ERP customer is for Customer records, not Contact.",
        "The field map CRM contact → ERP customer reads records of Simulated CRM, "
        "not of Simulated ERP.",
        "The field map CRM contact → ERP customer writes to Simulated ERP, not to Shop.",
    ]
    assert (
        field_map_fit_errors(
            field_map=field_map, data_class=None, source_system=None, target_system=None
        )
        == []
    )
