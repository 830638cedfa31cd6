"""Archiving, restoring and deleting records in the world, without HTTP: what each does to
the list order, the keyset reads and the email owners, checked against a plain sort and filter
of every record done here."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from connectors.simulator.world import DUPLICATE_EMAIL, FAKER_CONTACTS, World, format_timestamp

ANCHOR = datetime(2025, 3, 1, tzinfo=UTC)
# More than one block of the list order, and contacts past Faker's share.
LARGE = FAKER_CONTACTS + 500
CUSTOMER = {"given_name": "Ada", "family_name": "Lovelace", "country_code": "GB"}


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(ANCHOR + timedelta(hours=1))


@pytest.fixture
def world(clock: FakeClock) -> World:
    return World(seed=42, contacts=40, anchor=ANCHOR, clock=clock)


def listed(world: World, system: str = "crm", **filters: object) -> list[dict[str, object]]:
    return world.list_records(system, page_size=10**9, **filters)[0]


def ids(records: list[dict[str, object]]) -> list[str]:
    return [str(record["id"]) for record in records]


def in_order(records: list[dict[str, object]]) -> list[dict[str, object]]:
    return sorted(records, key=lambda r: (r["updated_at"], len(str(r["id"])), r["id"]))


# --- archive ------------------------------------------------------------------------------


def test_an_archived_record_leaves_the_list_but_get_finds_it_marked(
    world: World, clock: FakeClock
) -> None:
    answer = world.archive_record("crm", "C-0004")

    assert answer.status == 200
    assert answer.body["archived"] is True
    assert answer.body["updated_at"] == format_timestamp(clock.now)
    assert "C-0004" not in ids(listed(world))
    assert world.list_records("crm")[1] == 39
    assert world.get_record("crm", "C-0004") == answer.body


def test_an_archived_record_leaves_the_keyset_reads(world: World) -> None:
    everyone = listed(world)
    tenth = everyone[9]
    world.archive_record("crm", everyone[12]["id"])

    after = listed(
        world, updated_since=datetime.fromisoformat(tenth["updated_at"]), after_id=tenth["id"]
    )

    assert after == everyone[10:12] + everyone[13:]


def test_an_archived_record_leaves_the_look_ups_by_email(world: World) -> None:
    email = world.get_record("crm", "C-0004")["email"]
    world.archive_record("crm", "C-0004")

    assert world.list_records("crm", email=email) == ([], 0)
    assert ids(listed(world, email=email, archived=True)) == ["C-0004"]


def test_the_archived_records_are_listed_on_their_own_when_asked_for(
    world: World, clock: FakeClock
) -> None:
    world.archive_record("crm", "C-0009")
    clock.now += timedelta(seconds=1)
    world.archive_record("crm", "C-0002")

    archived, count = world.list_records("crm", archived=True)

    assert (ids(archived), count) == (["C-0009", "C-0002"], 2)  # by when they were archived
    assert all(record["archived"] is True for record in archived)


def test_archiving_an_archived_record_changes_nothing(world: World, clock: FakeClock) -> None:
    first = world.archive_record("crm", "C-0004")
    clock.now += timedelta(minutes=5)

    again = world.archive_record("crm", "C-0004")

    assert (again.status, again.body) == (200, first.body)
    assert ids(listed(world, archived=True)) == ["C-0004"]


def test_archiving_an_unknown_record_is_not_found(world: World) -> None:
    assert world.archive_record("erp", "E-99999").status == 404


def test_an_archived_customers_email_is_free_for_another(world: World) -> None:
    email = world.get_record("erp", "E-10002")["email"]
    world.archive_record("erp", "E-10002")

    created = world.create_record("erp", CUSTOMER | {"email": email.upper()})

    assert created.status == 201


def test_an_archived_record_can_still_be_updated_and_stays_archived(
    world: World, clock: FakeClock
) -> None:
    world.archive_record("crm", "C-0004")
    clock.now += timedelta(minutes=1)

    answer = world.update_record("crm", "C-0004", {"company": "Moved", "archived": False})

    assert answer.status == 200
    assert (answer.body["company"], answer.body["archived"]) == ("Moved", True)
    assert "C-0004" not in ids(listed(world))
    assert listed(world, archived=True) == [answer.body]


# --- restore ------------------------------------------------------------------------------


def test_a_restored_record_comes_back_behind_every_other(world: World, clock: FakeClock) -> None:
    email = world.get_record("crm", "C-0004")["email"]
    world.archive_record("crm", "C-0004")
    clock.now += timedelta(minutes=1)

    answer = world.restore_record("crm", "C-0004")

    assert answer.status == 200
    assert "archived" not in answer.body
    assert answer.body["updated_at"] == format_timestamp(clock.now)
    assert listed(world)[-1] == answer.body
    assert ids(listed(world, email=email)) == ["C-0004"]
    assert world.list_records("crm", archived=True) == ([], 0)


def test_restoring_an_active_record_changes_nothing(world: World) -> None:
    before = world.get_record("crm", "C-0004")

    answer = world.restore_record("crm", "C-0004")

    assert (answer.status, answer.body) == (200, before)
    assert listed(world) == listed(World(seed=42, contacts=40, anchor=ANCHOR))


def test_restoring_a_customer_whose_email_was_taken_meanwhile_conflicts(world: World) -> None:
    email = world.get_record("erp", "E-10002")["email"]
    world.archive_record("erp", "E-10002")
    taker = world.create_record("erp", CUSTOMER | {"email": email})

    answer = world.restore_record("erp", "E-10002")

    assert (answer.status, answer.body) == (
        409,
        {"errors": {"email": [DUPLICATE_EMAIL]}, "existing_id": taker.body["id"]},
    )
    assert world.get_record("erp", "E-10002")["archived"] is True


def test_restoring_an_unknown_record_is_not_found(world: World) -> None:
    assert world.restore_record("crm", "C-9999").status == 404


# --- delete -------------------------------------------------------------------------------


@pytest.mark.parametrize("archived_first", [False, True])
def test_a_deleted_record_is_gone_from_everything(world: World, archived_first: bool) -> None:
    email = world.get_record("erp", "E-10002")["email"]
    if archived_first:
        world.archive_record("erp", "E-10002")

    answer = world.delete_record("erp", "E-10002")

    assert answer.status == 204
    assert world.get_record("erp", "E-10002") is None
    assert "E-10002" not in ids(listed(world, "erp")) + ids(listed(world, "erp", archived=True))
    assert world.list_records("erp", email=email) == ([], 0)
    assert world.stats()["erp"] == {"customers": 4}
    assert world.restore_record("erp", "E-10002").status == 404
    assert world.create_record("erp", CUSTOMER | {"email": email}).status == 201


def test_deleting_a_deleted_record_is_not_found(world: World) -> None:
    world.delete_record("crm", "C-0004")

    assert world.delete_record("crm", "C-0004").status == 404


def test_a_deleted_records_id_is_not_given_out_again(world: World) -> None:
    created = world.create_record("crm", {"first_name": "A", "last_name": "B"})
    world.delete_record("crm", created.body["id"])

    again = world.create_record("crm", {"first_name": "C", "last_name": "D"})

    assert again.body["id"] != created.body["id"]


# --- reset and indexes --------------------------------------------------------------------


def test_reset_brings_back_what_was_archived_and_deleted(world: World) -> None:
    before = listed(world)
    world.archive_record("crm", "C-0001")
    world.delete_record("crm", "C-0002")

    world.reset()

    assert listed(world) == before
    assert world.list_records("crm", archived=True) == ([], 0)


def test_the_indexes_stay_in_step_through_many_archives_restores_deletes_and_writes(
    clock: FakeClock,
) -> None:
    world = World(seed=42, contacts=LARGE, anchor=ANCHOR, clock=clock)
    rng = random.Random(7)
    for step in range(1, 1_500):
        if step % 5 == 0:
            clock.now += timedelta(seconds=1)
        record_id = f"C-{rng.randrange(1, LARGE + 1):04d}"
        action = rng.choice(("archive", "archive", "restore", "delete", "update"))
        if action == "update":
            world.update_record("crm", record_id, {"email": f"shared{step % 9}@example.com"})
        else:
            getattr(world, f"{action}_record")("crm", record_id)

    everything = [
        record
        for number in range(1, LARGE + 1)
        if (record := world.get_record("crm", f"C-{number:04d}"))
    ]
    active = in_order([r for r in everything if "archived" not in r])
    archived = in_order([r for r in everything if r.get("archived") is True])
    assert listed(world) == active
    assert listed(world, archived=True) == archived
    assert archived and len(everything) < LARGE  # some of each happened
    middle = active[len(active) // 2]
    since = datetime.fromisoformat(middle["updated_at"])
    assert (
        listed(world, updated_since=since, after_id=middle["id"]) == active[len(active) // 2 + 1 :]
    )
    for n in range(9):
        email = f"shared{n}@example.com"
        assert listed(world, email=email) == [r for r in active if r["email"] == email]
        assert listed(world, email=email, archived=True) == [
            r for r in archived if r["email"] == email
        ]
