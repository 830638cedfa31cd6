"""POST .../<id>/archive, POST .../<id>/restore and DELETE .../<id> over real HTTP against
`manage.py run_simulator`."""

from collections.abc import Iterator

import httpx
import pytest

from connectors.simulator.runner import RunningSimulator, start_simulator

CUSTOMERS = "/erp/api/customers"
CONTACTS = "/crm/api/contacts"
TOKEN = "s3cret"


@pytest.fixture(scope="module")
def guarded() -> Iterator[RunningSimulator]:
    with start_simulator(contacts=3, token=TOKEN) as running:
        yield running


def listed_ids(client: httpx.Client, path: str = CUSTOMERS, **params: str) -> list[str]:
    answer = client.get(path, params={"page_size": "200", **params})
    answer.raise_for_status()
    return [record["id"] for record in answer.json()["results"]]


def test_an_archived_customer_is_answered_marked_and_left_out_of_the_list(
    client: httpx.Client,
) -> None:
    answer = client.post(f"{CUSTOMERS}/E-10002/archive")

    assert answer.status_code == 200
    assert (answer.json()["id"], answer.json()["archived"]) == ("E-10002", True)
    assert "E-10002" not in listed_ids(client)
    assert client.get(CUSTOMERS).json()["count"] == 4
    assert client.get(f"{CUSTOMERS}/E-10002").json() == answer.json()


def test_the_archived_records_are_listed_when_asked_for(client: httpx.Client) -> None:
    client.post(f"{CONTACTS}/C-0005/archive")

    assert listed_ids(client, CONTACTS, archived="true") == ["C-0005"]
    assert "C-0005" not in listed_ids(client, CONTACTS, archived="false")


def test_archived_must_be_true_or_false(client: httpx.Client) -> None:
    answer = client.get(CUSTOMERS, params={"archived": "yes"})

    assert (answer.status_code, answer.json()) == (
        400,
        {"detail": "archived must be true or false."},
    )


def test_a_look_up_by_email_leaves_an_archived_customer_out(client: httpx.Client) -> None:
    email = client.get(f"{CUSTOMERS}/E-10002").json()["email"]
    assert listed_ids(client, email=f" {email.upper()} ") == ["E-10002"]

    client.post(f"{CUSTOMERS}/E-10002/archive")

    assert listed_ids(client, email=email) == []
    assert listed_ids(client, email=email, archived="true") == ["E-10002"]


def test_a_restored_customer_is_listed_again_and_no_longer_marked(client: httpx.Client) -> None:
    client.post(f"{CUSTOMERS}/E-10002/archive")

    answer = client.post(f"{CUSTOMERS}/E-10002/restore")

    assert answer.status_code == 200
    assert "archived" not in answer.json()
    assert listed_ids(client)[-1] == "E-10002"  # updated now: behind every other
    assert client.get(f"{CUSTOMERS}/E-10002").json() == answer.json()


def test_archive_and_restore_repeated_answer_the_record_unchanged(client: httpx.Client) -> None:
    archived = client.post(f"{CUSTOMERS}/E-10003/archive").json()
    assert client.post(f"{CUSTOMERS}/E-10003/archive").json() == archived

    restored = client.post(f"{CUSTOMERS}/E-10003/restore").json()
    again = client.post(f"{CUSTOMERS}/E-10003/restore")

    assert (again.status_code, again.json()) == (200, restored)


def test_restoring_a_customer_whose_email_was_taken_conflicts(client: httpx.Client) -> None:
    original = client.get(f"{CUSTOMERS}/E-10002").json()
    client.post(f"{CUSTOMERS}/E-10002/archive")
    client.put(f"{CUSTOMERS}/E-10001", json={"email": original["email"]}).raise_for_status()

    answer = client.post(f"{CUSTOMERS}/E-10002/restore")

    assert answer.status_code == 409
    assert answer.json()["existing_id"] == "E-10001"
    assert client.get(f"{CUSTOMERS}/E-10002").json()["archived"] is True


def test_a_deleted_customer_is_gone_and_a_second_delete_is_not_found(
    client: httpx.Client,
) -> None:
    answer = client.delete(f"{CUSTOMERS}/E-10004")

    assert (answer.status_code, answer.content) == (204, b"")
    assert "content-length" not in answer.headers
    assert client.get(f"{CUSTOMERS}/E-10004").status_code == 404
    assert "E-10004" not in listed_ids(client) + listed_ids(client, archived="true")
    assert client.post(f"{CUSTOMERS}/E-10004/restore").status_code == 404
    assert client.delete(f"{CUSTOMERS}/E-10004").status_code == 404
    assert client.get("/_control/stats").json()["erp"] == {"customers": 4}


def test_a_kept_alive_connection_serves_on_after_a_delete(client: httpx.Client) -> None:
    client.delete(f"{CONTACTS}/C-0001")

    assert client.get(f"{CONTACTS}/C-0002").status_code == 200


@pytest.mark.parametrize("action", ["archive", "restore"])
def test_an_unknown_record_is_not_found(client: httpx.Client, action: str) -> None:
    answer = client.post(f"{CONTACTS}/C-9999/{action}")

    assert (answer.status_code, answer.json()) == (404, {"detail": "Not found"})


def test_archive_takes_only_post(client: httpx.Client) -> None:
    answer = client.get(f"{CUSTOMERS}/E-10001/archive")

    assert (answer.status_code, answer.headers["allow"]) == (405, "POST")


def test_an_archive_whose_answer_was_lost_is_answered_when_sent_again(
    client: httpx.Client,
) -> None:
    fault = {"system": "erp", "status": 504, "count": 1, "after_write": True}
    client.post("/_control/faults", json=fault).raise_for_status()

    lost = client.post(f"{CUSTOMERS}/E-10001/archive")
    again = client.post(f"{CUSTOMERS}/E-10001/archive")

    assert (lost.status_code, again.status_code) == (504, 200)
    assert again.json()["archived"] is True


def test_a_fault_strikes_a_delete_before_it_lands(client: httpx.Client) -> None:
    client.post("/_control/faults", json={"system": "crm", "status": 503, "count": 1})

    assert client.delete(f"{CONTACTS}/C-0001").status_code == 503
    assert client.get(f"{CONTACTS}/C-0001").status_code == 200


def test_the_styled_apis_leave_an_archived_record_out_too(client: httpx.Client) -> None:
    client.post(f"{CUSTOMERS}/E-10002/archive")

    items = client.get("/styles/no-since/erp/customers").json()["items"]
    styled = client.get("/styles/no-since/erp/customers/E-10002").json()

    assert "E-10002" not in [item["id"] for item in items]
    assert styled["archived"] is True


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/crm/api/contacts/C-0001/archive"),
        ("POST", "/crm/api/contacts/C-0001/restore"),
        ("DELETE", "/crm/api/contacts/C-0001"),
    ],
)
def test_archive_restore_and_delete_need_the_token(
    guarded: RunningSimulator, method: str, path: str
) -> None:
    httpx.post(f"{guarded.base_url}/_control/reset").raise_for_status()
    refused = httpx.request(method, f"{guarded.base_url}{path}")
    served = httpx.request(
        method, f"{guarded.base_url}{path}", headers={"Authorization": f"Bearer {TOKEN}"}
    )

    assert refused.status_code == 401
    assert served.status_code in (200, 204)
