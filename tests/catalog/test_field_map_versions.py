import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from integration_console.catalog.models import FieldMapVersion, FieldRule
from tests.factories import demo_user

pytestmark = pytest.mark.django_db


def test_the_author_of_a_version_cannot_approve_it(demo_flow):
    bruno = demo_user("bruno")
    version = FieldMapVersion(
        field_map=demo_flow.field_map, number=2, author=bruno, approved_by=bruno
    )
    with pytest.raises(ValidationError, match="author of a field map version cannot approve"):
        version.full_clean()


def test_only_one_version_of_a_map_is_active(demo_flow):
    with pytest.raises(IntegrityError), transaction.atomic():
        FieldMapVersion.objects.create(
            field_map=demo_flow.field_map, number=2, status=FieldMapVersion.Status.ACTIVE
        )


def test_a_rule_naming_an_unknown_transform_is_refused(demo_flow):
    version = demo_flow.field_map.active_version
    rule = FieldRule(version=version, source_path="x", target_path="y", transform="trim|shout")
    with pytest.raises(ValidationError, match="Unknown transform: shout"):
        rule.full_clean()


def test_rules_offer_no_sync_direction_the_engine_would_not_honour(admin_client):
    # A setting the engine does not honour is not offered.
    response = admin_client.get(reverse("admin:catalog_fieldrule_add"))
    assert response.status_code == 200
    assert "conflict_rule" in response.content.decode()
    assert "direction" not in response.content.decode().lower()
    assert "direction" not in {field.name for field in FieldRule._meta.get_fields()}
