"""The simulator's HTTP API, over real HTTP against `manage.py run_simulator`."""

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.core.management import CommandError, call_command

from connectors.simulator.runner import RunningSimulator, start_simulator
from connectors.simulator.server import make_server
from connectors.simulator.world import Record, World

TOKEN = "s3cret"
NEW_CUSTOMER = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "email": "ada@analytical.example",
    "phone": "+4930123456",
    "country_code": "GB",
}


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    with start_simulator() as running:
        yield running


@pytest.fixture(scope="module")
def guarded() -> Iterator[RunningSimulator]:
    with start_simulator(contacts=3, token=TOKEN) as running:
        yield running


@pytest.fixture
def client(sim: RunningSimulator) -> Iterator[httpx.Client]:
    """A client on a simulator reset to its seeded world."""
    with httpx.Client(base_url=sim.base_url, timeout=5) as client:
        client.post("/_control/reset").raise_for_status()
        yield client


def all_contacts(client: httpx.Client, **params: str) -> list[dict[str, str]]:
    return client.get("/crm/api/contacts", params={"page_size": "200", **params}).json()["results"]


# --- process ------------------------------------------------------------------------------


def test_health_answers_ok(client: httpx.Client) -> None:
    response = client.get("/health")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert response.headers["content-type"] == "application/json"


def test_port_zero_reports_the_port_actually_bound(sim: RunningSimulator) -> None:
    assert sim.base_url.startswith("http://127.0.0.1:")
    assert not sim.base_url.endswith(":0")


def test_sigterm_stops_the_simulator_cleanly() -> None:
    running = start_simulator(contacts=1)

    running.stop()

    assert running.process.returncode == 0


def test_busy_port_is_a_clear_command_error() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]

        with pytest.raises(CommandError, match=f"port {port} is already in use"):
            call_command("run_simulator", port=port, contacts=0)


class BrokenWorld(World):
    def list_records(self, *args: Any, **kwargs: Any) -> tuple[list[Record], int]:
        raise RuntimeError("internals the client must not see")


def test_unexpected_error_answers_500_without_internals() -> None:
    # In-thread, because a subprocess offers no way to break its world.
    server = make_server("127.0.0.1", 0, BrokenWorld(contacts=0))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        response = httpx.get(f"http://127.0.0.1:{server.server_address[1]}/crm/api/contacts")
    finally:
        server.shutdown()
        server.server_close()

    assert (response.status_code, response.json()) == (500, {"detail": "Internal error"})


# --- reading ------------------------------------------------------------------------------


def test_contacts_come_in_pages_with_a_next_page(client: httpx.Client) -> None:
    body = client.get("/crm/api/contacts", params={"page_size": 15}).json()

    assert (len(body["results"]), body["page"], body["page_size"]) == (15, 1, 15)
    assert (body["count"], body["next"]) == (40, 2)


def test_last_page_has_no_next(client: httpx.Client) -> None:
    body = client.get("/crm/api/contacts", params={"page": 3, "page_size": 15}).json()

    assert (len(body["results"]), body["next"]) == (10, None)


def test_default_page_size_is_fifty(client: httpx.Client) -> None:
    body = client.get("/crm/api/contacts").json()

    assert (body["page_size"], len(body["results"]), body["next"]) == (50, 40, None)


def test_contacts_are_ordered_by_updated_at_then_id(client: httpx.Client) -> None:
    keys = [(c["updated_at"], c["id"]) for c in all_contacts(client)]

    assert keys == sorted(keys)


def test_updated_since_returns_only_records_changed_since(client: httpx.Client) -> None:
    everyone = all_contacts(client)
    since = everyone[25]["updated_at"]

    assert all_contacts(client, updated_since=since) == everyone[25:]


def test_updated_since_accepts_an_offset(client: httpx.Client) -> None:
    since = all_contacts(client)[25]["updated_at"].replace("Z", "+00:00")

    assert len(all_contacts(client, updated_since=since)) == 15


@pytest.mark.parametrize(
    "params",
    [{"page_size": "0"}, {"page_size": "201"}, {"page": "0"}, {"page": "two"}, {"page_size": ""}],
)
def test_out_of_range_paging_is_a_bad_request(client: httpx.Client, params: dict) -> None:
    response = client.get("/erp/api/customers", params=params)

    assert response.status_code == 400
    assert "detail" in response.json()


def test_unparseable_updated_since_is_a_bad_request(client: httpx.Client) -> None:
    response = client.get("/crm/api/contacts", params={"updated_since": "last tuesday"})

    assert response.status_code == 400


def test_contact_is_fetched_by_id(client: httpx.Client) -> None:
    response = client.get("/crm/api/contacts/C-0013")

    assert response.status_code == 200
    assert response.json()["country"] == "Brazil"


def test_unknown_customer_is_not_found(client: httpx.Client) -> None:
    response = client.get("/erp/api/customers/E-99999")

    assert (response.status_code, response.json()) == (404, {"detail": "Not found"})


def test_unknown_route_is_not_found(client: httpx.Client) -> None:
    response = client.get("/crm/api/leads")

    assert (response.status_code, response.json()) == (404, {"detail": "Not found"})


def test_wrong_method_on_known_route_is_refused(client: httpx.Client) -> None:
    response = client.patch("/erp/api/customers/E-10001", json={"company": "Patched"})

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PUT, DELETE"


# --- writing ------------------------------------------------------------------------------


def test_created_customer_gets_server_fields(client: httpx.Client) -> None:
    response = client.post("/erp/api/customers", json=NEW_CUSTOMER)

    assert response.status_code == 201
    created = response.json()
    assert created["id"] == "E-10006"
    assert created["created_at"].endswith("Z")
    assert created == NEW_CUSTOMER | {
        "id": "E-10006",
        "company": "",
        "crm_ref": "",
        "created_at": created["created_at"],
        "updated_at": created["created_at"],
    }


def test_created_customer_can_be_fetched(client: httpx.Client) -> None:
    created = client.post("/erp/api/customers", json=NEW_CUSTOMER).json()

    assert client.get(f"/erp/api/customers/{created['id']}").json() == created


def test_update_keeps_fields_absent_from_the_body(client: httpx.Client) -> None:
    before = client.get("/erp/api/customers/E-10003").json()

    response = client.put("/erp/api/customers/E-10003", json={"crm_ref": "C-0001"})

    assert response.status_code == 200
    after = response.json()
    assert after == before | {"crm_ref": "C-0001", "updated_at": after["updated_at"]}
    assert after["updated_at"] > before["updated_at"]


def test_update_of_unknown_customer_is_not_found(client: httpx.Client) -> None:
    response = client.put("/erp/api/customers/E-99999", json={"company": "X"})

    assert response.status_code == 404


def test_invalid_customer_lists_every_failing_field(client: httpx.Client) -> None:
    body = NEW_CUSTOMER | {"email": "", "phone": "12-34 call me", "country_code": "BR"}

    response = client.post("/erp/api/customers", json=body)

    assert response.status_code == 422
    assert response.json() == {
        "errors": {
            "email": ["This field is required."],
            "phone": ["Enter a phone number in E.164 format, e.g. +4930123456."],
            "country_code": ["Country code BR is not supported."],
        }
    }


def test_unknown_field_is_refused(client: httpx.Client) -> None:
    response = client.post("/erp/api/customers", json=NEW_CUSTOMER | {"vip": "yes"})

    assert (response.status_code, response.json()) == (422, {"errors": {"vip": ["Unknown field."]}})


def test_server_fields_in_the_body_are_ignored(client: httpx.Client) -> None:
    body = NEW_CUSTOMER | {"id": "E-1", "created_at": "x", "updated_at": "y"}

    response = client.post("/erp/api/customers", json=body)

    assert (response.status_code, response.json()["id"]) == (201, "E-10006")


def test_crm_refuses_a_contact_without_names(client: httpx.Client) -> None:
    response = client.post("/crm/api/contacts", json={"first_name": "Ada"})

    assert (response.status_code, response.json()) == (
        422,
        {"errors": {"last_name": ["This field is required."]}},
    )


def test_crm_contact_update_is_visible_in_the_list(client: httpx.Client) -> None:
    client.put("/crm/api/contacts/C-0007", json={"email": "fixed@example.com"})

    assert all_contacts(client)[-1]["email"] == "fixed@example.com"


def test_duplicate_email_answers_conflict_with_existing_id(client: httpx.Client) -> None:
    taken = client.get("/erp/api/customers/E-10002").json()["email"]

    response = client.post("/erp/api/customers", json=NEW_CUSTOMER | {"email": taken.upper()})

    assert response.status_code == 409
    assert response.json() == {
        "errors": {"email": ["A customer with this email already exists."]},
        "existing_id": "E-10002",
    }


def test_repeated_idempotency_key_replays_without_creating(client: httpx.Client) -> None:
    headers = {"Idempotency-Key": "sync-42"}
    first = client.post("/erp/api/customers", json=NEW_CUSTOMER, headers=headers)

    again = client.post("/erp/api/customers", json=NEW_CUSTOMER, headers=headers)

    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert client.get("/_control/stats").json()["erp"] == {"customers": 6}


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe", b"[1, 2]", b"[" * 100_000])
def test_malformed_body_is_a_bad_request(client: httpx.Client, body: bytes) -> None:
    response = client.post("/erp/api/customers", content=body)

    assert response.status_code == 400
    assert "detail" in response.json()


# --- control ------------------------------------------------------------------------------


def test_injected_fault_answers_the_next_requests_then_clears(client: httpx.Client) -> None:
    client.post("/_control/faults", json={"system": "erp", "status": 503, "count": 2})

    statuses = [client.get("/erp/api/customers").status_code for _ in range(3)]

    assert statuses == [503, 503, 200]


def test_injected_fault_carries_retry_after(client: httpx.Client) -> None:
    fault = {"system": "crm", "status": 429, "count": 1, "retry_after": 2}
    client.post("/_control/faults", json=fault)

    response = client.get("/crm/api/contacts")

    assert (response.status_code, response.json()) == (429, {"detail": "Injected fault"})
    assert response.headers["retry-after"] == "2"


def test_a_fault_after_the_write_loses_the_answer_of_a_create_that_landed(
    client: httpx.Client,
) -> None:
    fault = {"system": "erp", "status": 504, "count": 1, "after_write": True}
    client.post("/_control/faults", json=fault)
    body = {
        "given_name": "Lost",
        "family_name": "Answer",
        "email": "lost.answer@example.com",
        "country_code": "DE",
    }

    lost = client.post("/erp/api/customers", json=body, headers={"Idempotency-Key": "k-1"})
    found = client.get("/erp/api/customers", params={"idempotency_key": "k-1"}).json()

    assert lost.status_code == 504
    assert [c["email"] for c in found["results"]] == ["lost.answer@example.com"]
    assert client.get("/erp/api/customers", params={"idempotency_key": "k-2"}).json() == {
        "results": [],
        "count": 0,
    }


def test_a_keyset_read_starts_strictly_after_the_given_record(client: httpx.Client) -> None:
    everyone = client.get("/crm/api/contacts", params={"page_size": 200}).json()["results"]
    tenth = everyone[9]

    after = client.get(
        "/crm/api/contacts",
        params={"page_size": 200, "updated_since": tenth["updated_at"], "after_id": tenth["id"]},
    ).json()["results"]

    assert after == everyone[10:]


def test_injected_fault_spares_the_other_system(client: httpx.Client) -> None:
    client.post("/_control/faults", json={"system": "erp", "status": 503, "count": 1})

    assert client.get("/crm/api/contacts").status_code == 200


@pytest.mark.parametrize(
    "fault",
    [
        {"system": "sap", "status": 503},
        {"system": "erp", "status": 200},
        {"system": "erp", "count": -1},
        {"system": "erp", "count": True},
    ],
)
def test_nonsense_fault_is_a_bad_request(client: httpx.Client, fault: dict) -> None:
    assert client.post("/_control/faults", json=fault).status_code == 400


def elapsed(client: httpx.Client, path: str) -> float:
    started = time.monotonic()
    client.get(path).raise_for_status()
    return time.monotonic() - started


def test_latency_slows_every_request_to_that_system_only(client: httpx.Client) -> None:
    response = client.post("/_control/latency", json={"system": "erp", "seconds": 0.4})

    assert response.json() == {"system": "erp", "seconds": 0.4}
    assert elapsed(client, "/erp/api/customers") >= 0.4
    assert elapsed(client, "/erp/api/customers/E-10001") >= 0.4
    assert elapsed(client, "/crm/api/contacts") < 0.4


def test_reset_takes_the_latency_away(client: httpx.Client) -> None:
    client.post("/_control/latency", json={"system": "crm", "seconds": 0.4})

    client.post("/_control/reset")

    assert elapsed(client, "/crm/api/contacts") < 0.4


@pytest.mark.parametrize(
    "latency",
    [
        {"system": "sap", "seconds": 0.1},
        {"system": "erp"},
        {"system": "erp", "seconds": -0.1},
        {"system": "erp", "seconds": 11},
        {"system": "erp", "seconds": "0.1"},
        {"system": "erp", "seconds": True},
    ],
)
def test_nonsense_latency_is_a_bad_request(client: httpx.Client, latency: dict) -> None:
    assert client.post("/_control/latency", json=latency).status_code == 400


def test_stats_count_records_and_requests(client: httpx.Client) -> None:
    client.get("/crm/api/contacts")
    client.post("/erp/api/customers", json=NEW_CUSTOMER)
    client.get("/erp/api/customers/E-10006")

    assert client.get("/_control/stats").json() == {
        "crm": {"contacts": 40},
        "erp": {"customers": 6},
        "requests": {"crm": 1, "erp": 2},
    }


def test_reset_restores_the_seeded_world(client: httpx.Client) -> None:
    before = all_contacts(client)
    client.put("/crm/api/contacts/C-0001", json={"company": "Changed"})
    client.post("/_control/faults", json={"system": "crm", "status": 500, "count": 5})

    client.post("/_control/reset")

    assert all_contacts(client) == before


# --- token --------------------------------------------------------------------------------


def test_request_without_token_is_unauthorized(guarded: RunningSimulator) -> None:
    response = httpx.get(f"{guarded.crm_url}/contacts")

    assert (response.status_code, response.json()) == (401, {"detail": "Authentication required"})


def test_request_with_wrong_token_is_unauthorized(guarded: RunningSimulator) -> None:
    response = httpx.get(f"{guarded.erp_url}/customers", headers={"Authorization": "Bearer nope"})

    assert response.status_code == 401


def test_request_with_token_is_served(guarded: RunningSimulator) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}

    response = httpx.get(f"{guarded.crm_url}/contacts", headers=headers)

    assert (response.status_code, response.json()["count"]) == (200, 3)


@pytest.mark.parametrize("path", ["/health", "/_control/stats"])
def test_health_and_control_need_no_token(guarded: RunningSimulator, path: str) -> None:
    assert httpx.get(f"{guarded.base_url}{path}").status_code == 200
