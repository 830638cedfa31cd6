from integration_console.matching.decide import batch_duplicates

from .people import ada, household_member, people_spec

GRACE = ada(
    given_name="Grace",
    family_name="Hopper",
    email="grace@navy.mil",
    phone=None,
    postcode="20001",
    birth_date="1906-12-09",
)


def test_a_later_duplicate_points_at_the_earlier_record():
    found = batch_duplicates(
        [("s1", ada()), ("s2", GRACE), ("s3", ada(phone="+49 30 1234567"))], people_spec()
    )

    assert set(found) == {"s3"}
    earlier, match = found["s3"]
    assert earlier == "s1"
    assert match.total == 1.0


def test_a_household_in_one_page_is_no_duplicate():
    assert batch_duplicates([("s1", ada()), ("s2", household_member())], people_spec()) == {}


def test_each_duplicate_points_at_the_earlier_record_it_matches_best():
    records = [
        ("s1", ada(email="countess@example.org", phone=None, postcode="20095")),
        ("s2", ada()),
        ("s3", ada(phone="+49 30 1234567")),
    ]

    found = batch_duplicates(records, people_spec())

    assert found["s2"][0] == "s1"
    assert found["s3"][0] == "s2"


def test_records_that_share_no_blocking_key_are_not_compared():
    spec = people_spec(blocking=["email"])

    found = batch_duplicates([("s1", ada()), ("s2", ada(email="countess@example.org"))], spec)

    assert found == {}


def test_a_record_repeated_under_its_own_id_is_no_duplicate_of_itself():
    assert batch_duplicates([("s1", ada()), ("s1", ada())], people_spec()) == {}
