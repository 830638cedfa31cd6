from integration_console.matching.decide import decide
from integration_console.matching.keys import (
    MAX_SCORED,
    RARE,
    BlockingIndex,
    blocking_keys,
    most_shared,
    walk_limit,
)
from integration_console.matching.spec import FieldComparison, MatchSpec

from .people import ada, household_member, people_spec


def test_a_record_has_a_key_of_each_kind():
    assert blocking_keys(ada(), people_spec()) == {
        "email:ada.lovelace@example.com",
        "phone:+49301234567",
        "name_postcode:lovelace|10115",
        # Ada's Metaphone (AT), and that of Adeline, which "Ada" is short for (AN).
        "surname_phonetic:LFLS|AT",
        "surname_phonetic:LFLS|AN",
        "surname_phonetic:AT|LF",
        # Her birthday with the sound of each of her names (and of Adeline's, Adriana's).
        "birth_name:1815-12-10|AT",
        "birth_name:1815-12-10|ATLN",
        "birth_name:1815-12-10|ANTRN",
        "birth_name:1815-12-10|LFLS",
        "email_user:ada.lovelace",
    }


def test_swapped_names_meet():
    swapped = ada(given_name="Lovelace", family_name="Ada", email=None, phone=None)
    spec = people_spec(blocking=["surname_phonetic"])

    assert blocking_keys(swapped, spec) == blocking_keys(ada(), spec)


def test_a_misspelt_surname_meets():
    spec = people_spec(blocking=["surname_phonetic"])

    assert blocking_keys(ada(family_name="Lovelase"), spec) == blocking_keys(ada(), spec)


def test_a_nickname_meets_its_formal_name():
    spec = people_spec(blocking=["surname_phonetic"])

    bob = blocking_keys(ada(given_name="Bob"), spec)
    robert = blocking_keys(ada(given_name="Robert"), spec)

    assert "surname_phonetic:LFLS|RB" in bob & robert


def test_a_reformatted_phone_meets():
    spec = people_spec(blocking=["phone"])
    national = blocking_keys(ada(phone="030 1234567", country_code="DE"), spec)
    international = blocking_keys(ada(phone="+49 (30) 123-4567", country_code=None), spec)

    assert national == international == {"phone:+49301234567"}


def test_an_email_meets_however_it_is_typed():
    spec = people_spec(blocking=["email"])

    assert blocking_keys(ada(email=" ADA.Lovelace@Example.com"), spec) == blocking_keys(ada(), spec)


def test_a_household_is_blocked_together_but_not_auto_linked():
    spec = people_spec()
    shared = blocking_keys(household_member(), spec) & blocking_keys(ada(), spec)

    decision = decide(household_member(), [("ada", ada())], spec)

    assert {"phone:+49301234567", "name_postcode:lovelace|10115"} <= shared
    assert decision.verdict == "new"


def test_empty_values_make_no_key():
    empty = {
        "given_name": "  ",
        "family_name": None,
        "email": "",
        "phone": "n/a",
        "postcode": [],
        "birth_date": "unknown",
    }

    assert blocking_keys(empty, people_spec()) == frozenset()


def test_a_key_needs_both_of_its_parts():
    spec = people_spec(blocking=["name_postcode"])

    assert blocking_keys(ada(postcode=None), spec) == frozenset()


def test_only_the_kinds_the_spec_names_are_made():
    keys = blocking_keys(ada(), people_spec(blocking=["email", "phone"]))

    # The e-mail kind makes its address's local part a key too.
    assert {key.split(":")[0] for key in keys} == {"email", "email_user", "phone"}


def field_spec(name: str) -> MatchSpec:
    return MatchSpec(
        roles={},
        blocking=(f"field:{name}",),
        fields=(FieldComparison(name, "exact", 1.0),),
    )


def test_a_field_key_is_its_exact_normalised_value():
    spec = field_spec("vat_id")

    assert blocking_keys({"vat_id": "DE 123-456"}, spec) == {"field:vat_id:de123456"}
    assert blocking_keys({"vat_id": "de123456"}, spec) == {"field:vat_id:de123456"}


def test_a_long_key_is_hashed_under_its_kind():
    spec = field_spec("note")

    first = blocking_keys({"note": "a" * 500}, spec)
    second = blocking_keys({"note": "a" * 499 + "b"}, spec)

    (key,) = first
    assert key.startswith("field:note:#") and len(key) <= 200
    assert first != second


def test_what_is_not_a_mapping_has_no_keys():
    assert blocking_keys(["ada"], people_spec()) == frozenset()  # type: ignore[arg-type]


def test_the_index_offers_the_records_that_share_a_key_in_the_order_added():
    index = BlockingIndex(people_spec())
    index.add("husband", household_member())
    index.add("ada", ada())
    index.add("stranger", ada(given_name="Grace", family_name="Hopper", email=None, phone=None))

    assert index.candidates(ada()) == ["husband", "ada"]
    assert len(index) == 3


def test_the_index_offers_only_the_most_recent_of_a_crowded_key():
    index = BlockingIndex(people_spec(blocking=["phone"]), max_block=2)
    for number in range(5):
        index.add(f"t{number}", ada())

    assert index.candidates(ada()) == ["t3", "t4"]
    assert index.largest_blocks() == {"phone": 5}


def namesake(number: int) -> dict:
    """Another Ada Lovelace: the same name, nothing else the same."""
    return ada(
        email=f"someone{number}@example.org",
        phone=f"040 55{number:05d}",
        postcode=f"2{number:04d}",
        birth_date=f"19{number % 90 + 10}-01-01",
    )


def test_a_name_many_share_offers_no_one_by_itself():
    index = BlockingIndex(people_spec())
    for number in range(RARE + 1):
        index.add(f"namesake{number}", namesake(number))
    index.add("ada", ada(phone=None, postcode=None, birth_date=None))

    # Her e-mail finds her; the namesakes share only a sound-alike name, which is crowded.
    assert index.candidates(ada(), limit=MAX_SCORED) == ["ada"]


def test_a_rare_name_offers_its_records_by_itself():
    index = BlockingIndex(people_spec())
    for number in range(RARE):
        index.add(f"namesake{number}", namesake(number))

    assert sorted(index.candidates(ada(), limit=MAX_SCORED)) == [
        f"namesake{number}" for number in range(RARE)
    ]


def test_a_crowded_weak_key_still_counts_for_a_candidate_another_key_offers():
    crowded = [f"c{number}" for number in range(RARE + 1)]
    ids_of_key = {
        "phone:+49301234567": ["husband", "ada"],
        "surname_phonetic:LFLS|AT": ["ada", *crowded],
    }

    assert most_shared(ids_of_key, ids_of_key) == ["ada", "husband"]
    assert walk_limit("surname_phonetic:LFLS|AT", 20) == RARE + 1
    assert walk_limit("email:ada@example.com", 20) == 20


def test_a_person_whose_other_name_email_and_phone_changed_meets_by_birthday_and_name():
    married = ada(family_name="Byron", email="ada@byron.example", phone=None, postcode=None)

    assert "birth_name:1815-12-10|AT" in blocking_keys(married, people_spec())
    assert blocking_keys(married, people_spec()) & blocking_keys(ada(), people_spec()) == {
        "birth_name:1815-12-10|AT",
        "birth_name:1815-12-10|ATLN",
        "birth_name:1815-12-10|ANTRN",
    }


def test_an_address_with_a_typo_in_its_domain_meets_by_its_local_part():
    typo = ada(email="ada.lovelace@exmaple.com")

    shared = blocking_keys(typo, people_spec()) & blocking_keys(ada(), people_spec())
    assert "email_user:ada.lovelace" in shared
    assert not any(key.startswith("email:") for key in shared)
