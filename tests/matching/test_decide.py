from integration_console.matching.decide import decide
from integration_console.matching.scoring import Prepared

from .people import ada, household_member, people_spec

GRACE = ada(
    given_name="Grace",
    family_name="Hopper",
    email="grace@navy.mil",
    phone="+1 202 555 0100",
    country_code="US",
    postcode="20001",
    birth_date="1906-12-09",
    company="US Navy",
)


def grey_zone_copy():
    """Ada under another e-mail, phone and address: only her names and birthday agree."""
    return ada(email="countess@example.org", phone="040 7654321", postcode="20095")


def test_one_strong_candidate_is_linked_automatically():
    decision = decide(
        ada(phone="+49 30 1234567"), [("grace", GRACE), ("ada", ada())], people_spec()
    )

    assert decision.verdict == "auto_link"
    assert decision.best.target_id == "ada"
    assert [c.target_id for c in decision.candidates] == ["ada"]


def test_one_candidate_in_the_grey_zone_goes_to_a_person():
    spec = people_spec()

    decision = decide(grey_zone_copy(), [("ada", ada())], spec)

    assert decision.verdict == "review"
    assert spec.review <= decision.best.score.total < spec.auto_link


def test_a_strong_candidate_beside_another_good_one_goes_to_a_person():
    decision = decide(ada(), [("copy", grey_zone_copy()), ("ada", ada())], people_spec())

    assert decision.verdict == "review"
    assert [c.target_id for c in decision.candidates] == ["ada", "copy"]


def test_several_strong_candidates_go_to_a_person_best_first_at_most_five():
    candidates = [(f"ada-{n}", ada()) for n in range(7)] + [("near", ada(family_name="Lovelase"))]

    decision = decide(ada(), candidates, people_spec())

    assert decision.verdict == "review"
    assert [c.target_id for c in decision.candidates] == [f"ada-{n}" for n in range(5)]


def test_no_good_candidate_is_new():
    decision = decide(ada(), [("grace", GRACE), ("husband", household_member())], people_spec())

    assert decision.verdict == "new"
    assert decision.candidates == ()
    assert decision.best is None


def test_no_candidates_is_new():
    assert decide(ada(), [], people_spec()).verdict == "new"


def test_a_target_offered_twice_counts_once():
    decision = decide(ada(), [("ada", ada()), ("ada", ada())], people_spec())

    assert decision.verdict == "auto_link"


def test_the_order_candidates_come_in_does_not_change_the_decision():
    candidates = [("b", ada()), ("a", ada()), ("c", grey_zone_copy())]

    forwards = decide(ada(), candidates, people_spec())
    backwards = decide(ada(), list(reversed(candidates)), people_spec())

    assert [c.target_id for c in forwards.candidates] == ["a", "b", "c"]
    assert forwards == backwards


def test_a_candidate_keeps_its_values_and_its_score():
    decision = decide(ada(), [("ada", ada(company=None))], people_spec())

    assert decision.best.values == ada(company=None)
    assert decision.best.score.total == 1.0


def test_candidates_may_come_prepared():
    spec = people_spec()

    decision = decide(ada(), [("ada", Prepared(ada(), spec))], spec)

    assert decision.verdict == "auto_link"
    assert decision.best.values == ada()
