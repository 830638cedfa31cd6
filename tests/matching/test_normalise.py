import math
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integration_console.matching import normalise

ONE_MEGABYTE = "x" * 1_000_000
NASTY = [
    pytest.param(value, id=name)
    for name, value in {
        "none": None,
        "true": True,
        "nan": float("nan"),
        "inf": float("inf"),
        "minus-zero": -0.0,
        "decimal-nan": Decimal("NaN"),
        "decimal-snan": Decimal("sNaN"),
        "huge-int": 10**5000,
        "zero": 0,
        "empty": "",
        "spaces": "   ",
        "nul": "\x00",
        "nul-inside": "a\x00b",
        "lone-surrogate": "\ud800",
        "zero-width": "\u200b\ufeff",
        "one-megabyte": ONE_MEGABYTE,
        "pluses": "+" * 100_000,
        "ats": "@" * 10_000,
        "bad-bytes": b"\xff\xfe\x00",
        "bytearray": bytearray(b"ada"),
        "list": ["ada@example.com"],
        "tuple": ("x",),
        "dict": {"email": "ada@example.com"},
        "set": {1, 2},
        "object": object(),
        "date": date(2020, 1, 1),
    }.items()
]
TEXT_NORMALISERS = [
    normalise.text,
    normalise.exact,
    normalise.name,
    normalise.email,
    normalise.country,
    normalise.phone,
    normalise.postcode,
    normalise.date,
    normalise.phonetic,
]


@pytest.mark.parametrize("normaliser", TEXT_NORMALISERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("value", NASTY)
def test_normalisers_take_any_value_and_return_text_or_none(normaliser, value):
    result = normaliser(value)

    assert result is None or (isinstance(result, str) and result and len(result) <= 1000)
    if isinstance(result, str):
        assert "\x00" not in result
        result.encode("utf-8")  # no lone surrogates


@pytest.mark.parametrize("value", NASTY)
def test_phone_and_postcode_take_any_country(value):
    assert normalise.phone("030 1234567", value) in (None, "+49301234567")
    assert normalise.postcode("10115", value) == "10115"


@pytest.mark.parametrize("value", NASTY)
def test_given_name_forms_take_any_value(value):
    assert isinstance(normalise.given_name_forms(value), frozenset)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(),
    st.binary(),
    st.dates(),
    st.datetimes(),
)
ANYTHING = st.one_of(SCALARS, st.lists(SCALARS), st.dictionaries(st.text(), SCALARS))


@given(value=ANYTHING, country=ANYTHING)
def test_normalisers_never_raise(value, country):
    for normaliser in TEXT_NORMALISERS:
        result = normaliser(value)
        assert result is None or isinstance(result, str)
    assert isinstance(normalise.phone(value, country), str | None)
    assert isinstance(normalise.postcode(value, country), str | None)
    assert isinstance(normalise.given_name_forms(value), frozenset)


@given(value=st.text())
def test_an_email_address_normalises_to_itself(value):
    once = normalise.email(value)
    if once is not None:
        assert normalise.email(once) == once


def test_a_megabyte_of_text_is_cut_not_refused():
    assert normalise.name(ONE_MEGABYTE) == "x" * 200
    assert normalise.email(ONE_MEGABYTE) is None


def test_text_drops_control_characters_and_collapses_spaces():
    assert normalise.text("  Ada\x00 \t Love\u200blace \n") == "Ada Love lace"


def test_numbers_are_read_as_text_without_a_trailing_point_zero():
    assert normalise.text(4930123456) == "4930123456"
    assert normalise.text(10115.0) == "10115"
    assert normalise.text(math.nan) is None


class TestEmail:
    def test_folds_case_and_trims(self):
        assert normalise.email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"

    def test_drops_mailto_and_angle_brackets(self):
        assert normalise.email("mailto:ada@example.com") == "ada@example.com"
        assert normalise.email("<ada@example.com>") == "ada@example.com"

    def test_drops_dots_and_tags_for_gmail_only(self):
        assert normalise.email("Ada.Love.Lace+crm@googlemail.com") == "adalovelace@gmail.com"
        assert normalise.email("ada.lovelace+crm@example.com") == "ada.lovelace+crm@example.com"

    @pytest.mark.parametrize(
        "value",
        ["ada", "ada@", "@example.com", "ada@localhost", "a@b@example.com", "a" * 250 + "@x.com"],
    )
    def test_refuses_what_is_not_an_address(self, value):
        assert normalise.email(value) is None


class TestPhone:
    def test_reads_a_national_number_with_its_country(self):
        assert normalise.phone("030 1234567", "DE") == "+49301234567"

    @pytest.mark.parametrize(
        "value", ["+49 30 1234567", "+49 (0)30 1234567", "0049-30-1234567", "+49301234567"]
    )
    def test_reads_international_numbers_without_a_country(self, value):
        assert normalise.phone(value) == "+49301234567"

    @pytest.mark.parametrize("country", ["de", "DEU", "Germany"])
    def test_takes_the_country_as_a_code_or_a_name(self, country):
        assert normalise.phone("030 1234567", country) == "+49301234567"

    @pytest.mark.parametrize(
        "value",
        ["Tel: 030 1234567", "(030) 1234567 mobile", "030 1234567 ext. 12", "030-1234567#2"],
    )
    def test_leaves_out_words_and_an_extension(self, value):
        assert normalise.phone(value, "DE") == "+49301234567"

    def test_cannot_read_a_national_number_without_a_country(self):
        assert normalise.phone("030 1234567") is None

    @pytest.mark.parametrize("value", ["12", "+49 12", "not a phone", "++++"])
    def test_refuses_what_is_no_phone_number(self, value):
        assert normalise.phone(value, "DE") is None


class TestName:
    def test_folds_case_and_accents(self):
        assert normalise.name("ZOË Müller") == "zoe muller"

    def test_maps_letters_that_do_not_decompose(self):
        assert normalise.name("Søren Łukasz Straße") == "soren lukasz strasse"

    def test_drops_apostrophes_and_splits_hyphens(self):
        assert normalise.name("O'Brien-Smith") == "obrien smith"

    def test_drops_a_leading_title_and_a_trailing_suffix(self):
        assert normalise.name("Dr. Martin Luther King, Jr.") == "martin luther king"

    def test_keeps_a_title_that_is_the_whole_name(self):
        assert normalise.name("Dr") == "dr"


class TestPostcode:
    def test_keeps_letters_and_digits_uppercase(self):
        assert normalise.postcode(" sw1a-1aa ") == "SW1A1AA"

    def test_cuts_a_us_zip_plus_four(self):
        assert normalise.postcode("10115-1234", "US") == "10115"
        assert normalise.postcode("10115-1234", "DE") == "101151234"

    def test_refuses_what_is_too_long_for_a_postcode(self):
        assert normalise.postcode("1" * 17) is None


class TestDate:
    @pytest.mark.parametrize(
        "value",
        [
            "1815-12-10",
            "1815-12-10T08:00:00Z",
            "18151210",
            "10.12.1815",
            date(1815, 12, 10),
            datetime(1815, 12, 10, 8, 0),
        ],
    )
    def test_reads_unambiguous_forms(self, value):
        assert normalise.date(value) == "1815-12-10"

    @pytest.mark.parametrize(
        "value", ["10/12/1815", "1815-02-30", "0001-01-01", "1900-01-01", "yesterday"]
    )
    def test_refuses_ambiguous_impossible_and_placeholder_dates(self, value):
        assert normalise.date(value) is None


class TestPhonetic:
    def test_gives_misspelt_surnames_one_key(self):
        assert normalise.phonetic("Lovelace") == normalise.phonetic("Lovelase") == "LFLS"
        assert normalise.phonetic("Smith") == normalise.phonetic("Smyth")

    def test_gives_a_key_to_names_in_other_scripts(self):
        assert normalise.phonetic("Иванов") == "ИВАНОВ"


class TestGivenNameForms:
    def test_a_nickname_leads_to_its_formal_name(self):
        assert {"bob", "robert"} <= normalise.given_name_forms("Bob")
        assert normalise.given_name_forms("Robert") & normalise.given_name_forms("Bobby")

    def test_unrelated_names_share_no_form(self):
        assert not normalise.given_name_forms("Ada") & normalise.given_name_forms("William")

    def test_the_first_of_several_given_names_counts(self):
        assert "robert" in normalise.given_name_forms("Bob James")


class TestCountry:
    @pytest.mark.parametrize("value", ["de", "DE", "DEU", "Germany", " germany "])
    def test_reads_codes_and_names(self, value):
        assert normalise.country(value) == "DE"

    def test_knows_the_uk_by_its_common_code(self):
        assert normalise.country("UK") == "GB"

    def test_refuses_unknown_countries(self):
        assert normalise.country("XX") is None
        assert normalise.country("Atlantis") is None
