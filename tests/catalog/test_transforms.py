"""Transforms: examples of what each does, and properties that hold for any input."""

import pycountry
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from integration_console.catalog.models import ValueAlias
from integration_console.catalog.transforms import (
    TransformError,
    apply_chain,
    country_iso,
    empty_to_none,
    lower,
    trim,
    unknown_transforms,
    upper,
)

# Modest: the whole file stays within a few seconds. The database tests run every example in
# one test transaction, which hypothesis cannot see and need not reset (they only read).
PROPERTY = settings(deadline=None, max_examples=150)
WITH_DB = settings(
    PROPERTY, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

# Any text Python can hold: NUL, control characters, lone surrogates (PostgreSQL refuses the
# last two, so an error message must not carry them raw).
ANY_TEXT = st.text(st.characters())
NOT_TEXT = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.lists(st.integers(), max_size=3)
)
BLANK = st.text(st.sampled_from(" \t\n\r\x0b\x0c\u00a0\u2003\u3000"))
ISO_ALPHA_2 = {country.alpha_2 for country in pycountry.countries}
HUGE = "Deutschland" * 100_000


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


@pytest.mark.django_db
def test_unknown_country_is_a_transform_error_naming_it():
    with pytest.raises(TransformError, match="Atlantis"):
        apply_chain("country_iso", "Atlantis")


def test_empty_country_stays_empty_for_validation_to_judge():
    assert apply_chain("country_iso", "") is None


def test_unknown_transform_names_are_reported():
    assert unknown_transforms("trim| shout |lower|whisper") == ["shout", "whisper"]
    with pytest.raises(TransformError, match="shout"):
        apply_chain("trim|shout", "x")


# --- trim, lower, upper, empty_to_none ----------------------------------------------------


@PROPERTY
@given(ANY_TEXT)
def test_trim_only_removes_characters_and_is_idempotent(text):
    trimmed = trim(text)
    assert trimmed in text
    assert trimmed == trimmed.strip()
    assert trim(trimmed) == trimmed


@PROPERTY
@given(ANY_TEXT)
def test_lower_and_upper_are_idempotent(text):
    assert lower(lower(text)) == lower(text)
    assert upper(upper(text)) == upper(text)


@PROPERTY
@given(BLANK)
def test_empty_to_none_turns_every_blank_string_into_none(text):
    assert empty_to_none(text) is None


@PROPERTY
@given(ANY_TEXT.filter(lambda text: text.strip()))
def test_empty_to_none_leaves_text_with_content_untouched(text):
    assert empty_to_none(text) is text


@PROPERTY
@given(NOT_TEXT)
def test_string_transforms_pass_anything_but_text_through_untouched(value):
    for transform in (trim, lower, upper, empty_to_none):
        assert transform(value) is value


# --- country_iso ----------------------------------------------------------------------------


def country_spellings():
    return [
        (spelling, country.alpha_2)
        for country in pycountry.countries
        for attribute in ("alpha_2", "alpha_3", "name", "official_name", "common_name")
        if (spelling := getattr(country, attribute, None))
    ]


@PROPERTY
@given(
    st.sampled_from(country_spellings()),
    st.sampled_from([str, str.upper, str.lower, str.swapcase]),
    BLANK,
    BLANK,
)
def test_every_exact_iso_spelling_finds_its_country_whatever_the_case_and_spacing(
    spelling_and_code, case, before, after
):
    spelling, code = spelling_and_code
    assert country_iso(f"{before}{case(spelling)}{after}".replace(" ", "  ")) == code


@pytest.mark.django_db
@WITH_DB
@given(ANY_TEXT)
@example("\x00")
@example("\ud800")
@example("Germany\x00")
@example(HUGE)
def test_country_iso_gives_an_iso_code_or_none_or_a_transform_error_and_nothing_else(text):
    try:
        code = country_iso(text)
    except TransformError as exc:
        message = str(exc)
        assert len(message) < 300
        assert "\x00" not in message and message.encode("utf-8")  # storable as it is
    else:
        assert code is None if not text.strip() else code in ISO_ALPHA_2


@pytest.mark.django_db
@pytest.mark.parametrize("guess", ["-", "none", "Korea", "Berlin"])
def test_country_iso_does_not_guess(guess):
    with pytest.raises(TransformError, match="Unknown country"):
        country_iso(guess)


@pytest.mark.parametrize("value", [42, 3.5, True, ["DE"]])
def test_country_iso_refuses_anything_but_text(value):
    with pytest.raises(TransformError, match="Expected a country name"):
        country_iso(value)


@pytest.mark.django_db
@WITH_DB
@given(
    st.sampled_from(["UK", "Deutschland", "Great Britain"]),
    st.sampled_from([str, str.upper, str.lower, str.swapcase]),
    BLANK,
)
def test_a_country_alias_is_found_whatever_the_case_and_spacing(alias, case, padding):
    # Aliases as stored (normalised): get_or_create compares them as given.
    ValueAlias.objects.get_or_create(table="country", alias="uk", value="GB")
    ValueAlias.objects.get_or_create(table="country", alias="deutschland", value="DE")
    ValueAlias.objects.get_or_create(table="country", alias="great britain", value="GB")
    expected = {"UK": "GB", "Deutschland": "DE", "Great Britain": "GB"}[alias]
    assert country_iso(f"{padding}{case(alias)}{padding}".replace(" ", " \t")) == expected


# --- lookup:<table> -------------------------------------------------------------------------


@pytest.mark.django_db
@WITH_DB
@given(ANY_TEXT)
@example(" Active ")
@example("\x00")
def test_lookup_gives_a_value_of_its_table_or_none_or_a_transform_error(text):
    ValueAlias.objects.get_or_create(table="status", alias="active", value="A")
    ValueAlias.objects.get_or_create(table="status", alias="on hold", value="H")
    try:
        value = apply_chain("lookup:status", text)
    except TransformError as exc:
        assert "'status' lookup table" in str(exc)
    else:
        assert value is None if not text.strip() else value in {"A", "H"}


@pytest.mark.django_db
def test_lookup_reads_the_table_it_names():
    ValueAlias.objects.create(table="status", alias="on hold", value="H")
    ValueAlias.objects.create(table="tier", alias="on hold", value="bronze")
    assert apply_chain("trim|lookup:status", "  On   Hold ") == "H"
    assert apply_chain("lookup:tier", "ON HOLD") == "bronze"
    with pytest.raises(TransformError, match="'Paused' is not in the 'status' lookup table"):
        apply_chain("lookup:status", "Paused")


def test_a_lookup_is_a_known_transform_when_it_names_a_table():
    assert unknown_transforms("lookup:status|lookup:|lookup:two words") == [
        "lookup:",
        "lookup:two words",
    ]
