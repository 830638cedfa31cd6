"""A record's normalised forms, stored beside it in the match index and read back: scoring with
them is scoring with the record normalised again, and forms made for another spec are not used."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from integration_console.matching import normalise
from integration_console.matching.scoring import Prepared, forms_digest, score_prepared

from .people import ada, household_member, people_spec

VALUES = {
    "given_name": st.sampled_from(["Ada", "ada", "Bob", "Robert", "Lovelace", "A", "", None]),
    "family_name": st.sampled_from(["Lovelace", "Love lace", "Byron", "Ada", "Løvelace", None]),
    "email": st.sampled_from(
        ["ada.lovelace@example.com", "ADA.LOVELACE@example.com", "ada@x.org", "x", None]
    ),
    "phone": st.sampled_from(
        ["030 1234567", "+49 30 1234567", "030 1234568", "12", "0049301234567", None, 3.5]
    ),
    "country_code": st.sampled_from(["DE", "GB", "de", "", None]),
    "company": st.sampled_from(["Analytical Engines Ltd", "Engines", None, ["a list"]]),
    "postcode": st.sampled_from(["10115", "10 115", "SW1A 1AA", float("nan"), None]),
    "birth_date": st.sampled_from(["1815-12-10", "1815-10-12", "10.12.1815", "not a day", None]),
}
records = st.fixed_dictionaries({}, optional=VALUES)


def stored_and_read_back(record, spec):
    digest = forms_digest(spec)
    # Through JSON, as the database keeps them.
    forms = json.loads(json.dumps(Prepared(record, spec).stored(digest)))
    return Prepared.restored(record, forms, spec, digest)


@settings(max_examples=300)
@given(records, records)
def test_a_candidate_read_from_stored_forms_scores_as_one_normalised_again(record, candidate):
    spec = people_spec()
    prepared = Prepared(record, spec)

    from_forms = score_prepared(prepared, stored_and_read_back(candidate, spec), spec)
    normalised_again = score_prepared(prepared, Prepared(candidate, spec), spec)

    assert from_forms.to_json() == normalised_again.to_json()


def test_a_stored_phone_number_is_not_parsed_again(monkeypatch):
    spec = people_spec()
    candidate = stored_and_read_back(ada(phone="+49 30 1234567"), spec)
    record = Prepared(ada(phone="+49 30 1234567"), spec)
    assert record.phone.e164 == "+49301234567"  # the record's own number, read before

    def parse(*args, **kwargs):
        raise AssertionError("a stored number was parsed again")

    monkeypatch.setattr(normalise, "phone", parse)
    match = score_prepared(record, candidate, spec)

    assert [f.score for f in match.fields if f.field == "phone"] == [1.0]


def test_forms_made_for_another_spec_are_not_used():
    made_for = people_spec()
    # The same records, but the household's phone is now read from "mobile".
    now = people_spec(roles={**dict(made_for.roles), "phone": "mobile"})
    record = {**household_member(), "mobile": "030 1234567"}
    forms = Prepared(record, made_for).stored(forms_digest(made_for))

    read_back = Prepared.restored(record, forms, now, forms_digest(now))

    assert forms_digest(now) != forms_digest(made_for)
    assert read_back.phone is not None and read_back.phone.e164 == "+49301234567"


def test_thresholds_and_weights_do_not_make_stored_forms_stale():
    spec = people_spec()
    stricter = people_spec(auto_link=0.95, review=0.8)

    assert forms_digest(stricter) == forms_digest(spec)


def test_unreadable_forms_are_made_again_from_the_record():
    spec = people_spec()
    digest = forms_digest(spec)

    for broken in ({}, None, {"for": digest}, {"for": digest, "values": "abc"}, []):
        read_back = Prepared.restored(ada(), broken, spec, digest)
        assert read_back.email == "ada.lovelace@example.com"
        assert len(read_back.values) == len(spec.fields)
