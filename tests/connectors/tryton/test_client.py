"""The Tryton connector against a real Tryton 8.2 (party, country) over real HTTP.

Every test makes its own parties with codes of its own: the server lives for the session.
What Tryton really holds is checked through a bare JSON-RPC client, not through the connector.
"""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.base import Position, record_position
from connectors.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConnectorError,
    NotFoundError,
    RejectedError,
    TransientError,
)
from connectors.tryton.client import TrytonConnector

from .server import BareTryton, RunningTryton

PARTY = "party.party"


def new_code() -> str:
    return f"T-{uuid.uuid4().hex[:12]}"


def party(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "code": new_code(), **fields}


@pytest.fixture
def bare(tryton: RunningTryton) -> Iterator[BareTryton]:
    client = tryton.bare()
    yield client
    client.close()


@pytest.fixture
def calls(connector: TrytonConnector) -> list[dict[str, Any]]:
    """The JSON-RPC calls the connector sends, as Tryton receives them."""
    sent: list[dict[str, Any]] = []
    connector.rpc.client.event_hooks["request"].append(
        lambda request: sent.append(json.loads(request.content))
    )
    return sent


def tail(connector: TrytonConnector) -> Position | None:
    """The position after the last party Tryton holds now."""
    records = list(connector.iter_records(PARTY, page_size=1000))
    return record_position(records[-1]) if records else None


def stored(bare: BareTryton, party_id: str, fields: list[str]) -> dict[str, Any]:
    return bare.call(f"model.{PARTY}.read", [int(party_id)], fields, {})[0]


def test_health_reports_trytons_version_and_logs_in(connector):
    health = connector.health()

    assert health.ok, health.detail
    assert "Tryton 8.2" in health.detail and "'admin'" in health.detail


def test_a_wrong_password_is_an_authentication_error(tryton):
    erp = TrytonConnector(tryton.base_url, token="not-the-password", settings=tryton.settings)

    with pytest.raises(AuthenticationError, match="wrong user or password"):
        erp.get(PARTY, "1")
    health = erp.health()
    assert not health.ok and "wrong user or password" in health.detail
    erp.close()


def test_a_party_with_contact_mechanisms_and_an_address_is_created_and_read_back(connector, bare):
    payload = party(
        "Ana Lima",
        contact_mechanisms=[
            {"type": "email", "value": "ana@lima.example"},
            {"type": "phone", "value": "+351912345678"},
        ],
        addresses=[
            {"street": "Rua 1", "postal_code": "4000-001", "city": "Porto", "country": "PT"}
        ],
    )

    created = connector.create(PARTY, payload, idempotency_key="unused")
    record = connector.get(PARTY, created["id"])

    assert record["name"] == "Ana Lima" and record["code"] == payload["code"]
    assert record["email"] == "ana@lima.example"
    # Tryton formats the phone numbers it stores.
    assert [(m["type"], m["value"]) for m in record["contact_mechanisms"]] == [
        ("email", "ana@lima.example"),
        ("phone", "+351 912 345 678"),
    ]
    [address] = record["addresses"]
    assert (address["street"], address["postal_code"], address["city"], address["country"]) == (
        "Rua 1",
        "4000-001",
        "Porto",
        "PT",
    )
    assert record["updated_at"].endswith("Z") and record["id"] == created["id"]
    # Tryton holds the country as its own record, found by the ISO code.
    [held] = stored(bare, created["id"], ["addresses.country.code"])["addresses."]
    assert held["country."]["code"] == "PT"


def test_create_many_isolates_a_refused_record_and_creates_the_nine_others(connector, bare, calls):
    taken = connector.create(PARTY, party("Already here"), idempotency_key="unused")
    payloads = [party(f"Batch {n}") for n in range(10)]
    payloads[6]["code"] = connector.get(PARTY, taken["id"])["code"]
    calls.clear()

    answers = connector.create_many(PARTY, payloads)

    refused = answers[6]
    assert isinstance(refused, AlreadyExistsError)
    assert refused.existing_id == taken["id"]
    created = [answer for n, answer in enumerate(answers) if n != 6]
    assert all(isinstance(answer, dict) for answer in created)
    codes = [p["code"] for n, p in enumerate(payloads) if n != 6]
    held = bare.call(
        f"model.{PARTY}.search_read", [["code", "in", codes]], 0, None, None, ["code"], {}
    )
    assert sorted(str(row["id"]) for row in held) == sorted(answer["id"] for answer in created)
    # The batch of 10 is refused whole; its halves are sent until the duplicate stands alone.
    creates = [call["params"][0] for call in calls if call["method"] == f"model.{PARTY}.create"]
    assert [len(batch) for batch in creates] == [10, 5, 5, 2, 1, 1, 3]
    assert creates[5] == [{"name": "Batch 6", "code": payloads[6]["code"]}]


def test_create_many_refuses_an_unknown_country_by_name_and_creates_the_rest(connector):
    payloads = [
        party("Porto", addresses=[{"city": "Porto", "country": "PT"}]),
        party("Nowhere", addresses=[{"city": "Atlantis", "country": "ZZ"}]),
        party("Madrid", addresses=[{"city": "Madrid", "country": "es"}]),
    ]

    first, nowhere, madrid = connector.create_many(PARTY, payloads)

    assert isinstance(nowhere, RejectedError) and "'ZZ'" in nowhere.message
    assert nowhere.field_errors == {"addresses.country": [nowhere.message]}
    assert connector.get(PARTY, first["id"])["addresses"][0]["country"] == "PT"
    assert connector.get(PARTY, madrid["id"])["addresses"][0]["country"] == "ES"


def test_records_are_read_in_order_of_change_page_by_page(connector, calls):
    start = tail(connector)
    ids = [connector.create(PARTY, party(f"Page {n}"), idempotency_key="-")["id"] for n in range(5)]
    connector.update(PARTY, ids[1], {"name": "Page 1, written last"})
    calls.clear()

    records = list(connector.iter_records(PARTY, after=start, page_size=2))

    assert [r["id"] for r in records] == [ids[0], *ids[2:], ids[1]]
    moments = [r["updated_at"] for r in records]
    assert moments == sorted(moments)
    reads = [call for call in calls if call["method"] == f"model.{PARTY}.search_read"]
    assert [call["params"][2] for call in reads] == [2, 2, 2]  # 2 + 2 + 1 records


def test_reading_resumes_strictly_after_a_position_and_a_later_write_comes_last(connector):
    start = tail(connector)
    first, second, third = (
        connector.create(PARTY, party(name), idempotency_key="-")["id"]
        for name in ("First", "Second", "Third")
    )
    read = list(connector.iter_records(PARTY, after=start, page_size=2))
    assert [r["id"] for r in read] == [first, second, third]

    after_first = record_position(read[0])
    assert [r["id"] for r in connector.iter_records(PARTY, after=after_first)] == [second, third]

    connector.update(PARTY, first, {"name": "First, renamed"})
    later = list(connector.iter_records(PARTY, after=record_position(read[-1])))
    assert [(r["id"], r["name"]) for r in later] == [(first, "First, renamed")]
    assert later[0]["updated_at"] > read[-1]["updated_at"]


def test_records_never_written_since_their_creation_are_read_by_their_creation_time(tryton, bare):
    # Unlike a party, a country's create leaves write_date empty.
    [country] = bare.call(
        "model.country.country.search_read", [["code", "=", "PT"]], 0, 1, None, ["write_date"], {}
    )
    assert country["write_date"] is None
    erp = TrytonConnector(
        tryton.base_url,
        token=tryton.password,
        settings={**tryton.settings, "resources": {"country.country": {"fields": ["code"]}}},
    )

    countries = list(erp.iter_records("country.country", page_size=2))

    assert {c["code"] for c in countries} >= {"PT", "ES", "FR", "DE"}
    assert all(c["updated_at"] for c in countries)
    assert set(countries[0]) == {"id", "code", "updated_at"}
    erp.close()


def test_an_update_of_the_email_writes_the_parties_email_contact_mechanism(connector, bare):
    payload = party(
        "Rita",
        contact_mechanisms=[
            {"type": "email", "value": "rita@old.example"},
            {"type": "phone", "value": "+351911111111"},
        ],
    )
    party_id = connector.create(PARTY, payload, idempotency_key="-")["id"]
    before = stored(bare, party_id, ["contact_mechanisms.type", "contact_mechanisms.value"])

    # The whole payload again, code included: Tryton refuses any write of a party's code.
    connector.update(
        PARTY,
        party_id,
        {"name": "Rita Sousa", "code": payload["code"], "email": "rita@new.example"},
    )

    after = stored(
        bare, party_id, ["name", "email", "contact_mechanisms.type", "contact_mechanisms.value"]
    )
    assert after["name"] == "Rita Sousa" and after["email"] == "rita@new.example"
    # The same mechanism, written; the phone untouched.
    assert [(m["id"], m["type"], m["value"]) for m in after["contact_mechanisms."]] == [
        (before["contact_mechanisms."][0]["id"], "email", "rita@new.example"),
        (before["contact_mechanisms."][1]["id"], "phone", "+351 911 111 111"),
    ]


def test_an_update_adds_missing_mechanisms_deletes_emptied_ones_and_moves_the_address(
    connector, bare
):
    payload = party(
        "Hugo",
        contact_mechanisms=[{"type": "email", "value": "hugo@x.example"}],
        addresses=[{"street": "Rua 2", "city": "Porto", "country": "PT"}],
    )
    party_id = connector.create(PARTY, payload, idempotency_key="-")["id"]

    connector.update(
        PARTY,
        party_id,
        {
            "email": "",
            "phone": "+34911222333",
            "addresses": [{"street": "Calle 3", "city": "Madrid", "country": "ES"}],
        },
    )

    record = connector.get(PARTY, party_id)
    assert [(m["type"], m["value"]) for m in record["contact_mechanisms"]] == [
        ("phone", "+34 911 22 23 33")
    ]
    [address] = record["addresses"]
    assert (address["street"], address["city"], address["country"]) == ("Calle 3", "Madrid", "ES")


def test_an_update_that_changes_nothing_writes_nothing(connector, calls):
    payload = party(
        "Still",
        contact_mechanisms=[{"type": "email", "value": "still@x.example"}],
        addresses=[{"city": "Porto", "country": "PT"}],
    )
    party_id = connector.create(PARTY, payload, idempotency_key="-")["id"]
    connector.update(PARTY, party_id, {"phone": "+351913333333"})  # stored as +351 913 333 333
    calls.clear()

    connector.update(PARTY, party_id, {**payload, "phone": "+351913333333"})

    assert [call["method"] for call in calls] == [f"model.{PARTY}.read"]


def test_an_expired_session_is_renewed_once_without_the_caller_noticing(connector, bare, calls):
    party_id = connector.create(PARTY, party("Session"), idempotency_key="-")["id"]
    # Tryton forgets the session, as when it expires.
    bare.logout(connector.rpc._authorization)
    calls.clear()

    assert connector.get(PARTY, party_id)["name"] == "Session"
    assert [call["method"] for call in calls] == [
        f"model.{PARTY}.read",
        "common.db.login",
        f"model.{PARTY}.read",
    ]


def test_a_tryton_user_error_is_a_rejection_with_its_message_and_the_field_it_names(connector):
    payload = party("Bad type", contact_mechanisms=[{"type": "pigeon", "value": "coo"}])

    with pytest.raises(RejectedError) as caught:
        connector.create(PARTY, payload, idempotency_key="-")

    assert 'The value "pigeon" for field "Type"' in caught.value.message
    assert caught.value.field_errors == {"contact_mechanisms.type": [caught.value.message]}
    assert caught.value.status == 200


def test_changing_a_partys_code_is_refused_with_the_field_named(connector):
    party_id = connector.create(PARTY, party("Fixed code"), idempotency_key="-")["id"]

    with pytest.raises(RejectedError) as caught:
        connector.update(PARTY, party_id, {"code": new_code()})

    assert 'not allowed to modify the field "Code"' in caught.value.message
    assert list(caught.value.field_errors) == ["code"]


def test_a_duplicate_code_is_already_exists_with_the_id_that_holds_it(connector):
    payload = party("Twin")
    first = connector.create(PARTY, payload, idempotency_key="-")

    with pytest.raises(AlreadyExistsError) as caught:
        connector.create(PARTY, {**payload, "name": "Twin again"}, idempotency_key="-")

    assert caught.value.existing_id == first["id"]
    assert "must be unique" in caught.value.message
    assert list(caught.value.field_errors) == ["code"]


def test_find_looks_parties_up_by_code_email_and_phone_in_e164(connector):
    email = f"{new_code()}@find.example"
    phone = f"+35191{uuid.uuid4().int % 10**7:07d}"
    payload = party("Findable", email=email, phone=phone)
    party_id = connector.create(PARTY, payload, idempotency_key="-")["id"]

    assert [r["id"] for r in connector.find(PARTY, {"code": payload["code"]})] == [party_id]
    assert [r["id"] for r in connector.find(PARTY, {"email": email})] == [party_id]
    assert connector.get(PARTY, party_id)["phone"] != phone  # stored formatted
    assert [r["id"] for r in connector.find(PARTY, {"phone": phone})] == [party_id]
    assert connector.find(PARTY, {"email": email, "name": "Someone else"}) == []
    assert connector.find_created(PARTY, "any key") is None


def test_a_missing_party_is_not_found(connector):
    with pytest.raises(NotFoundError):
        connector.get(PARTY, "987654321")
    with pytest.raises(NotFoundError):
        connector.update(PARTY, "987654321", {"name": "Nobody"})


def test_a_model_tryton_does_not_have_is_a_connector_error_that_names_it(connector):
    with pytest.raises(ConnectorError, match="no model 'party.nosuch'") as caught:
        list(connector.iter_records("party.nosuch"))
    assert not isinstance(caught.value, RejectedError)


def test_a_method_tryton_does_not_have_is_a_connector_error_not_a_credentials_problem(connector):
    with pytest.raises(ConnectorError, match="403") as caught:
        connector.rpc.call(f"model.{PARTY}.no_such_method", {})
    assert not isinstance(caught.value, (RejectedError, AuthenticationError))


def test_an_unknown_database_is_named_and_not_taken_for_a_passing_failure(tryton):
    settings = {"database": "nodb", "user": "admin"}
    erp = TrytonConnector(tryton.base_url, token=tryton.password, settings=settings)

    with pytest.raises(ConnectorError, match="no database 'nodb'") as caught:
        erp.get(PARTY, "1")
    assert not isinstance(caught.value, TransientError)
    erp.close()
