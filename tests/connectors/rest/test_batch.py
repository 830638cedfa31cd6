"""The REST connector's batch creates (settings ``batch``), over real HTTP against the
simulator's POST /erp/api/customers/batch."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors.errors import AlreadyExistsError, ConnectorError, RejectedError, TransientError
from connectors.rest.client import RestConnector

BATCH = {"batch": {"url": "{resource}/batch"}}
DUPLICATED = "E-10002"
errors = RestConnector.settings_errors


def customer(n: int, **changes: str) -> dict[str, str]:
    return {
        "given_name": f"Given{n}",
        "family_name": f"Family{n}",
        "email": f"person{n}@batch.example",
        "country_code": "FR",
        **changes,
    }


@pytest.fixture
def erp(simulator) -> Iterator[RestConnector]:
    connector = RestConnector(simulator.erp_url, settings=BATCH)
    yield connector
    connector.close()


def connector(simulator, settings: dict[str, Any]) -> RestConnector:
    return RestConnector(simulator.erp_url, settings=settings)


def stats(simulator) -> dict[str, Any]:
    return httpx.get(f"{simulator.base_url}/_control/stats").json()


def erp_requests(simulator) -> int:
    return stats(simulator)["requests"]["erp"]


def customer_count(simulator) -> int:
    return stats(simulator)["erp"]["customers"]


def taken_email(simulator) -> str:
    return httpx.get(f"{simulator.erp_url}/customers/{DUPLICATED}").json()["email"]


# --- answers ------------------------------------------------------------------------------


def test_a_batch_answers_each_record_in_order(erp, simulator):
    payloads = [
        customer(1),
        customer(2, phone="call me"),
        customer(3, email=taken_email(simulator)),
    ]

    created, invalid, duplicate = erp.create_many("customers", payloads)

    assert created["id"].startswith("E-")
    assert created["email"] == "person1@batch.example"
    assert httpx.get(f"{simulator.erp_url}/customers/{created['id']}").json() == created
    assert isinstance(invalid, RejectedError)
    assert (invalid.status, invalid.field_errors) == (
        422,
        {"phone": ["Enter a phone number in E.164 format, e.g. +4930123456."]},
    )
    assert isinstance(duplicate, AlreadyExistsError)
    assert duplicate.existing_id == DUPLICATED


def test_a_refused_record_gets_the_error_a_create_of_it_alone_raises(erp, simulator):
    invalid_payload = customer(1, email="nope", country_code="BR")
    duplicate_payload = customer(2, email=taken_email(simulator).upper())

    invalid, duplicate = erp.create_many("customers", [invalid_payload, duplicate_payload])

    for answer, payload in ((invalid, invalid_payload), (duplicate, duplicate_payload)):
        with pytest.raises(ConnectorError) as alone:
            erp.create("customers", payload, idempotency_key=f"alone-{payload['email']}")
        single = alone.value
        assert type(answer) is type(single)
        assert (answer.message, answer.status, answer.field_errors, answer.response_body) == (
            single.message,
            single.status,
            single.field_errors,
            single.response_body,
        )
    assert invalid.message.startswith("POST /erp/api/customers: 422 Unprocessable ")
    assert duplicate.message == "POST /erp/api/customers: already exists."
    assert duplicate.existing_id == DUPLICATED


def test_the_same_keys_again_create_nothing_twice_and_answer_the_same_ids(erp, simulator):
    payloads = [customer(1), customer(2, email=""), customer(3)]
    keys = ["key-1", "key-2", "key-3"]
    first = erp.create_many("customers", payloads, idempotency_keys=keys)
    count = customer_count(simulator)

    again = erp.create_many("customers", payloads, idempotency_keys=keys)

    assert customer_count(simulator) == count
    assert [again[0]["id"], again[2]["id"]] == [first[0]["id"], first[2]["id"]]
    assert isinstance(again[1], RejectedError)
    assert erp.find_created("customers", "key-3") == first[2]


def test_a_record_of_a_batch_is_found_by_its_key_as_a_single_create_would_be(erp):
    (created,) = erp.create_many("customers", [customer(1)], idempotency_keys=["lost-answer"])

    assert erp.find_created("customers", "lost-answer") == created
    assert erp.create("customers", customer(1), idempotency_key="lost-answer") == created


def test_more_records_than_max_records_go_in_several_requests_in_order(simulator):
    erp = connector(simulator, {"batch": {"url": "{resource}/batch", "max_records": 2}})
    before = erp_requests(simulator)

    answers = erp.create_many("customers", [customer(n) for n in range(5)])

    assert erp_requests(simulator) == before + 3
    assert [answer["email"] for answer in answers] == [f"person{n}@batch.example" for n in range(5)]


def test_an_armed_503_makes_the_whole_call_raise_a_transient_error(erp, simulator):
    httpx.post(
        f"{simulator.base_url}/_control/faults",
        json={"system": "erp", "status": 503, "count": 1, "retry_after": 3},
    ).raise_for_status()
    before = customer_count(simulator)

    with pytest.raises(TransientError) as raised:
        erp.create_many("customers", [customer(1), customer(2)])

    assert raised.value.status == 503
    assert raised.value.retry_after == 3
    assert customer_count(simulator) == before


def test_a_dropped_batch_raises_a_transient_error(erp, simulator):
    httpx.post(
        f"{simulator.base_url}/_control/chaos/drop", json={"system": "erp"}
    ).raise_for_status()

    with pytest.raises(TransientError):
        erp.create_many("customers", [customer(1)])


def test_a_body_pattern_rule_judges_each_record_not_the_whole_batch(simulator):
    rules = [{"body_pattern": "already exists", "kind": "rejected"}]
    erp = connector(simulator, {**BATCH, "errors": {"rules": rules}})

    created, duplicate = erp.create_many(
        "customers", [customer(1), customer(2, email=taken_email(simulator))]
    )

    assert created["id"].startswith("E-")
    assert type(duplicate) is RejectedError
    assert duplicate.message == "POST /erp/api/customers: 409 Conflict."


def test_an_answer_of_another_shape_raises_for_the_whole_call(simulator):
    erp = connector(simulator, {"batch": {"url": "{resource}/batch", "results_path": "items"}})

    with pytest.raises(ConnectorError, match=r"expected 2 answers, one per record, at 'items'"):
        erp.create_many("customers", [customer(1), customer(2)])


def test_keys_must_be_one_per_payload(erp):
    with pytest.raises(ValueError, match="1 idempotency keys for 2 payloads"):
        erp.create_many("customers", [customer(1), customer(2)], idempotency_keys=["k"])


def test_without_batch_settings_records_are_created_one_by_one_with_the_keys_given(simulator):
    erp = connector(simulator, {})
    before = erp_requests(simulator)

    created, invalid = erp.create_many(
        "customers", [customer(1), customer(2, email="")], idempotency_keys=["one", "two"]
    )

    assert erp_requests(simulator) == before + 2
    assert erp.find_created("customers", "one") == created
    assert isinstance(invalid, RejectedError)


# --- capabilities -------------------------------------------------------------------------


def test_batch_create_is_declared_only_with_batch_settings(simulator):
    assert connector(simulator, {}).capabilities.batch_create is False
    assert connector(simulator, BATCH).capabilities.batch_create is True


def test_batch_create_is_declared_per_resource_where_only_some_have_batch_settings(simulator):
    erp = connector(simulator, {"resources": {"customers": BATCH, "invoices": {}}})

    assert erp.capabilities.batch_create is False
    assert erp.capabilities_for("customers").batch_create is True
    assert erp.capabilities_for("invoices").batch_create is False


def test_a_resource_turns_the_systems_batch_off_with_null(simulator):
    erp = connector(simulator, {**BATCH, "resources": {"invoices": {"batch": None}}})

    assert erp.capabilities.batch_create is False
    assert erp.capabilities_for("customers").batch_create is True
    assert erp.capabilities_for("invoices").batch_create is False


# --- settings -----------------------------------------------------------------------------


def test_the_simulators_batch_settings_written_in_full_are_valid():
    batch = {
        "url": "{resource}/batch",
        "max_records": 100,
        "records_path": "records",
        "payload_path": "record",
        "key_path": "idempotency_key",
        "results_path": "results",
        "status_path": "status",
        "record_path": "record",
    }

    assert errors({"batch": batch}) == []


def test_a_batch_needs_its_url():
    assert errors({"batch": {}}) == [
        "batch.url: required: where several records are created, e.g. '{resource}/batch'"
    ]


def test_a_batch_is_an_object_or_null():
    assert errors({"batch": None}) == []
    assert errors({"batch": "customers/batch"}) == [
        "batch: must be an object (url, max_records, ...) or null"
    ]


def test_unknown_batch_settings_are_named_with_the_known_ones():
    assert errors({"batch": {"url": "b", "max": 10}}) == [
        "batch.max: unknown setting; known here: url, max_records, records_path, payload_path, "
        "key_path, results_path, status_path, record_path"
    ]


@pytest.mark.parametrize("value", [0, -1, 2.5, True, "100", None])
def test_max_records_is_a_whole_number_of_at_least_one(value):
    assert errors({"batch": {"url": "b", "max_records": value}}) == [
        "batch.max_records: must be a whole number of at least 1"
    ]


def test_a_resources_batch_url_takes_no_id_and_is_named_under_the_resource():
    assert errors({"resources": {"customers": {"batch": {"url": "customers/{id}/batch"}}}}) == [
        "resources.customers.batch.url: 'customers/{id}/batch' creates records: it has no {id} "
        "to fill"
    ]


def test_each_answer_needs_a_status_path():
    assert errors({"batch": {"url": "b", "status_path": ""}}) == [
        "batch.status_path: say where each record's answer holds its HTTP status"
    ]


def test_a_batch_without_keys_is_refused_where_single_creates_send_keys():
    assert errors({"batch": {"url": "b", "key_path": None}}) == [
        "batch.key_path: a batch sends no idempotency keys (batch.key_path is null) but single "
        "creates send them (Idempotency-Key): a batch re-sent after a lost answer would create "
        "its records twice. Say where each record's key goes, or set idempotency to null"
    ]
    assert errors({"batch": {"url": "b", "key_path": None}, "idempotency": None}) == []


def test_a_resource_that_turns_keys_on_under_a_keyless_batch_is_named_at_its_idempotency():
    settings = {
        "batch": {"url": "b", "key_path": None},
        "idempotency": None,
        "resources": {"customers": {"idempotency": {"header": "Idempotency-Key"}}},
    }

    (problem,) = errors(settings)

    assert problem.startswith("resources.customers.idempotency: a batch sends no idempotency keys")


def test_the_example_settings_shown_in_the_admin_are_valid():
    assert errors(RestConnector.settings_example) == []
