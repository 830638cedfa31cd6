"""Alias tables: people say what the text systems send means, instead of transforms guessing."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from integration_console.catalog.models import ValueAlias
from integration_console.catalog.transforms import TransformError, apply_chain, country_iso

pytestmark = pytest.mark.django_db


def test_an_alias_is_stored_case_folded_with_its_spacing_collapsed():
    alias = ValueAlias.objects.create(table="country", alias="  Great \t BRITAIN ", value="GB")
    alias.refresh_from_db()
    assert alias.alias == "great britain"


def test_an_alias_differing_only_in_case_and_spacing_is_a_duplicate():
    ValueAlias.objects.create(table="country", alias="UK", value="GB")
    again = ValueAlias(table="country", alias=" uk ", value="GB")
    with pytest.raises(ValidationError, match="already exists"):
        again.full_clean()


def test_a_country_alias_must_stand_for_an_iso_alpha_2_code():
    with pytest.raises(ValidationError, match="'Britain' is not an ISO 3166-1 alpha-2 code"):
        ValueAlias(table="country", alias="UK", value="Britain").full_clean()


def test_a_country_alias_that_an_exact_look_up_already_finds_is_refused():
    with pytest.raises(ValidationError, match="already an ISO country name or code"):
        ValueAlias(table="country", alias="GERMANY", value="AT").full_clean()


def test_country_iso_finds_what_an_admin_added_to_the_country_table():
    ValueAlias.objects.create(table="country", alias="UK", value="GB")
    ValueAlias.objects.create(table="country", alias="Deutschland", value="DE")
    assert apply_chain("trim|country_iso", " uk ") == "GB"
    assert apply_chain("trim|country_iso", "DEUTSCHLAND") == "DE"


def test_a_saved_alias_is_used_by_the_next_record_and_a_deleted_one_is_forgotten():
    with pytest.raises(TransformError):
        country_iso("UK")  # the table is now cached, empty
    alias = ValueAlias.objects.create(table="country", alias="UK", value="GB")
    assert country_iso("UK") == "GB"
    alias.delete()
    with pytest.raises(TransformError):
        country_iso("UK")


def test_alias_look_ups_read_the_table_once_not_once_per_record(django_assert_num_queries):
    ValueAlias.objects.create(table="country", alias="UK", value="GB")
    ValueAlias.objects.create(table="status", alias="active", value="A")
    with django_assert_num_queries(2):  # one per table
        for _ in range(50):
            assert country_iso("UK") == "GB"
            assert apply_chain("lookup:status", "Active") == "A"
            with pytest.raises(TransformError):
                country_iso("Atlantis")


def test_an_alias_pointing_to_no_country_is_a_transform_error_naming_the_alias():
    # Written around clean(), as a data migration or the shell could.
    ValueAlias.objects.create(table="country", alias="UK", value="Britain")
    with pytest.raises(TransformError, match="alias 'uk' points to 'Britain'"):
        country_iso("UK")


def test_admins_add_aliases_in_the_admin(admin_client):
    response = admin_client.post(
        reverse("admin:catalog_valuealias_add"),
        {"table": "country", "alias": "  Deutschland ", "value": "DE", "note": "ERP exports"},
    )
    assert response.status_code == 302, response.content[:2000]
    alias = ValueAlias.objects.get()
    assert (alias.alias, alias.value, alias.history.count()) == ("deutschland", "DE", 1)
    assert country_iso("Deutschland") == "DE"
