import subprocess
import sys
from pathlib import Path

from integration_console.catalog.schema import payload_errors, schema_errors
from integration_console.demo import CUSTOMER_SCHEMA

BASE_DIR = Path(__file__).resolve().parents[2]
FIELDS = CUSTOMER_SCHEMA["fields"]
VALID = {
    "given_name": "Anna",
    "family_name": "Schmidt",
    "email": "anna@example.com",
    "country_code": "DE",
}


def test_a_complete_payload_has_no_errors():
    assert payload_errors(FIELDS, VALID) == {}


def test_missing_and_blank_required_fields_are_named():
    errors = payload_errors(FIELDS, {**VALID, "email": "  ", "given_name": None})
    assert errors == {
        "email": ["This field is required."],
        "given_name": ["This field is required."],
    }


def test_a_value_outside_the_allowed_list_is_rejected_with_the_list():
    errors = payload_errors(FIELDS, {**VALID, "country_code": "BR"})
    assert list(errors) == ["country_code"]
    assert "'BR' is not one of the allowed values" in errors["country_code"][0]
    assert "DE" in errors["country_code"][0]


def test_a_value_not_matching_the_pattern_is_rejected():
    assert "email" in payload_errors(FIELDS, {**VALID, "email": "not-an-email"})


def test_a_wrong_type_is_rejected():
    assert payload_errors(FIELDS, {**VALID, "given_name": 42}) == {
        "given_name": ["Expected a string."]
    }


def test_fields_outside_the_schema_are_reported():
    assert payload_errors(FIELDS, {**VALID, "shoe_size": "44"}) == {
        "shoe_size": ["Not a field of this data class."]
    }


def test_a_well_formed_schema_has_no_errors():
    assert schema_errors(CUSTOMER_SCHEMA) == []


def test_schema_mistakes_are_explained():
    errors = schema_errors(
        {
            "fields": [
                {"name": "a", "type": "colour"},
                {"name": "a"},
                {"pattern": "x"},
                {"name": "b", "pattern": "("},
            ]
        }
    )
    assert errors == [
        "Field 'a' has an unknown type 'colour'.",
        "Field 'a' is defined twice.",
        "Field 3 needs a name.",
        "Field 'b' has an invalid pattern: missing ), unterminated subpattern at position 0.",
    ]


def test_the_schema_checks_load_without_the_models():
    # The models import the schema checks, never the other way round: no import circle.
    script = (
        "import sys, integration_console.catalog.schema as schema; "
        "assert 'integration_console.catalog.models' not in sys.modules; "
        "assert 'date' in schema.FIELD_TYPES"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=BASE_DIR)
