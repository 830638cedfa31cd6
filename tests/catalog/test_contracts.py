"""Resource contracts change under control: drafted, submitted, approved by someone else who
may approve them; approving one retires the one it replaces."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from integration_console import roles
from integration_console.catalog.models import ResourceContract
from integration_console.catalog.services import (
    ChangeControlError,
    resource_contract_approve,
    resource_contract_draft,
    resource_contract_submit,
)
from tests.factories import SystemFactory, UserFactory

pytestmark = pytest.mark.django_db

FIELDS = {
    "id": {"type": "string", "required": True},
    "country": {"type": "string", "required": True, "values": ["France", "Germany"]},
}


@pytest.fixture
def author():
    return UserFactory(role=roles.BUSINESS_OWNER)


@pytest.fixture
def approver():
    return UserFactory(role=roles.BUSINESS_OWNER)


@pytest.fixture
def system():
    return SystemFactory(name="CRM")


def draft_of(system, author, fields=FIELDS) -> ResourceContract:
    return resource_contract_draft(system=system, resource="contacts", fields=fields, user=author)


@pytest.fixture
def submitted(system, author):
    return resource_contract_submit(contract=draft_of(system, author), user=author)


def test_drafts_are_numbered_per_system_and_resource(system, author):
    first, second = draft_of(system, author), draft_of(system, author)
    other = resource_contract_draft(system=system, resource="companies", fields=FIELDS, user=author)
    assert (first.number, second.number, other.number) == (1, 2, 1)
    assert str(second) == "CRM's contacts contract v2"


def test_the_author_cannot_approve_their_own_contract(submitted, author):
    with pytest.raises(ChangeControlError, match="someone else must approve it"):
        resource_contract_approve(contract=submitted, user=author)


def test_only_a_holder_of_the_approve_permission_may_approve(submitted):
    with pytest.raises(ChangeControlError, match="Only a business owner or an admin"):
        resource_contract_approve(contract=submitted, user=UserFactory(role=roles.OPERATOR))
    # Approving field maps is another permission.
    field_map_approver = UserFactory(permissions=["catalog.approve_fieldmapversion"])
    with pytest.raises(ChangeControlError, match="Only a business owner or an admin"):
        resource_contract_approve(contract=submitted, user=field_map_approver)


def test_a_contract_must_be_submitted_before_approval(system, author, approver):
    with pytest.raises(ChangeControlError, match="must be submitted"):
        resource_contract_approve(contract=draft_of(system, author), user=approver)


def test_a_contract_without_fields_cannot_be_submitted(system, author):
    with pytest.raises(ChangeControlError, match="no fields"):
        resource_contract_submit(contract=draft_of(system, author, fields={}), user=author)


def test_malformed_fields_are_refused_at_submit_naming_the_field(system, author):
    broken = draft_of(system, author, fields={"age": {"type": "decimal", "required": "yes"}})
    with pytest.raises(ChangeControlError, match="'age' has the type 'decimal'") as refused:
        resource_contract_submit(contract=broken, user=author)
    assert '"required" must be true or false' in str(refused.value)
    with pytest.raises(ValidationError):
        broken.full_clean()


def test_approval_activates_the_contract_and_retires_the_one_it_replaces(
    system, author, approver, submitted
):
    first = resource_contract_approve(contract=submitted, user=approver)
    second = resource_contract_submit(contract=draft_of(system, author), user=author)
    second = resource_contract_approve(contract=second, user=approver)

    first.refresh_from_db()
    assert (first.status, second.status) == ("retired", "active")
    assert (second.approved_by, second.approved_at is not None) == (approver, True)
    assert [h.status for h in first.history.all()] == ["retired", "active", "submitted", "draft"]
    # Approving again changes nothing.
    assert resource_contract_approve(contract=second, user=approver).approved_by == approver


def test_an_admin_submits_and_another_user_approves_through_the_admin_actions(
    client, system, author
):
    draft = draft_of(system, author)
    changelist = reverse("admin:catalog_resourcecontract_changelist")

    client.force_login(author)
    client.post(changelist, {"action": "submit", "_selected_action": [draft.pk]})
    client.post(changelist, {"action": "approve", "_selected_action": [draft.pk]})
    draft.refresh_from_db()
    assert draft.status == "submitted"

    client.force_login(UserFactory(role=roles.ADMIN))
    client.post(changelist, {"action": "approve", "_selected_action": [draft.pk]})
    draft.refresh_from_db()
    assert draft.status == "active"


def test_only_a_draft_can_be_edited_in_the_admin(client, system, author, submitted):
    client.force_login(author)
    page = client.get(reverse("admin:catalog_resourcecontract_change", args=[submitted.pk]))
    assert page.status_code == 200
    assert 'name="fields"' not in page.content.decode()
    draft = draft_of(system, author)
    page = client.get(reverse("admin:catalog_resourcecontract_change", args=[draft.pk]))
    assert 'name="fields"' in page.content.decode()


def test_a_contract_added_in_the_admin_is_a_draft_by_its_author_numbered_next(
    client, system, author
):
    draft_of(system, author)
    client.force_login(author)
    assert client.get(reverse("admin:catalog_resourcecontract_add")).status_code == 200
    response = client.post(
        reverse("admin:catalog_resourcecontract_add"),
        {"system": system.pk, "resource": "contacts", "fields": '{"id": {"type": "string"}}'},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    added = ResourceContract.objects.get(number=2)
    assert (added.status, added.author) == ("draft", author)
