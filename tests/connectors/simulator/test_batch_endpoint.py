"""POST /erp/api/customers/batch over real HTTP: each record answered as a single create would
answer it, in order; faults, latency and chaos strike the batch as one request."""

import time
from typing import Any

import httpx
import pytest

BATCH = "/erp/api/customers/batch"
DUPLICATED = "E-10002"


def customer(n: int, **changes: str) -> dict[str, str]:
    return {
        "given_name": f"Given{n}",
        "family_name": f"Family{n}",
        "email": f"person{n}@batch.example",
        "country_code": "DE",
        **changes,
    }


def item(record: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    return {"record": record} | ({"idempotency_key": key} if key is not None else {})


def send(client: httpx.Client, *items: dict[str, Any]) -> httpx.Response:
    return client.post(BATCH, json={"records": list(items)})


def customers(client: httpx.Client) -> int:
    return client.get("/_control/stats").json()["erp"]["customers"]


def erp_requests(client: httpx.Client) -> int:
    return client.get("/_control/stats").json()["requests"]["erp"]


def email_of(client: httpx.Client, customer_id: str) -> str:
    return client.get(f"/erp/api/customers/{customer_id}").json()["email"]


def test_each_record_is_answered_in_order_as_a_single_create_would_answer_it(
    client: httpx.Client,
) -> None:
    taken = email_of(client, DUPLICATED).upper()

    response = send(
        client,
        item(customer(1), "k1"),
        item(customer(2, email="not an email", phone="call me"), "k2"),
        item(customer(3, email=taken), "k3"),
    )

    assert response.status_code == 200
    created, invalid, duplicate = response.json()["results"]
    assert created["status"] == 201
    assert created["record"]["email"] == "person1@batch.example"
    assert client.get(f"/erp/api/customers/{created['record']['id']}").json() == created["record"]
    single_invalid = client.post(
        "/erp/api/customers", json=customer(2, email="not an email", phone="call me")
    )
    single_duplicate = client.post("/erp/api/customers", json=customer(3, email=taken))
    assert invalid == {"status": 422, **single_invalid.json()}
    assert set(invalid["errors"]) == {"email", "phone"}
    assert duplicate == {"status": 409, **single_duplicate.json()}
    assert duplicate["existing_id"] == DUPLICATED


def test_a_batch_sent_again_with_the_same_keys_replays_its_answers_and_creates_nothing(
    client: httpx.Client,
) -> None:
    items = [item(customer(1), "k1"), item(customer(2, email=""), "k2"), item(customer(3), "k3")]
    first = send(client, *items).json()
    before = customers(client)

    again = send(client, *items).json()

    assert again == first
    assert customers(client) == before


def test_an_item_replays_a_single_create_made_with_its_key(client: httpx.Client) -> None:
    single = client.post("/erp/api/customers", json=customer(1), headers={"Idempotency-Key": "k1"})

    (answer,) = send(client, item(customer(1), "k1")).json()["results"]

    assert answer == {"status": 201, "record": single.json()}


def test_a_single_create_replays_a_batch_item_made_with_its_key(client: httpx.Client) -> None:
    (answer,) = send(client, item(customer(1), "k1")).json()["results"]

    single = client.post("/erp/api/customers", json=customer(1), headers={"Idempotency-Key": "k1"})

    assert single.json() == answer["record"]


def test_a_second_record_with_the_same_email_in_one_batch_is_a_duplicate_of_the_first(
    client: httpx.Client,
) -> None:
    first, second = send(
        client, item(customer(1)), item(customer(2, email="Person1@batch.example"))
    ).json()["results"]

    assert second["status"] == 409
    assert second["existing_id"] == first["record"]["id"]


def test_items_without_a_key_are_created_each_time(client: httpx.Client) -> None:
    before = customers(client)

    send(client, item(customer(1)))
    send(client, item(customer(2)))

    assert customers(client) == before + 2


def test_an_empty_batch_answers_no_results(client: httpx.Client) -> None:
    response = send(client)

    assert (response.status_code, response.json()) == (200, {"results": []})


def test_more_than_a_hundred_records_are_refused_whole_with_413(client: httpx.Client) -> None:
    before = customers(client)

    response = send(client, *(item(customer(n)) for n in range(101)))

    assert response.status_code == 413
    assert response.json() == {
        "detail": "A batch holds at most 100 records; this one has 101. "
        "Send them in several batches."
    }
    assert customers(client) == before


def test_a_hundred_records_are_taken(client: httpx.Client) -> None:
    response = send(client, *(item(customer(n)) for n in range(100)))

    assert [answer["status"] for answer in response.json()["results"]] == [201] * 100


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, 'records must be a list of {"idempotency_key": "...", "record": {...}} objects.'),
        ({"records": {"record": {}}}, "records must be a list of"),
        ({"records": [], "extra": 1}, "Unknown key 'extra'"),
        ({"records": ["x"]}, "records[0] must be a JSON object"),
        ({"records": [{"record": customer(1)}, {"record": "x"}]}, "records[1].record must be"),
        ({"records": [{"record": customer(1), "key": "k"}]}, "records[0].key: unknown key"),
        ({"records": [{"record": customer(1), "idempotency_key": 7}]}, "must be a string"),
    ],
)
def test_a_malformed_batch_is_refused_whole_before_any_write(
    client: httpx.Client, body: dict[str, Any], detail: str
) -> None:
    before = customers(client)

    response = client.post(BATCH, json=body)

    assert response.status_code == 400
    assert detail in response.json()["detail"]
    assert customers(client) == before


def test_an_armed_fault_fails_the_whole_batch_and_is_used_up_once(client: httpx.Client) -> None:
    client.post("/_control/faults", json={"system": "erp", "status": 503, "count": 1})
    before, requests = customers(client), erp_requests(client)

    failed = send(client, item(customer(1), "k1"), item(customer(2), "k2"))
    retried = send(client, item(customer(1), "k1"), item(customer(2), "k2"))

    assert failed.status_code == 503
    assert failed.json() == {"detail": "Injected fault"}
    assert erp_requests(client) == requests + 2
    assert [answer["status"] for answer in retried.json()["results"]] == [201, 201]
    assert customers(client) == before + 2


def test_a_fault_after_the_write_loses_the_answer_of_a_batch_that_landed(
    client: httpx.Client,
) -> None:
    client.post(
        "/_control/faults", json={"system": "erp", "status": 503, "count": 1, "after_write": True}
    )
    before = customers(client)

    lost = send(client, item(customer(1), "k1"), item(customer(2), "k2"))
    landed = customers(client)
    again = send(client, item(customer(1), "k1"), item(customer(2), "k2"))

    assert lost.status_code == 503
    assert landed == before + 2
    assert [answer["status"] for answer in again.json()["results"]] == [201, 201]
    assert customers(client) == landed


def test_a_dropped_batch_writes_nothing(client: httpx.Client) -> None:
    client.post("/_control/chaos/drop", json={"system": "erp"})
    before = customers(client)

    with pytest.raises(httpx.RemoteProtocolError):
        send(client, item(customer(1)), item(customer(2)))

    assert customers(client) == before


def test_latency_holds_a_batch_once_not_once_per_record(client: httpx.Client) -> None:
    client.post("/_control/latency", json={"system": "erp", "seconds": 0.2})

    started = time.monotonic()
    response = send(client, *(item(customer(n)) for n in range(10)))
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert 0.2 <= elapsed < 1.0


def test_a_renamed_field_is_renamed_in_the_batchs_records(client: httpx.Client) -> None:
    client.post(
        "/_control/chaos/rename_field", json={"system": "erp", "from": "email", "to": "mail"}
    )

    (answer,) = send(client, item(customer(1))).json()["results"]

    assert answer["record"]["mail"] == "person1@batch.example"


def test_the_crm_takes_batches_too(client: httpx.Client) -> None:
    response = client.post(
        "/crm/api/contacts/batch",
        json={"records": [{"record": {"first_name": "Ada", "last_name": "Lovelace"}}]},
    )

    (answer,) = response.json()["results"]
    assert answer["status"] == 201
    assert answer["record"]["id"].startswith("C-")
