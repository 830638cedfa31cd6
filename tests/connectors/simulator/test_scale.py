"""The world's indexes (list order, email owners) and its seeding of worlds past Faker's share.

Each listing is checked against a plain sort and filter of every record done here, the way
list_records worked before it kept an index.
"""

import hashlib
import json
from datetime import UTC, datetime, timedelta

import phonenumbers
import pytest

from connectors.simulator.world import (
    ALLOWED_COUNTRIES,
    DUPLICATE_EMAIL,
    FAKER_CONTACTS,
    SEEDED_PROBLEMS,
    World,
    format_timestamp,
    parse_timestamp,
    validate_contact,
)

ANCHOR = datetime(2025, 3, 1, tzinfo=UTC)
# More than FAKER_CONTACTS, so that some contacts are recombined, and more than one block of
# the list order.
LARGE = FAKER_CONTACTS + 500
CUSTOMER = {"given_name": "Ada", "family_name": "Lovelace", "country_code": "GB"}


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def large() -> World:
    """A world for read-only tests."""
    return World(seed=42, contacts=LARGE, anchor=ANCHOR)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(ANCHOR + timedelta(hours=1))


@pytest.fixture
def world(clock: FakeClock) -> World:
    return World(seed=42, contacts=40, anchor=ANCHOR, clock=clock)


def dump(world: World) -> str:
    return json.dumps(
        {system: world.list_records(system, page_size=10**9)[0] for system in ("crm", "erp")},
        ensure_ascii=False,
    )


def every_record(world: World, system: str) -> list[dict[str, str]]:
    """Every record, read one by one by id, in (updated_at, id) order sorted here."""
    prefix, first, count = {"crm": ("C-", 1, 4), "erp": ("E-", 10001, 5)}[system]
    records = []
    number = first
    while record := world.get_record(system, f"{prefix}{number:0{count}d}"):
        records.append(record)
        number += 1
    return sorted(records, key=lambda r: (r["updated_at"], len(r["id"]), r["id"]))


def expected_listing(
    records: list[dict[str, str]], since: datetime, after_id: str | None
) -> list[dict[str, str]]:
    def kept(record: dict[str, str]) -> bool:
        moment = parse_timestamp(record["updated_at"])
        if after_id is None:
            return moment >= since
        return moment > since or (
            moment == since and (len(record["id"]), record["id"]) > (len(after_id), after_id)
        )

    return [record for record in records if kept(record)]


def write_a_lot(world: World, clock: FakeClock) -> None:
    """Creates and updates, many in the same second, so that updated_at ties abound."""
    for number in range(1, 2_400):
        if number % 7 == 0:
            clock.now += timedelta(seconds=1)
        if number % 3:
            world.create_record("crm", {"first_name": "New", "last_name": str(number)})
        else:
            contact_id = f"C-{(number * 37) % LARGE + 1:04d}"
            world.update_record("crm", contact_id, {"company": f"Moved {number}"})


# --- seeding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("contacts", "digest"),
    [
        (40, "540430ada35dacd2ee2454d06195c82217507ac37f5766f26110f9be2ea1125c"),
        (FAKER_CONTACTS, "b449ba73c3a1742676304cd8a938e23dc7ec25d74ff67775c2b4e436d19ee82c"),
    ],
)
def test_worlds_within_fakers_share_are_the_ones_seeded_before_recombining(
    contacts: int, digest: str
) -> None:
    # The digests of these worlds as the simulator seeds them: the demo's world, and every
    # world the tests use, change only on purpose (last: the demo's duplicates of ERP
    # customers, SEEDED_DUPLICATES).
    world = World(seed=42, contacts=contacts, anchor=ANCHOR)

    assert hashlib.sha256(dump(world).encode()).hexdigest() == digest


def test_same_seed_builds_byte_identical_large_world(large: World) -> None:
    again = World(seed=42, contacts=LARGE, anchor=ANCHOR)

    assert dump(again) == dump(large)


def test_large_world_numbers_every_contact(large: World) -> None:
    ids = {contact["id"] for contact in large.list_records("crm", page_size=10**9)[0]}

    assert ids == {f"C-{number:04d}" for number in range(1, LARGE + 1)}
    assert large.stats()["crm"] == {"contacts": LARGE}


def test_recombined_contacts_look_like_fakers(large: World) -> None:
    recombined = every_record(large, "crm")
    recombined = [c for c in recombined if int(c["id"].removeprefix("C-")) > FAKER_CONTACTS]

    assert len(recombined) == LARGE - FAKER_CONTACTS
    assert all(validate_contact(c) == {} for c in recombined)
    assert all(c["company"] and "@" in c["email"] for c in recombined)
    assert all(
        phonenumbers.is_valid_number(phonenumbers.parse(c["phone"])) for c in recombined[:200]
    )
    assert len({c["country"] for c in recombined}) == len(ALLOWED_COUNTRIES)


def test_large_world_emails_are_unique_ignoring_case(large: World) -> None:
    contacts = large.list_records("crm", page_size=10**9)[0]
    clean = [c["email"].strip().lower() for c in contacts if c["id"] not in SEEDED_PROBLEMS]
    erp_emails = {c["email"] for c in large.list_records("erp")[0]}

    assert len(set(clean)) == len(clean)
    assert not erp_emails & set(clean)


def test_recombined_timestamps_are_whole_seconds_in_the_days_before_the_anchor(
    large: World,
) -> None:
    stamps = [c["updated_at"] for c in large.list_records("crm", page_size=10**9)[0]]

    assert all(format_timestamp(parse_timestamp(stamp)) == stamp for stamp in stamps)
    assert format_timestamp(ANCHOR - timedelta(days=14)) < min(stamps)
    assert max(stamps) < format_timestamp(ANCHOR)


def test_seeded_problems_stay_in_a_large_world(large: World) -> None:
    assert large.get_record("crm", "C-0007")["email"] == ""
    assert large.get_record("crm", "C-0013")["country"] == "Brazil"
    assert large.get_record("crm", "C-0021")["phone"] == "12-34 call me"


# --- listing ------------------------------------------------------------------------------


def test_keyset_paging_across_writes_reads_every_record_and_edited_ones_again(
    clock: FakeClock,
) -> None:
    world = World(seed=42, contacts=LARGE, anchor=ANCHOR, clock=clock)
    first, _ = world.list_records("crm", page_size=1)
    since, after_id = parse_timestamp(first[0]["updated_at"]), first[0]["id"]
    seen = [first[0]["id"]]
    unread_edited: set[str] = set()
    read_edited: set[str] = set()
    for pages in range(1, 100):
        page, count = world.list_records(
            "crm", updated_since=since, after_id=after_id, page_size=97
        )
        assert count == len(expected_listing(every_record(world, "crm"), since, after_id))
        if not page:
            break
        seen += [record["id"] for record in page]
        since, after_id = parse_timestamp(page[-1]["updated_at"]), page[-1]["id"]
        if pages > 10:
            continue
        # Edited before the read reaches it, a record moves to the end and is read once;
        # edited after it was read, it is read again. A second later than the last read, for
        # updated_at has whole seconds: one edited in the same second with a lower id would
        # sort before the read's position.
        clock.now += timedelta(seconds=1)
        unread = f"C-{pages * 211 % LARGE + 1:04d}"
        if unread not in seen:
            world.update_record("crm", unread, {"company": "Edited before read"})
            unread_edited.add(unread)
        read = next(c for c in reversed(seen) if c not in unread_edited | read_edited)
        world.update_record("crm", read, {"company": "Edited after read"})
        read_edited.add(read)

    counts = {contact_id: seen.count(contact_id) for contact_id in set(seen)}
    assert set(counts) == {f"C-{number:04d}" for number in range(1, LARGE + 1)}
    assert len(unread_edited) > 5
    assert {c for c, n in counts.items() if n == 2} == read_edited
    assert {n for c, n in counts.items() if c not in read_edited} == {1}


def test_listing_after_many_writes_matches_a_sort_of_every_record(clock: FakeClock) -> None:
    world = World(seed=42, contacts=LARGE, anchor=ANCHOR, clock=clock)
    write_a_lot(world, clock)
    records = every_record(world, "crm")
    probes = records[:: len(records) // 40] + records[-3:]

    for probe in probes:
        moment = parse_timestamp(probe["updated_at"])
        for since, after_id in [
            (moment, None),
            (moment, probe["id"]),
            (moment, "C-0"),
            (moment, "Z"),
            (moment + timedelta(microseconds=1), probe["id"]),
            (moment - timedelta(microseconds=1), None),
        ]:
            expected = expected_listing(records, since, after_id)
            for page in (1, 2, 30):
                results, count = world.list_records(
                    "crm", updated_since=since, after_id=after_id, page=page, page_size=50
                )
                assert results == expected[(page - 1) * 50 : page * 50]
                assert count == len(expected)


def test_pages_without_since_cover_every_record_in_order(clock: FakeClock) -> None:
    world = World(seed=42, contacts=LARGE, anchor=ANCHOR, clock=clock)
    write_a_lot(world, clock)
    expected = every_record(world, "crm")

    pages = [world.list_records("crm", page=page, page_size=200) for page in range(1, 26)]

    assert [record for page, _ in pages for record in page] == expected
    assert {count for _, count in pages} == {len(expected)}


def test_listing_by_email_follows_updates(clock: FakeClock) -> None:
    world = World(seed=42, contacts=LARGE, anchor=ANCHOR, clock=clock)
    old_email = world.get_record("crm", "C-2100")["email"]

    world.update_record("crm", "C-2100", {"email": "Shared@Example.com"})
    world.update_record("crm", "C-0002", {"email": "shared@example.com"})
    created = world.create_record("crm", {"first_name": "A", "last_name": "B", "email": "x@y.z"})
    world.update_record("crm", created.body["id"], {"email": "SHARED@example.com"})

    shared, count = world.list_records("crm", email=" shared@EXAMPLE.com ")
    assert [c["id"] for c in shared] == ["C-0002", "C-2100", created.body["id"]]
    assert count == 3
    assert world.list_records("crm", email=old_email) == ([], 0)
    assert world.list_records("crm", email="x@y.z") == ([], 0)


# --- email uniqueness ---------------------------------------------------------------------


def test_an_email_given_up_by_an_update_is_free_and_the_new_one_taken(world: World) -> None:
    first = world.create_record("erp", CUSTOMER | {"email": "ada@one.example"})
    world.update_record("erp", first.body["id"], {"email": "ada@two.example"})

    reuse = world.create_record("erp", CUSTOMER | {"email": "ADA@one.example"})
    clash = world.create_record("erp", CUSTOMER | {"email": "Ada@Two.example"})
    moved = world.update_record("erp", reuse.body["id"], {"email": "ada@TWO.example"})

    assert reuse.status == 201
    assert (clash.status, clash.body) == (
        409,
        {"errors": {"email": [DUPLICATE_EMAIL]}, "existing_id": first.body["id"]},
    )
    assert (moved.status, moved.body["existing_id"]) == (409, first.body["id"])


def test_keeping_ones_own_email_in_other_case_is_no_clash(world: World) -> None:
    created = world.create_record("erp", CUSTOMER | {"email": "ada@one.example"})

    outcome = world.update_record("erp", created.body["id"], {"email": "ADA@One.example"})

    assert outcome.status == 200


def test_an_email_stored_by_chaos_with_spaces_still_clashes(world: World) -> None:
    world.arm_chaos(
        "new_enum_value",
        {"system": "erp", "id": "E-10003", "field": "email", "value": "  Grace@Hopper.example "},
    )

    outcome = world.create_record("erp", CUSTOMER | {"email": "grace@hopper.example"})

    assert (outcome.status, outcome.body["existing_id"]) == (409, "E-10003")


def test_reset_frees_created_emails_and_takes_back_the_seeded_ones(world: World) -> None:
    seeded_email = world.get_record("erp", "E-10001")["email"]
    world.create_record("erp", CUSTOMER | {"email": "ada@one.example"})
    world.update_record("erp", "E-10001", {"email": "moved@away.example"})

    world.reset()

    assert world.create_record("erp", CUSTOMER | {"email": "ada@one.example"}).status == 201
    clash = world.create_record("erp", CUSTOMER | {"email": seeded_email.upper()})
    assert (clash.status, clash.body["existing_id"]) == (409, "E-10001")
    assert world.create_record("erp", CUSTOMER | {"email": "moved@away.example"}).status == 201


# --- reset --------------------------------------------------------------------------------


def test_writes_between_resets_never_reach_the_seeded_records(clock: FakeClock) -> None:
    world = World(seed=42, contacts=LARGE, anchor=ANCHOR, clock=clock)
    seeded = dump(world)

    for _ in range(2):
        write_a_lot(world, clock)
        world.arm_chaos("new_enum_value", {"system": "crm", "id": "C-2200"})
        world.reset()

        assert dump(world) == seeded
