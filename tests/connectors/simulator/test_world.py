"""The simulated systems' state and rules, without HTTP."""

import json
import threading
from datetime import UTC, datetime, timedelta

import phonenumbers
import pycountry
import pytest

from connectors.simulator.world import (
    ALLOWED_COUNTRIES,
    DUPLICATE_EMAIL,
    E164_RE,
    INVALID_EMAIL,
    INVALID_PHONE,
    NOT_A_STRING,
    REQUIRED,
    SEEDED_MESS,
    SEEDED_PROBLEMS,
    UNKNOWN_FIELD,
    Fault,
    World,
    format_timestamp,
    validate_customer,
)

ANCHOR = datetime(2025, 3, 1, tzinfo=UTC)
VALID_CUSTOMER = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "email": "ada@analytical.example",
    "phone": "+4930123456",
    "country_code": "GB",
}


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def seeded() -> World:
    """A world for read-only tests; seeding takes a few tenths of a second."""
    return World(seed=42, contacts=40, anchor=ANCHOR)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(ANCHOR + timedelta(hours=1))


@pytest.fixture
def world(clock: FakeClock) -> World:
    return World(seed=42, contacts=40, anchor=ANCHOR, clock=clock)


def everything(world: World) -> dict[str, list[dict[str, str]]]:
    return {system: world.list_records(system, page_size=200)[0] for system in ("crm", "erp")}


def as_erp_customer(contact: dict[str, str]) -> dict[str, str]:
    """What the console sends to the ERP for a contact: its transforms, then the mapping."""
    try:
        country_code = pycountry.countries.lookup(contact["country"].strip()).alpha_2
    except LookupError:
        country_code = contact["country"]
    return {
        "given_name": contact["first_name"].strip(),
        "family_name": contact["last_name"].strip(),
        "email": contact["email"].strip().lower(),
        "phone": contact["phone"],
        "country_code": country_code,
        "company": contact["company"],
        "crm_ref": contact["id"],
    }


# --- seeding ------------------------------------------------------------------------------


def test_same_seed_builds_byte_identical_world(seeded: World) -> None:
    again = World(seed=42, contacts=40, anchor=ANCHOR)

    assert json.dumps(everything(again)) == json.dumps(everything(seeded))


def test_other_seed_builds_other_people(seeded: World) -> None:
    other = World(seed=7, contacts=40, anchor=ANCHOR)

    assert everything(other)["crm"] != everything(seeded)["crm"]


def test_contacts_are_numbered_in_creation_order(seeded: World) -> None:
    ids = sorted(contact["id"] for contact in everything(seeded)["crm"])

    assert ids == [f"C-{n:04d}" for n in range(1, 41)]


def test_erp_starts_with_five_customers_one_with_a_phone_from_before_it_checked_phones(
    seeded: World,
) -> None:
    customers = sorted(everything(seeded)["erp"], key=lambda c: c["id"])

    assert [c["id"] for c in customers] == [f"E-1000{n}" for n in range(1, 6)]
    assert [validate_customer(c) for c in customers] == [{}] * 4 + [{"phone": [INVALID_PHONE]}]


def test_seeded_timestamps_lie_in_the_days_before_the_anchor(seeded: World) -> None:
    stamps = [c["updated_at"] for c in everything(seeded)["crm"]]

    assert format_timestamp(ANCHOR - timedelta(days=14)) < min(stamps)
    assert max(stamps) < format_timestamp(ANCHOR)


def test_contact_emails_are_unique_and_unknown_to_the_erp(seeded: World) -> None:
    world = everything(seeded)
    clean = [
        c["email"].strip().lower() for c in world["crm"] if c["id"] not in ("C-0007", "C-0029")
    ]
    erp_emails = {c["email"] for c in world["erp"]}

    assert len(set(clean)) == len(clean)
    assert not erp_emails & set(clean)


def test_every_unproblematic_contact_becomes_a_valid_erp_customer(seeded: World) -> None:
    contacts = [c for c in everything(seeded)["crm"] if c["id"] not in SEEDED_PROBLEMS]
    failures = {c["id"]: validate_customer(as_erp_customer(c)) for c in contacts}

    assert {contact_id: errors for contact_id, errors in failures.items() if errors} == {}


def test_seeded_phones_are_real_numbers_too(seeded: World) -> None:
    phones = [c["phone"] for c in everything(seeded)["crm"] if c["id"] != "C-0021"]

    assert all(phonenumbers.is_valid_number(phonenumbers.parse(p)) for p in phones)


def test_messy_contacts_need_the_console_transforms(seeded: World) -> None:
    messy = {contact_id: seeded.get_record("crm", contact_id) for contact_id in SEEDED_MESS}

    assert all(validate_customer(as_erp_customer(c)) == {} for c in messy.values())
    assert messy["C-0003"]["email"] != messy["C-0003"]["email"].strip().lower()
    assert messy["C-0005"]["first_name"] != messy["C-0005"]["first_name"].strip()
    assert messy["C-0011"]["last_name"] != messy["C-0011"]["last_name"].strip()


@pytest.mark.parametrize(
    ("contact_id", "field", "message"),
    [
        ("C-0007", "email", REQUIRED),
        ("C-0013", "country_code", "Country code BR is not supported."),
        ("C-0021", "phone", INVALID_PHONE),
    ],
)
def test_seeded_problem_is_refused_by_the_erp(
    world: World, contact_id: str, field: str, message: str
) -> None:
    customer = as_erp_customer(world.get_record("crm", contact_id))

    outcome = world.create_record("erp", customer)

    assert (outcome.status, outcome.body) == (422, {"errors": {field: [message]}})


def test_seeded_duplicate_collides_with_erp_customer(world: World) -> None:
    customer = as_erp_customer(world.get_record("crm", "C-0029"))

    outcome = world.create_record("erp", customer)

    assert outcome.status == 409
    assert outcome.body == {"errors": {"email": [DUPLICATE_EMAIL]}, "existing_id": "E-10002"}


def test_fewer_contacts_seed_only_the_problems_that_fit() -> None:
    world = World(seed=42, contacts=15, anchor=ANCHOR)

    assert world.get_record("crm", "C-0007")["email"] == ""
    assert world.get_record("crm", "C-0013")["country"] == "Brazil"
    assert world.get_record("crm", "C-0021") is None
    assert world.stats()["crm"] == {"contacts": 15}


# --- validation ---------------------------------------------------------------------------


def test_erp_reports_every_failing_field_at_once(world: World) -> None:
    outcome = world.create_record("erp", {"email": "nope", "phone": "0301234", "colour": "red"})

    assert outcome.status == 422
    assert outcome.body["errors"] == {
        "given_name": [REQUIRED],
        "family_name": [REQUIRED],
        "email": [INVALID_EMAIL],
        "phone": [INVALID_PHONE],
        "country_code": [REQUIRED],
        "colour": [UNKNOWN_FIELD],
    }


@pytest.mark.parametrize(
    "email", ["ada", "ada@example", "ada@@example.com", "a@b@c.com", " ada@example.com", "a@.com"]
)
def test_erp_refuses_what_does_not_look_like_an_email(email: str) -> None:
    assert validate_customer(VALID_CUSTOMER | {"email": email}) == {"email": [INVALID_EMAIL]}


@pytest.mark.parametrize(
    "phone", ["+0301234567", "+49 30 1234", "+12345", "4930123456", "+49٣٠١٢٣٤٥٦", "12-34 call me"]
)
def test_erp_refuses_phones_outside_e164(phone: str) -> None:
    assert validate_customer(VALID_CUSTOMER | {"phone": phone}) == {"phone": [INVALID_PHONE]}


def test_erp_accepts_an_empty_phone() -> None:
    assert validate_customer(VALID_CUSTOMER | {"phone": ""}) == {}


def test_erp_accepts_every_allowed_country() -> None:
    customers = [VALID_CUSTOMER | {"country_code": code} for code in ALLOWED_COUNTRIES]

    assert [validate_customer(customer) for customer in customers] == [{}] * 11


def test_erp_names_the_unsupported_country_code() -> None:
    errors = validate_customer(VALID_CUSTOMER | {"country_code": "de"})

    assert errors == {"country_code": ["Country code de is not supported."]}


def test_e164_pattern_matches_the_documented_example() -> None:
    assert E164_RE.fullmatch("+4930123456")


def test_non_string_value_is_refused_for_that_field_only(world: World) -> None:
    outcome = world.create_record("erp", VALID_CUSTOMER | {"company": 42, "phone": None})

    assert outcome.body == {"errors": {"company": [NOT_A_STRING], "phone": [NOT_A_STRING]}}


def test_crm_insists_only_on_names(world: World) -> None:
    outcome = world.create_record("crm", {"first_name": " ", "email": "not an email"})

    assert outcome.body == {"errors": {"first_name": [REQUIRED], "last_name": [REQUIRED]}}


# --- writes -------------------------------------------------------------------------------


def test_create_assigns_next_id_and_timestamps(world: World, clock: FakeClock) -> None:
    outcome = world.create_record("erp", VALID_CUSTOMER | {"id": "X-1", "created_at": "never"})

    assert outcome.status == 201
    assert outcome.body["id"] == "E-10006"
    assert outcome.body["created_at"] == outcome.body["updated_at"] == "2025-03-01T01:00:00Z"


def test_created_record_has_every_field(world: World) -> None:
    outcome = world.create_record("crm", {"first_name": "Ada", "last_name": "Lovelace"})

    assert outcome.body == {
        "id": "C-0041",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "",
        "phone": "",
        "country": "",
        "company": "",
        "updated_at": "2025-03-01T01:00:00Z",
    }


def test_update_replaces_given_fields_and_keeps_the_rest(world: World, clock: FakeClock) -> None:
    before = world.get_record("erp", "E-10003")
    clock.now += timedelta(minutes=5)

    outcome = world.update_record("erp", "E-10003", {"company": "Analytical Engines Ltd"})

    assert outcome.status == 200
    assert outcome.body == before | {
        "company": "Analytical Engines Ltd",
        "updated_at": "2025-03-01T01:05:00Z",
    }


def test_invalid_update_changes_nothing(world: World) -> None:
    before = world.get_record("erp", "E-10003")

    outcome = world.update_record("erp", "E-10003", {"company": "New", "phone": "call me"})

    assert outcome.status == 422
    assert world.get_record("erp", "E-10003") == before


def test_update_of_unknown_record_is_not_found(world: World) -> None:
    assert world.update_record("erp", "E-99999", {"company": "X"}).status == 404


def test_duplicate_email_ignores_case_and_spaces(world: World) -> None:
    taken = world.get_record("erp", "E-10004")["email"]

    outcome = world.create_record("erp", VALID_CUSTOMER | {"email": taken.upper()})

    assert (outcome.status, outcome.body["existing_id"]) == (409, "E-10004")


def test_update_to_another_customers_email_conflicts(world: World) -> None:
    taken = world.get_record("erp", "E-10004")["email"]

    outcome = world.update_record("erp", "E-10001", {"email": taken})

    assert (outcome.status, outcome.body["existing_id"]) == (409, "E-10004")


def test_update_keeping_own_email_in_other_case_is_fine(world: World) -> None:
    own = world.get_record("erp", "E-10001")["email"]

    assert world.update_record("erp", "E-10001", {"email": own.upper()}).status == 200


def test_repeated_idempotency_key_replays_the_first_answer(world: World) -> None:
    first = world.create_record("erp", VALID_CUSTOMER, idempotency_key="k-1")
    again = world.create_record("erp", VALID_CUSTOMER | {"given_name": "Other"}, "k-1")

    assert again == first
    assert world.stats()["erp"] == {"customers": 6}


def test_idempotency_keys_are_per_collection(world: World) -> None:
    world.create_record("erp", VALID_CUSTOMER, idempotency_key="k-1")

    outcome = world.create_record("crm", {"first_name": "A", "last_name": "B"}, "k-1")

    assert outcome.body["id"] == "C-0041"


def test_concurrent_creates_get_distinct_ids(world: World) -> None:
    def create_many() -> None:
        for _ in range(25):
            world.create_record("crm", {"first_name": "A", "last_name": "B"})

    threads = [threading.Thread(target=create_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    pages = [world.list_records("crm", page=n, page_size=200)[0] for n in (1, 2)]
    assert len({c["id"] for page in pages for c in page}) == 40 + 8 * 25


def test_reset_restores_the_seeded_world(world: World) -> None:
    before = everything(world)
    world.create_record("erp", VALID_CUSTOMER)
    world.update_record("crm", "C-0001", {"company": "Changed"})

    world.reset()

    assert everything(world) == before


# --- listing ------------------------------------------------------------------------------


def test_list_orders_by_updated_at_then_id(world: World) -> None:
    world.create_record("crm", {"first_name": "A", "last_name": "B"})
    world.create_record("crm", {"first_name": "C", "last_name": "D"})

    results = world.list_records("crm", page_size=200)[0]

    keys = [(c["updated_at"], c["id"]) for c in results]
    assert keys == sorted(keys)
    assert [c["id"] for c in results[-2:]] == ["C-0041", "C-0042"]


def test_list_pages_and_counts_all_matches(seeded: World) -> None:
    everyone = seeded.list_records("crm", page_size=200)[0]

    page, count = seeded.list_records("crm", page=3, page_size=15)

    assert count == 40
    assert page == everyone[30:40]


def test_updated_since_keeps_records_at_or_after_it(seeded: World) -> None:
    everyone = seeded.list_records("crm", page_size=200)[0]
    since = datetime.fromisoformat(everyone[10]["updated_at"])

    results, count = seeded.list_records("crm", updated_since=since, page_size=200)

    assert results == everyone[10:]
    assert count == 30


# --- faults -------------------------------------------------------------------------------


def test_fault_answers_the_next_count_requests_only(world: World) -> None:
    world.inject_fault("erp", Fault(status=503, count=2, retry_after=1))

    taken = [world.take_fault("erp") for _ in range(3)]

    assert [f.status if f else None for f in taken] == [503, 503, None]
    assert world.take_fault("crm") is None


# --- latency ------------------------------------------------------------------------------


def test_latency_is_set_per_system(world: World) -> None:
    world.set_latency("erp", 0.02)

    assert (world.latency("erp"), world.latency("crm")) == (0.02, 0.0)


def test_reset_takes_the_latency_away(world: World) -> None:
    world.set_latency("erp", 0.02)

    world.reset()

    assert world.latency("erp") == 0.0
