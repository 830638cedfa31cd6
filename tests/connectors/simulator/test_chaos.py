"""The simulator's chaos (chaos.py), over real HTTP against `manage.py run_simulator`."""

import time

import httpx
import pytest

from connectors.simulator.world import Credentials

DEFAULTS = Credentials()
# A client gives up after IMPATIENT, long before a HOLD ends, yet a request that is not held
# answers well within IMPATIENT even on a busy machine. SHORT_HOLD for tests that wait it out.
HOLD = 1.0
IMPATIENT = 0.5
SHORT_HOLD = 0.3
NEW_CUSTOMER = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "email": "ada@analytical.example",
    "country_code": "GB",
}


def arm(client: httpx.Client, kind: str, **options: object) -> dict:
    response = client.post(f"/_control/chaos/{kind}", json=options)
    response.raise_for_status()
    return response.json()


def customers(client: httpx.Client) -> int:
    return client.get("/_control/stats").json()["erp"]["customers"]


def wait_for_customers(client: httpx.Client, expected: int) -> int:
    """The ERP's customer count once it reaches expected, or after two seconds."""
    deadline = time.monotonic() + 2
    while (count := customers(client)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


def outcome(client: httpx.Client, path: str) -> str:
    """What became of one request: its status, "timeout" or "drop"."""
    try:
        response = client.get(path, timeout=IMPATIENT)
    except httpx.TimeoutException:
        return "timeout"
    except httpx.RemoteProtocolError:
        return "drop"
    retry_after = response.headers.get("retry-after")
    return f"{response.status_code}" + (f" retry-after {retry_after}" if retry_after else "")


# --- timeout ------------------------------------------------------------------------------


def test_timeout_holds_the_request_past_the_clients_timeout(client: httpx.Client) -> None:
    armed = arm(client, "timeout", system="erp", seconds=HOLD)

    with pytest.raises(httpx.ReadTimeout):
        client.get("/erp/api/customers", timeout=IMPATIENT)

    assert armed == {"system": "erp", "kind": "timeout", "count": 1, "after_write": False} | {
        "seconds": HOLD
    }
    assert client.get("/erp/api/customers", timeout=IMPATIENT).status_code == 200


def test_timeout_answers_a_patient_client_after_the_hold(client: httpx.Client) -> None:
    arm(client, "timeout", system="crm", seconds=SHORT_HOLD)
    started = time.monotonic()

    response = client.get("/styles/no-since/crm/contacts")

    assert (response.status_code, time.monotonic() - started >= SHORT_HOLD) == (200, True)


def test_timeout_still_carries_out_the_write_the_client_gave_up_on(client: httpx.Client) -> None:
    arm(client, "timeout", system="erp", seconds=SHORT_HOLD)

    with pytest.raises(httpx.ReadTimeout):
        client.post("/erp/api/customers", json=NEW_CUSTOMER, timeout=SHORT_HOLD / 3)

    assert wait_for_customers(client, 6) == 6


def test_timeout_spares_the_other_system(client: httpx.Client) -> None:
    arm(client, "timeout", system="erp", seconds=HOLD)

    assert outcome(client, "/crm/api/contacts") == "200"


# --- drop ---------------------------------------------------------------------------------


def test_drop_closes_the_connection_without_an_answer(client: httpx.Client) -> None:
    arm(client, "drop", system="crm", count=2)

    results = [outcome(client, "/crm/api/contacts") for _ in range(3)]

    assert results == ["drop", "drop", "200"]


def test_drop_before_the_write_writes_nothing(client: httpx.Client) -> None:
    arm(client, "drop", system="erp")

    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/styles/no-since/erp/customers", json=NEW_CUSTOMER)

    assert customers(client) == 5


def test_drop_after_the_write_loses_the_answer_of_a_create_that_landed(
    client: httpx.Client,
) -> None:
    arm(client, "drop", system="erp", after_write=True)

    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/erp/api/customers", json=NEW_CUSTOMER)

    assert customers(client) == 6


# --- expire_tokens ------------------------------------------------------------------------


def test_expire_tokens_invalidates_every_issued_token(client: httpx.Client) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": DEFAULTS.client_id,
        "client_secret": DEFAULTS.client_secret,
    }
    token = client.post("/styles/oauth/token", data=form).json()["access_token"]
    login = {"user": DEFAULTS.user, "password": DEFAULTS.password}
    session = client.post("/styles/session/login", json=login).json()["token"]

    expired = arm(client, "expire_tokens")

    assert expired == {"expired": 2}
    cursor = {"Authorization": f"Bearer {token}"}
    assert client.get("/styles/cursor/crm/contacts", headers=cursor).status_code == 401
    bare = {"Authorization": f"Token {session}"}
    assert client.get("/styles/bare/crm/contacts", headers=bare).status_code == 401
    fresh = client.post("/styles/oauth/token", data=form).json()["access_token"]
    fresh_headers = {"Authorization": f"Bearer {fresh}"}
    assert client.get("/styles/cursor/crm/contacts", headers=fresh_headers).status_code == 200


# --- rename_field -------------------------------------------------------------------------


def test_rename_field_renames_it_in_every_answer_of_that_system(client: httpx.Client) -> None:
    arm(client, "rename_field", system="crm", **{"from": "email", "to": "e_mail"})

    listed = client.get("/crm/api/contacts").json()["results"]
    styled = client.get("/styles/no-since/crm/contacts").json()["items"]
    one = client.get("/crm/api/contacts/C-0001").json()

    for record in [*listed, *styled, one]:
        assert "e_mail" in record and "email" not in record
    assert "email" in client.get("/erp/api/customers/E-10001").json()


def test_rename_field_leaves_writes_with_the_real_name(client: httpx.Client) -> None:
    arm(client, "rename_field", system="erp", **{"from": "email", "to": "e_mail"})

    created = client.post("/erp/api/customers", json=NEW_CUSTOMER)

    assert (created.status_code, created.json()["e_mail"]) == (201, NEW_CUSTOMER["email"])


def test_reset_ends_a_rename(client: httpx.Client) -> None:
    arm(client, "rename_field", system="crm", **{"from": "email", "to": "e_mail"})

    client.post("/_control/reset")

    assert "email" in client.get("/crm/api/contacts/C-0001").json()


# --- new_enum_value -----------------------------------------------------------------------


def test_new_enum_value_gives_a_contact_a_country_never_seen(client: httpx.Client) -> None:
    before = client.get("/crm/api/contacts", params={"page_size": 200}).json()["results"]
    countries = {contact["country"] for contact in before}

    stored = arm(client, "new_enum_value", system="crm")
    changed = client.get(
        "/crm/api/contacts", params={"updated_since": before[-1]["updated_at"], "page_size": 200}
    ).json()["results"]

    assert stored == {"system": "crm", "id": "C-0001", "field": "country", "value": "Atlantis"}
    assert "Atlantis" not in countries
    assert changed[-1] | {"updated_at": ""} == {
        **next(c for c in before if c["id"] == "C-0001"),
        "country": "Atlantis",
        "updated_at": "",
    }


def test_new_enum_value_bypasses_the_erps_own_validation(client: httpx.Client) -> None:
    arm(client, "new_enum_value", system="erp", id="E-10004", value="ZZ")

    assert client.get("/erp/api/customers/E-10004").json()["country_code"] == "ZZ"


# --- failure_rate -------------------------------------------------------------------------


def outcomes(client: httpx.Client, count: int) -> list[str]:
    return [outcome(client, "/erp/api/customers/E-10001") for _ in range(count)]


def test_failure_rate_mixes_every_kind_of_failure(client: httpx.Client) -> None:
    arm(client, "failure_rate", system="erp", failure_rate=1.0, seed=2, seconds=HOLD)

    seen = set(outcomes(client, 6))

    assert seen == {"500", "503", "429 retry-after 0", "timeout", "drop"}


def test_failure_rate_fails_about_that_share_of_requests(client: httpx.Client) -> None:
    arm(client, "failure_rate", system="erp", failure_rate=0.3, seed=7, seconds=HOLD)

    failed = [result for result in outcomes(client, 40) if result != "200"]

    assert 6 <= len(failed) <= 18


def test_failure_rate_repeats_itself_for_the_same_seed(client: httpx.Client) -> None:
    arm(client, "failure_rate", system="erp", failure_rate=0.5, seed=11, seconds=HOLD)
    first = outcomes(client, 12)
    client.post("/_control/reset")
    arm(client, "failure_rate", system="erp", failure_rate=0.5, seed=11, seconds=HOLD)

    again = outcomes(client, 12)

    assert first == again
    assert "200" in first and len(set(first)) > 1


def test_failure_rate_spares_the_other_system(client: httpx.Client) -> None:
    arm(client, "failure_rate", system="erp", failure_rate=1.0, seed=7, seconds=HOLD)

    assert {outcome(client, "/crm/api/contacts") for _ in range(5)} == {"200"}


def test_failure_rate_zero_turns_it_off(client: httpx.Client) -> None:
    arm(client, "failure_rate", system="erp", failure_rate=1.0, seed=7, seconds=HOLD)
    arm(client, "failure_rate", system="erp", failure_rate=0)

    assert set(outcomes(client, 5)) == {"200"}


# --- together -----------------------------------------------------------------------------


def test_status_faults_strike_styled_paths_too(client: httpx.Client) -> None:
    client.post("/_control/faults", json={"system": "erp", "status": 503, "count": 1})

    assert client.get("/styles/no-since/erp/customers").status_code == 503


def test_reset_clears_every_kind_of_chaos(client: httpx.Client) -> None:
    arm(client, "timeout", system="erp", seconds=HOLD, count=3)
    arm(client, "drop", system="crm", count=3)
    arm(client, "failure_rate", system="erp", failure_rate=1.0, seed=1, seconds=HOLD)

    client.post("/_control/reset")

    assert outcome(client, "/erp/api/customers") == "200"
    assert outcome(client, "/crm/api/contacts") == "200"


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("earthquake", {"system": "erp"}),
        ("timeout", {"system": "sap"}),
        ("timeout", {"system": "erp", "seconds": -1}),
        ("timeout", {"system": "erp", "seconds": 121}),
        ("drop", {"system": "erp", "count": True}),
        ("drop", {"system": "erp", "after_write": "yes"}),
        ("failure_rate", {"system": "erp", "failure_rate": 1.5}),
        ("failure_rate", {"system": "erp", "failure_rate": 0.5, "seed": -1}),
        ("rename_field", {"system": "crm", "from": "id", "to": "key"}),
        ("rename_field", {"system": "crm", "from": "email"}),
        ("new_enum_value", {"system": "crm", "field": "colour"}),
        ("new_enum_value", {"system": "crm", "id": "C-9999"}),
    ],
)
def test_nonsense_chaos_is_a_bad_request(client: httpx.Client, kind: str, options: dict) -> None:
    response = client.post(f"/_control/chaos/{kind}", json=options)

    assert response.status_code == 400
    assert "detail" in response.json()
