import json

import pytest

from integration_console.matching.scoring import score
from integration_console.matching.spec import FieldComparison, MatchSpec

from .people import ada, household_member, people_spec


def field(match, name):
    (found,) = [f for f in match.fields if f.field == name]
    return found


def test_the_same_record_scores_one_on_every_field():
    match = score(ada(), ada(), people_spec())

    assert match.total == 1.0
    assert [f.score for f in match.fields] == [1.0] * len(people_spec().fields)
    assert match.caps == ()


def test_each_field_says_what_was_compared_how_and_how_much_it_counts():
    match = score(ada(), ada(email="ADA.LOVELACE@example.com "), people_spec())

    email = field(match, "email")
    assert (email.method, email.weight, email.score) == ("email", 4.0, 1.0)
    assert (email.left, email.right) == ("ada.lovelace@example.com", "ADA.LOVELACE@example.com ")


def test_a_missing_field_does_not_count():
    match = score(ada(), ada(phone=None, birth_date="", company=None), people_spec())

    assert field(match, "phone").score is None
    assert field(match, "birth_date").score is None
    assert match.total == 1.0


def test_a_field_that_differs_lowers_the_weighted_mean():
    spec = people_spec()
    match = score(ada(), ada(postcode="20095"), spec)

    weights = sum(c.weight for c in spec.fields)
    assert field(match, "postcode").score == 0.0
    assert match.total == pytest.approx(1 - 1.0 / weights)


def test_swapped_names_score_as_the_same_and_say_so():
    match = score(ada(), ada(given_name="Lovelace", family_name="Ada"), people_spec())

    assert field(match, "given_name").score == 1.0
    assert field(match, "family_name").score == 1.0
    assert match.names_swapped


def test_unrelated_names_are_not_taken_for_swapped():
    match = score(
        ada(given_name="Damien", family_name="Smith"),
        ada(given_name="Damien", family_name="Parker"),
        people_spec(),
    )

    assert not match.names_swapped
    assert field(match, "given_name").score == 1.0


def test_a_nickname_scores_almost_as_the_formal_name():
    match = score(ada(given_name="Robert"), ada(given_name="Bob"), people_spec())

    assert field(match, "given_name").score == 0.95


def test_a_typo_in_a_name_scores_high():
    match = score(ada(), ada(family_name="Lovelcae"), people_spec())

    assert field(match, "family_name").score > 0.9


def test_an_initial_fits_its_name():
    match = score(ada(given_name="A."), ada(), people_spec())

    assert field(match, "given_name").score == 0.85


@pytest.mark.parametrize(
    ("other", "expected"),
    [
        ("ada.lovelace@example.com", 1.0),
        ("ada.lovelcae@example.com", 0.8),
        ("ada.lovelace@example.org", 0.6),
        ("countess@example.com", 0.5),
    ],
)
def test_emails_score_by_how_near_they_are(other, expected):
    assert field(score(ada(), ada(email=other), people_spec()), "email").score == expected


@pytest.mark.parametrize(
    ("other", "expected"),
    [
        ("+49 30 1234567", 1.0),
        ("+43 30 1234567", 0.8),
        ("030 1234568", 0.6),
        ("040 7654321", 0.5),
    ],
)
def test_phones_score_by_how_near_they_are(other, expected):
    assert field(score(ada(), ada(phone=other), people_spec()), "phone").score == expected


@pytest.mark.parametrize(
    ("other", "expected"),
    [
        ("1815-12-10", 1.0),
        ("1815-10-12", 0.9),
        ("1815-12-13", 0.7),
        ("1816-12-10", 0.6),
        ("1805-02-21", 0.0),
    ],
)
def test_dates_score_by_how_near_they_are(other, expected):
    assert field(score(ada(), ada(birth_date=other), people_spec()), "birth_date").score == expected


def test_companies_compare_by_their_words():
    match = score(ada(), ada(company="Analytical Engines"), people_spec())

    assert field(match, "company").score == 1.0


def test_exact_compares_a_postcode_as_a_postcode():
    assert field(score(ada(), ada(postcode=" 101-15"), people_spec()), "postcode").score == 1.0


def test_a_household_member_scores_below_review():
    spec = people_spec()

    assert score(household_member(), ada(), spec).total < spec.review


def test_a_household_member_is_kept_below_review_when_little_else_is_known():
    spec = people_spec()
    match = score(household_member(email=None, birth_date=None), ada(), spec)

    assert match.uncapped is not None and match.uncapped >= spec.review
    assert match.total < spec.review
    assert match.caps == (
        "the names differ and neither the e-mail nor the date of birth is the same",
    )


def test_a_household_member_on_a_shared_email_goes_to_a_person():
    spec = people_spec()
    match = score(household_member(email=ada()["email"], birth_date=None), ada(), spec)

    assert spec.review <= match.total < spec.auto_link


def test_a_son_named_after_his_father_is_not_linked_to_him():
    spec = people_spec()
    father = ada(given_name="John", family_name="Smith", email="js@example.com")
    son = ada(given_name="John Jr.", family_name="Smith", email=None, birth_date="1845-01-02")

    match = score(son, father, spec)

    assert match.total < spec.auto_link
    assert field(match, "birth_date").score == 0.0


def test_a_son_without_a_birthday_on_the_family_phone_is_not_linked_to_his_father():
    spec = people_spec()
    father = ada(given_name="John", family_name="Smith", email="js@example.com", birth_date=None)
    son = ada(given_name="John", family_name="Smith", email="junior@example.com")

    assert score(son, father, spec).total < spec.auto_link


def test_names_alone_do_not_identify_anyone():
    spec = people_spec()
    names_only = {"given_name": "Ada", "family_name": "Lovelace", "postcode": "10115"}

    match = score(names_only, ada(), spec)

    assert spec.review <= match.total < spec.auto_link
    assert match.caps == ("no e-mail, phone or date of birth is the same",)


def test_names_that_are_only_alike_are_not_enough_to_link():
    spec = people_spec()
    match = score(
        ada(given_name="Shane", email=None, birth_date=None),
        ada(given_name="Jane", email=None, birth_date=None),
        spec,
    )

    assert match.total < spec.auto_link


def test_a_spec_without_names_is_a_plain_weighted_mean():
    spec = MatchSpec(
        roles={},
        blocking=("field:vat_id",),
        fields=(
            FieldComparison("vat_id", "exact", 3.0),
            FieldComparison("company", "token_set", 1.0),
        ),
    )

    match = score({"vat_id": "DE1", "company": "Acme"}, {"vat_id": "DE2", "company": "Acme"}, spec)

    assert match.total == pytest.approx(0.25)
    assert match.caps == ()


def test_what_is_not_a_mapping_scores_nothing():
    match = score(None, ada(), people_spec())  # type: ignore[arg-type]

    assert match.total == 0.0
    assert all(f.score is None for f in match.fields)


def test_the_json_form_is_what_postgresql_stores():
    nasty = ada(given_name="Ada\x00", company=float("nan"), postcode=["10115"])

    stored = score(nasty, ada(), people_spec()).to_json()

    assert "\x00" not in json.dumps(stored, allow_nan=False, ensure_ascii=False)
    assert set(stored) == {"total", "fields", "uncapped", "caps", "names_swapped"}
    assert set(stored["fields"][0]) == {"field", "method", "weight", "left", "right", "score"}


def test_twins_on_one_email_are_left_to_a_person():
    spec = people_spec()
    twin = ada(given_name="Augusta")

    match = score(twin, ada(), spec)

    assert match.uncapped is not None and match.uncapped >= spec.auto_link
    assert spec.review <= match.total < spec.auto_link
    assert match.caps == ("the names differ",)


def test_a_nickname_counts_without_a_family_name_role_too():
    spec = MatchSpec(
        roles={"given_name": "first", "email": "email"},
        blocking=("email",),
        fields=(FieldComparison("first", "name", 1.0), FieldComparison("email", "email", 1.0)),
    )

    match = score(
        {"first": "Bob", "email": "b@x.org"}, {"first": "Robert", "email": "b@x.org"}, spec
    )

    assert field(match, "first").score == 0.95
