"""Transforms: examples of what each does, and properties that hold for any input."""

import pycountry
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from integration_console.catalog.models import ValueAlias
from integration_console.catalog.transforms import (
    TransformError,
    apply_chain,
    chain_errors,
    country_iso,
    empty_to_none,
    lower,
    needs_source_path,
    record_paths,
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


# --- split, concat, template, constant, default ---------------------------------------------

# What a chain can carry as an argument: no '|' (it separates transforms), and nothing at
# either end that the chain's whitespace trimming would take away.
ARGUMENT = ANY_TEXT.map(lambda text: text.replace("|", "").strip()).filter(bool)
FIELD_NAME = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
NUMBER = st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False))


def test_a_party_name_is_made_from_first_and_last_name():
    record = {"first_name": "Ana", "last_name": "Lima", "address": {"city": "Porto"}}
    assert apply_chain("template:{first_name} {last_name}", None, record=record) == "Ana Lima"
    assert apply_chain("template:{last_name}, {address.city}|upper", None, record=record) == (
        "LIMA, PORTO"
    )
    assert apply_chain("template:{{{first_name}}}", None, record=record) == "{Ana}"


def test_a_template_names_every_placeholder_the_record_lacks():
    record = {"first_name": "Ana", "middle_name": None}
    with pytest.raises(TransformError) as missing:
        apply_chain("template:{first_name} {middle_name} {last_name}", None, record=record)
    assert str(missing.value) == (
        "The template needs {middle_name}, {last_name}, which the source record does not have."
    )


def test_a_mapping_error_names_the_missing_placeholder_and_the_field():
    from integration_console.catalog.models import FieldRule
    from integration_console.sync.failures import FailureKind, RecordFailure
    from integration_console.sync.mapping import transform_record

    rule = FieldRule(source_path="", target_path="name", transform="template:{first} {last}")
    with pytest.raises(RecordFailure) as failed:
        transform_record([rule], {"first": "Ana"})
    assert failed.value.kind == FailureKind.MAPPING_ERROR
    assert "{last}" in failed.value.field_errors["name"][0]
    assert transform_record([rule], {"first": "Ana", "last": "Lima"}).payload == {
        "name": "Ana Lima"
    }


def test_concat_joins_the_values_that_are_there():
    record = {"street": "Rua Nova 1", "line2": "  ", "city": "Porto", "zip": 4000}
    chain = "concat:, :street,line2,missing,city,zip"
    assert apply_chain(chain, "ignored", record=record) == "Rua Nova 1, Porto, 4000"
    assert apply_chain("concat:, :line2,missing", None, record=record) is None


@pytest.mark.parametrize("value", [True, {"a": 1}, ["a"]])
def test_concat_and_template_refuse_values_without_one_spelling(value):
    for chain in ("concat: :a", "template:{a}"):
        with pytest.raises(TransformError, match="'a' holds"):
            apply_chain(chain, None, record={"a": value})


def test_transforms_that_read_the_record_say_so_when_they_are_given_none():
    with pytest.raises(TransformError, match="needs the whole source record"):
        apply_chain("template:{a}", "x")


@pytest.mark.parametrize(
    ("chain", "value", "expected"),
    [
        ("split: :0", "Ana Maria Lima", "Ana"),
        ("split: :-1", "Ana Maria Lima", "Lima"),
        ("split: :3", "Ana Maria Lima", None),
        ("split:::1", "12:30", "30"),
        ("split:, :1", "Lima, Ana", "Ana"),
        ("split: :0", "   ", None),
        ("split: :0|default:unknown", None, "unknown"),
    ],
)
def test_split_takes_one_part_of_the_text(chain, value, expected):
    assert apply_chain(chain, value) == expected


def test_split_refuses_anything_but_text():
    with pytest.raises(TransformError, match="Expected text to split"):
        apply_chain("split:-:0", 42)


@pytest.mark.parametrize(
    ("chain", "problem"),
    [
        ("split:x", "'split:x' is not well formed: write it as 'split:<separator>:<index>'"),
        ("split::0", "'split::0' is not well formed"),
        ("split: :first", "must be a whole number"),
        ("concat:a", "'concat:a' is not well formed"),
        ("concat: :first,,last", "'' is not a dotted path"),
        ("concat: :", "'' is not a dotted path"),
        ("template:", "write the text after 'template:'"),
        ("template:{first_name", "a single '{' must be doubled"),
        ("template:{first.}", "does not name a dotted path"),
        ("constant:", "write the value after 'constant:'"),
        ("default:", "write the value after 'default:'"),
        ("shout:loud", "there is no transform 'shout:loud'"),
    ],
)
def test_a_malformed_argument_is_said_and_the_chain_cannot_run(chain, problem):
    (error,) = chain_errors(f"trim|{chain}")
    assert problem in error
    assert unknown_transforms(f"trim|{chain}") == [chain]
    with pytest.raises(TransformError, match="not well formed|no transform"):
        apply_chain(chain, "x", record={})


def test_only_chains_that_make_their_own_value_need_no_source_path():
    assert not needs_source_path("template:{first_name} {last_name}|trim")
    assert not needs_source_path("constant:EUR")
    assert not needs_source_path("concat: :first_name,last_name")
    assert needs_source_path("trim|constant:EUR")
    assert needs_source_path("default:EUR")
    assert needs_source_path("")


def test_the_record_paths_a_chain_reads_are_listed_to_be_masked_with_its_field():
    chain = "template:{first_name} {bank.iban}|concat:-:bank.iban,code|split: :0|template:{"
    assert record_paths(chain) == ["first_name", "bank.iban", "code"]


@pytest.mark.django_db
def test_rules_with_the_new_transforms_are_checked_naming_the_rule():
    from integration_console.catalog.models import DataClass, FieldRule
    from integration_console.catalog.services import field_rules_errors

    party = DataClass(
        name="party",
        label="Party",
        schema={"fields": [{"name": "name", "required": True}, {"name": "currency"}]},
    )
    good = [
        FieldRule(source_path="", target_path="name", transform="template:{first} {last}"),
        FieldRule(source_path="", target_path="currency", transform="constant:EUR"),
    ]
    assert field_rules_errors(rules=good, data_class=party) == []

    bad = [
        FieldRule(source_path="", target_path="name", transform="trim"),
        FieldRule(source_path="cur", target_path="currency", transform="split: :second"),
    ]
    assert field_rules_errors(rules=bad, data_class=party) == [
        "Rule 1 ( -> name): the source path is empty.",
        "Rule 2 (cur -> currency): 'split: :second' is not well formed: the part after the "
        "last ':' must be a whole number: 0 the first part, 1 the second, -1 the last.",
    ]


@st.composite
def separator_and_parts(draw):
    separator = draw(st.text(st.characters(exclude_characters="|:"), min_size=1, max_size=3))
    separator = separator.strip() or "-"
    part = st.text(st.characters(exclude_characters=set(separator)), min_size=1).filter(
        lambda text: text.strip()
    )
    return separator, draw(st.lists(part, min_size=1, max_size=5))


@PROPERTY
@given(separator_and_parts())
def test_split_then_concat_gives_back_the_text(separator_and_parts):
    separator, parts = separator_and_parts
    text = separator.join(parts)
    record = {f"p{i}": apply_chain(f"split:{separator}:{i}", text) for i in range(len(parts))}
    assert list(record.values()) == parts
    assert apply_chain(f"concat:{separator}:{','.join(record)}", None, record=record) == text
    assert apply_chain(f"split:{separator}:-1", text) == parts[-1]


@PROPERTY
@given(
    st.dictionaries(FIELD_NAME, st.one_of(ANY_TEXT, NUMBER), min_size=1),
    st.lists(ANY_TEXT.map(lambda text: text.replace("{", "").replace("}", "").replace("|", ""))),
    st.data(),
)
def test_a_template_whose_fields_are_all_present_never_raises(record, literals, data):
    names = data.draw(st.lists(st.sampled_from(sorted(record)), min_size=1))
    template, expected = "<", "<"
    for position, name in enumerate(names):
        literal = literals[position] if position < len(literals) else ""
        template += literal + "{" + name + "}"
        expected += literal + str(record[name])
    template, expected = template + ">", expected + ">"
    assert apply_chain(f"template:{template}", "ignored", record=record) == expected


@PROPERTY
@given(st.one_of(ANY_TEXT, BLANK, NOT_TEXT), ARGUMENT)
def test_default_fills_blanks_and_only_blanks(value, fallback):
    result = apply_chain(f"default:{fallback}", value)
    if value is None or (isinstance(value, str) and not value.strip()):
        assert result == fallback
    else:
        assert result is value


@PROPERTY
@given(st.one_of(ANY_TEXT, NOT_TEXT), ARGUMENT, st.dictionaries(FIELD_NAME, ANY_TEXT))
def test_a_constant_ignores_its_input(value, constant, record):
    assert apply_chain(f"constant:{constant}", value, record=record) == constant
    assert apply_chain(f"constant:{constant}", value) == constant


@PROPERTY
@given(ANY_TEXT)
@example("template:{a|split: :x")
@example("concat:|lookup:|:::")
def test_any_chain_is_either_usable_or_its_faults_are_named(chain):
    errors = chain_errors(chain)
    assert len(errors) == len(unknown_transforms(chain))
    if errors:
        with pytest.raises(TransformError):
            apply_chain(chain, "x", record={})
