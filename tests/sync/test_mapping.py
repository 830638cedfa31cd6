import pytest

from integration_console.catalog.models import FieldRule
from integration_console.sync.failures import FailureKind, RecordFailure
from integration_console.sync.mapping import get_path, transform_record


def rule(source, target, transform="", required=False):
    return FieldRule(source_path=source, target_path=target, transform=transform, required=required)


def test_dotted_paths_reach_nested_values():
    assert get_path({"address": {"city": "Bonn"}}, "address.city") == "Bonn"
    assert get_path({"address": None}, "address.city") is None


@pytest.mark.django_db
def test_rules_build_the_target_payload():
    rules = [
        rule("first_name", "given_name", "trim"),
        rule("country", "country_code", "country_iso"),
    ]
    record = {"first_name": "  Anna ", "country": "Germany", "ignored": "x"}
    assert transform_record(rules, record).payload == {"given_name": "Anna", "country_code": "DE"}


@pytest.mark.django_db  # country_iso reads the alias table
def test_every_failing_field_is_reported_at_once_as_a_mapping_error():
    rules = [
        rule("country", "country_code", "country_iso"),
        rule("last_name", "family_name", "trim", required=True),
    ]
    with pytest.raises(RecordFailure) as caught:
        transform_record(rules, {"country": "Atlantis", "last_name": "  "})
    failure = caught.value
    assert failure.kind == FailureKind.MAPPING_ERROR
    assert set(failure.field_errors) == {"country_code", "family_name"}
    assert "Atlantis" in failure.field_errors["country_code"][0]


@pytest.mark.django_db
def test_an_empty_optional_field_is_left_out_rather_than_sent_as_null():
    rules = [rule("first_name", "given_name", "trim"), rule("phone", "phone", "empty_to_none")]
    payload = transform_record(rules, {"first_name": "Anna", "phone": "  "}).payload
    assert payload == {"given_name": "Anna"}


@pytest.mark.django_db
def test_target_paths_build_nested_records_for_the_target():
    rules = [
        rule("email", "contact_mechanisms[0].value"),
        rule("phone", "contact_mechanisms[1].value"),
        rule("city", "addresses[0].city"),
        rule("name", "name"),
    ]
    record = {"email": "a@x.example", "phone": "+351912345678", "city": "Porto", "name": "Ana"}

    assert transform_record(rules, record).payload == {
        "contact_mechanisms": [{"value": "a@x.example"}, {"value": "+351912345678"}],
        "addresses": [{"city": "Porto"}],
        "name": "Ana",
    }
