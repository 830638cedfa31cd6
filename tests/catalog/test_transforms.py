import pytest

from integration_console.catalog.transforms import TransformError, apply_chain, unknown_transforms


def test_trim_and_lower_clean_an_email_typed_carelessly():
    assert apply_chain("trim|lower", "  Anna.Schmidt@Example.COM ") == "anna.schmidt@example.com"


def test_transforms_apply_left_to_right():
    assert apply_chain("lower|empty_to_none", "   ") is None
    assert apply_chain("upper|trim", " de ") == "DE"


def test_string_transforms_leave_missing_values_alone():
    assert apply_chain("trim|lower", None) is None


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Germany", "DE"),
        ("United Kingdom", "GB"),
        ("netherlands", "NL"),
        ("FR", "FR"),
        ("Brazil", "BR"),
    ],
)
def test_country_name_becomes_its_iso_code(name, code):
    assert apply_chain("trim|country_iso", name) == code


def test_unknown_country_is_a_transform_error_naming_it():
    with pytest.raises(TransformError, match="Atlantis"):
        apply_chain("country_iso", "Atlantis")


def test_empty_country_stays_empty_for_validation_to_judge():
    assert apply_chain("country_iso", "") is None


def test_unknown_transform_names_are_reported():
    assert unknown_transforms("trim| shout |lower|whisper") == ["shout", "whisper"]
    with pytest.raises(TransformError, match="shout"):
        apply_chain("trim|shout", "x")
