import json

import pytest

from integration_console.matching.spec import (
    DEFAULT_AUTO_LINK,
    DEFAULT_REVIEW,
    FieldComparison,
    MatchSpec,
    MatchSpecError,
    default_people_spec,
)

from .people import ROLES


def config(**changes):
    base = {
        "roles": {"email": "email", "given_name": "first", "family_name": "last"},
        "blocking": ["email", "surname_phonetic"],
        "fields": [
            {"field": "email", "method": "email", "weight": 4},
            {"field": "first", "method": "name", "weight": 2},
            {"field": "last", "method": "name", "weight": 2},
        ],
        "auto_link": 0.93,
        "review": 0.72,
    }
    base.update(changes)
    return base


def problems(settings) -> list[str]:
    with pytest.raises(MatchSpecError) as error:
        MatchSpec.from_config(settings)
    return error.value.problems


def test_a_spec_is_read_from_its_json():
    spec = MatchSpec.from_config(config())

    assert spec.roles == {"email": "email", "given_name": "first", "family_name": "last"}
    assert spec.blocking == ("email", "surname_phonetic")
    assert spec.fields[1] == FieldComparison("first", "name", 2)
    assert (spec.auto_link, spec.review) == (0.93, 0.72)


def test_a_spec_round_trips_through_json():
    spec = default_people_spec(ROLES)

    again = MatchSpec.from_config(json.loads(json.dumps(spec.to_config())))

    assert again == spec
    assert again.to_config() == spec.to_config()


def test_the_thresholds_may_be_left_out():
    settings = config()
    del settings["auto_link"], settings["review"]

    spec = MatchSpec.from_config(settings)

    assert (spec.auto_link, spec.review) == (DEFAULT_AUTO_LINK, DEFAULT_REVIEW)


def test_the_error_is_a_value_error_naming_every_problem():
    settings = config(auto_link=2, fields=[{"field": "email", "method": "fuzzy", "weight": 0}])

    with pytest.raises(ValueError) as error:
        MatchSpec.from_config(settings)

    message = str(error.value)
    assert "fields[0].method: 'fuzzy' is not one of exact, email, phone" in message
    assert "fields[0].weight: must be a number above 0" in message
    assert "auto_link: must be a number from 0 to 1" in message


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ([], "the match settings must be a JSON object, not a list"),
        (config(colour="blue"), "unknown setting(s) colour"),
        ({"blocking": ["email"], "fields": []}, "roles: missing"),
        (config(roles=["email"]), "roles: must be an object of role -> field"),
        (config(roles={"shoe_size": "shoe"}), "roles: unknown role 'shoe_size'"),
        (config(roles={"email": ""}), "roles.email: must name a payload field"),
        (
            config(roles={"email": "contact", "phone": "contact"}),
            "roles: email and phone both name the field 'contact'",
        ),
        (config(blocking="email"), "blocking: must be a list of key kinds"),
        (config(blocking=[]), "blocking: name at least one key kind"),
        (config(blocking=["soundex"]), "blocking[0]: unknown key kind 'soundex'"),
        (config(blocking=["phone"]), "blocking[0]: phone needs the role(s) phone in roles"),
        (config(blocking=["field:"]), "blocking[0]: 'field:' must name a field after 'field:'"),
        (config(blocking=["email", "email"]), "blocking: a key kind is named twice"),
        (config(fields=[]), "fields: name at least one field to compare"),
        (config(fields=["email"]), "fields[0]: must be an object like"),
        (config(fields=[{"field": "email"}]), "fields[0]: missing method, weight"),
        (
            config(fields=[{"field": "email", "method": "email", "weight": 1, "boost": 2}]),
            "fields[0]: unknown key(s) boost",
        ),
        (
            config(fields=[{"field": "email", "method": "email", "weight": True}]),
            "fields[0].weight: must be a number above 0, not true/false",
        ),
        (
            config(fields=[{"field": "email", "method": "email", "weight": "4"}]),
            "fields[0].weight: must be a number above 0, not the text '4'",
        ),
        (
            config(fields=[{"field": "email", "method": "email", "weight": float("nan")}]),
            "fields[0].weight: must be a number above 0",
        ),
        (
            config(
                fields=[
                    {"field": "email", "method": "email", "weight": 1},
                    {"field": "email", "method": "email", "weight": 2},
                ]
            ),
            "fields[1]: 'email' is compared by email twice",
        ),
        (config(review=-0.1), "review: must be a number from 0 to 1, not the number -0.1"),
        (config(auto_link=None), "auto_link: must be a number from 0 to 1, not null"),
        (config(review=0.93), "review (0.93) must be below auto_link (0.93)"),
    ],
)
def test_a_bad_spec_is_refused_with_a_message_a_person_can_act_on(settings, expected):
    assert any(problem.startswith(expected) for problem in problems(settings)), problems(settings)


def test_a_spec_built_in_code_is_checked_too():
    with pytest.raises(MatchSpecError, match="review .* must be below auto_link"):
        MatchSpec(
            roles={"email": "email"},
            blocking=("email",),
            fields=(FieldComparison("email", "email", 1.0),),
            auto_link=0.5,
            review=0.6,
        )


def test_the_default_spec_uses_only_the_roles_a_data_class_has():
    spec = default_people_spec({"email": "mail", "given_name": "first", "family_name": "last"})

    assert spec.blocking == ("email", "surname_phonetic")
    assert [(c.field, c.method) for c in spec.fields] == [
        ("mail", "email"),
        ("first", "name"),
        ("last", "name"),
    ]


def test_the_default_spec_of_all_roles_blocks_on_every_kind():
    spec = default_people_spec()

    assert spec.blocking == ("email", "phone", "name_postcode", "surname_phonetic", "birth_date")
    assert spec.review < spec.auto_link


def test_the_default_spec_needs_a_role_to_match_on():
    with pytest.raises(MatchSpecError):
        default_people_spec({})


def test_a_spec_knows_the_role_of_a_field():
    spec = MatchSpec.from_config(config())

    assert spec.role_of["first"] == "given_name"
    assert spec.field_of("family_name") == "last"
    assert spec.field_of("phone") is None


def test_equal_specs_hash_alike():
    assert hash(default_people_spec(ROLES)) == hash(
        MatchSpec.from_config(default_people_spec(ROLES).to_config())
    )


def test_asking_the_target_is_off_unless_said_and_must_be_true_or_false():
    config = default_people_spec().to_config()
    assert "ask_target" not in config
    asked = MatchSpec.from_config({**config, "ask_target": True})
    assert asked.ask_target is True
    assert MatchSpec.from_config(asked.to_config()) == asked
    with pytest.raises(MatchSpecError, match="ask_target: must be true or false"):
        MatchSpec.from_config({**config, "ask_target": "yes"})
