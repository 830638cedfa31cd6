"""The simulator's API styles (styles.py), over real HTTP against `manage.py run_simulator`."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from django.core.management import CommandError, call_command

from connectors.simulator.runner import RunningSimulator, start_simulator
from connectors.simulator.server import make_server
from connectors.simulator.world import DUPLICATE_EMAIL, Credentials, World

DEFAULTS = Credentials()
API_KEY = {"X-API-Key": DEFAULTS.api_key}
BASIC = (DEFAULTS.user, DEFAULTS.password)
CLIENT = {"client_id": DEFAULTS.client_id, "client_secret": DEFAULTS.client_secret}
NEW_CUSTOMER = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "email": "ada@analytical.example",
    "country_code": "GB",
}


def classic(client: httpx.Client, system: str = "crm") -> list[dict[str, str]]:
    """Every record through the classic API, in (updated_at, id) order: the truth to compare."""
    collection = {"crm": "contacts", "erp": "customers"}[system]
    return client.get(f"/{system}/api/{collection}", params={"page_size": 200}).json()["results"]


def ids(records: list[dict[str, Any]]) -> list[str]:
    return [record["id"] for record in records]


def bearer(client: httpx.Client) -> dict[str, str]:
    token = client.post("/styles/oauth/token", data={"grant_type": "client_credentials", **CLIENT})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def session(client: httpx.Client) -> dict[str, str]:
    login = {"user": DEFAULTS.user, "password": DEFAULTS.password}
    token = client.post("/styles/session/login", json=login).json()["token"]
    return {"Authorization": f"Token {token}"}


# --- shared -------------------------------------------------------------------------------


def test_a_write_through_a_style_is_seen_by_the_classic_api(client: httpx.Client) -> None:
    response = client.post("/styles/no-since/erp/customers", json=NEW_CUSTOMER)

    assert response.status_code == 201
    assert ids(classic(client, "erp"))[-1] == response.json()["id"] == "E-10006"


def test_a_record_is_fetched_by_id_in_every_style(client: httpx.Client) -> None:
    response = client.get("/styles/ignores-paging/crm/contacts/C-0013")

    assert (response.status_code, response.json()["country"]) == (200, "Brazil")
    assert client.get("/styles/ignores-paging/crm/contacts/C-9999").status_code == 404


def test_unknown_style_is_not_found(client: httpx.Client) -> None:
    assert client.get("/styles/graphql/crm/contacts").status_code == 404


def test_email_filter_ignores_case_and_spaces(client: httpx.Client) -> None:
    taken = client.get("/erp/api/customers/E-10002").json()["email"]

    response = client.get("/styles/no-since/erp/customers", params={"email": f" {taken.upper()}"})

    assert ids(response.json()["items"]) == ["E-10002"]


def test_styled_requests_count_for_their_system(client: httpx.Client) -> None:
    client.get("/styles/no-since/erp/customers")
    client.get("/styles/oauth/token")

    assert client.get("/_control/stats").json()["requests"] == {"crm": 0, "erp": 1}


# --- offset and no-since ------------------------------------------------------------------


def test_offset_pages_by_offset_and_limit_and_counts_every_match(client: httpx.Client) -> None:
    params = {"offset": 10, "limit": 15}

    body = client.get("/styles/offset/crm/contacts", params=params, headers=API_KEY).json()

    assert body == {"items": classic(client)[10:25], "total": 40}


def test_offset_keeps_records_modified_at_or_after_modified_after(client: httpx.Client) -> None:
    everyone = classic(client)
    params = {"modified_after": everyone[30]["updated_at"], "limit": 200}

    body = client.get("/styles/offset/crm/contacts", params=params, headers=API_KEY).json()

    assert (body["items"], body["total"]) == (everyone[30:], 10)


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}])
def test_offset_refuses_requests_without_the_api_key_header(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    response = client.get("/styles/offset/crm/contacts", headers=headers)

    assert response.status_code == 401
    assert "www-authenticate" in response.headers


def test_offset_takes_the_api_key_from_the_header_only(client: httpx.Client) -> None:
    params = {"api_key": DEFAULTS.api_key}

    assert client.get("/styles/offset/crm/contacts", params=params).status_code == 401


def test_offset_updates_with_patch_and_refuses_put(client: httpx.Client) -> None:
    path = "/styles/offset/erp/customers/E-10001"

    patched = client.patch(path, json={"company": "Patched"}, headers=API_KEY)
    put = client.put(path, json={"company": "Put"}, headers=API_KEY)

    assert (patched.status_code, patched.json()["company"]) == (200, "Patched")
    assert (put.status_code, put.headers["allow"]) == (405, "GET, PATCH")


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 201}, {"offset": -1}, {"offset": "x"}])
def test_offset_out_of_range_paging_is_a_bad_request(client: httpx.Client, params: dict) -> None:
    response = client.get("/styles/offset/crm/contacts", params=params, headers=API_KEY)

    assert response.status_code == 400
    assert "detail" in response.json()


def test_no_since_ignores_every_changed_since_parameter(client: httpx.Client) -> None:
    latest = classic(client)[-1]["updated_at"]
    params = {"modified_after": latest, "updated_since": latest, "since": latest, "limit": 200}

    body = client.get("/styles/no-since/crm/contacts", params=params).json()

    assert (len(body["items"]), body["total"]) == (40, 40)


# --- range and range-exclusive ------------------------------------------------------------


def test_range_answers_partial_content_until_the_last_range(client: httpx.Client) -> None:
    path = "/styles/range/crm/contacts"

    first, middle, last = (
        client.get(path, headers={"Range": f"records={span}"}, auth=BASIC)
        for span in ("0-14", "15-29", "30-44")
    )

    assert (first.status_code, first.headers["content-range"]) == (206, "records 0-14/40")
    assert (last.status_code, last.headers["content-range"]) == (200, "records 30-39/40")
    assert first.json() + middle.json() + last.json() == classic(client)


def test_range_without_a_range_header_answers_everything(client: httpx.Client) -> None:
    response = client.get("/styles/range/erp/customers", auth=BASIC)

    assert (response.status_code, response.headers["content-range"]) == (200, "records 0-4/5")
    assert response.json() == classic(client, "erp")


def test_range_open_ended_reads_to_the_end(client: httpx.Client) -> None:
    response = client.get(
        "/styles/range/crm/contacts", headers={"Range": "records=35-"}, auth=BASIC
    )

    assert (response.status_code, response.headers["content-range"]) == (200, "records 35-39/40")


def test_range_keeps_records_updated_since(client: httpx.Client) -> None:
    everyone = classic(client)
    params = {"updated_since": everyone[30]["updated_at"]}

    response = client.get("/styles/range/crm/contacts", params=params, auth=BASIC)

    assert (response.json(), response.headers["content-range"]) == (everyone[30:], "records 0-9/10")


def test_range_starting_past_the_end_is_not_satisfiable(client: httpx.Client) -> None:
    response = client.get(
        "/styles/range/crm/contacts", headers={"Range": "records=40-49"}, auth=BASIC
    )

    assert (response.status_code, response.headers["content-range"]) == (416, "records */40")


def test_range_of_an_empty_selection_is_an_empty_array(client: httpx.Client) -> None:
    params = {"email": "nobody@nowhere.example"}

    response = client.get(
        "/styles/range/crm/contacts", params=params, headers={"Range": "records=0-49"}, auth=BASIC
    )

    assert (response.status_code, response.json()) == (200, [])
    assert response.headers["content-range"] == "records */0"


@pytest.mark.parametrize("header", ["items=0-49", "records=5-4", "records=a-b", "bytes=0-1"])
def test_range_in_another_unit_or_malformed_is_a_bad_request(
    client: httpx.Client, header: str
) -> None:
    response = client.get("/styles/range/crm/contacts", headers={"Range": header}, auth=BASIC)

    assert response.status_code == 400


def test_range_answers_at_most_200_records_and_says_so() -> None:
    # In-thread, on a world big enough to need it; creating is faster than seeding.
    world = World(contacts=0)
    for number in range(210):
        world.create_record("crm", {"first_name": "Contact", "last_name": str(number)})
    server = make_server("127.0.0.1", 0, world)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        response = httpx.get(
            f"http://127.0.0.1:{server.server_address[1]}/styles/range-exclusive/crm/contacts",
            headers={"Range": "items=0-500"},
        )
    finally:
        server.shutdown()
        server.server_close()

    assert (response.status_code, response.headers["content-range"]) == (206, "items 0-200/210")
    assert len(response.json()) == 200


@pytest.mark.parametrize(
    "auth", [None, (DEFAULTS.user, "wrong"), ("someone", DEFAULTS.password)], ids=str
)
def test_range_refuses_requests_without_basic_credentials(
    client: httpx.Client, auth: tuple[str, str] | None
) -> None:
    response = client.get("/styles/range/crm/contacts", auth=auth)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")


def test_range_exclusive_reads_the_end_as_exclusive(client: httpx.Client) -> None:
    path = "/styles/range-exclusive/crm/contacts"
    first = client.get(path, headers={"Range": "items=0-15"})
    last = client.get(path, headers={"Range": "items=30-45"})

    assert (first.status_code, first.headers["content-range"]) == (206, "items 0-15/40")
    assert (last.status_code, last.headers["content-range"]) == (200, "items 30-40/40")
    assert first.json() == classic(client)[:15]
    assert last.json() == classic(client)[30:]


# --- link ---------------------------------------------------------------------------------


def test_link_follows_next_links_through_every_page(client: httpx.Client) -> None:
    url = httpx.URL("/styles/link/crm/contacts?per_page=15")
    pages = []
    for _ in range(10):  # bounded: a link that never ends must fail, not hang
        # Merged, not passed as params=: httpx would replace the link's query with them.
        response = client.get(url.copy_merge_params({"api_key": DEFAULTS.api_key}))
        pages.append(response.json())
        if "next" not in response.links:
            break
        url = httpx.URL(response.links["next"]["url"])

    assert [len(page) for page in pages] == [15, 15, 10]
    assert [record for page in pages for record in page] == classic(client)


def test_link_next_keeps_the_query_but_not_the_api_key(client: httpx.Client) -> None:
    since = classic(client)[10]["updated_at"]
    params = {"api_key": DEFAULTS.api_key, "since": since, "per_page": 20}

    response = client.get("/styles/link/crm/contacts", params=params)

    assert len(response.json()) == 20
    assert response.headers["link"] == (
        f"<{client.base_url}/styles/link/crm/contacts?"
        f"since={since.replace(':', '%3A')}&page=2&per_page=20>; "
        'rel="next"'
    )


def test_link_last_page_has_no_link(client: httpx.Client) -> None:
    params = {"api_key": DEFAULTS.api_key, "page": 2, "per_page": 20}

    response = client.get("/styles/link/crm/contacts", params=params)

    assert (len(response.json()), "link" in response.headers) == (20, False)


def test_link_refuses_requests_without_the_api_key_parameter(client: httpx.Client) -> None:
    assert client.get("/styles/link/crm/contacts", headers=API_KEY).status_code == 401


# --- cursor and OAuth2 --------------------------------------------------------------------


def read_by_cursor(client: httpx.Client, headers: dict[str, str], **params: Any) -> list[dict]:
    records, cursor = [], None
    for _ in range(50):  # bounded: a cursor that never ends must fail, not hang
        page_params = params | ({"cursor": cursor} if cursor else {})
        body = client.get("/styles/cursor/crm/contacts", params=page_params, headers=headers).json()
        records += body["data"]
        cursor = body["meta"]["next_cursor"]
        if cursor is None:
            return records
    raise AssertionError("the cursor never came to an end")


def test_cursor_pages_until_the_next_cursor_is_null(client: httpx.Client) -> None:
    headers = bearer(client)

    first = client.get("/styles/cursor/crm/contacts", params={"limit": 15}, headers=headers)

    assert first.json()["meta"]["next_cursor"]
    assert read_by_cursor(client, headers, limit=15) == classic(client)


def test_cursor_keeps_records_updated_after(client: httpx.Client) -> None:
    everyone = classic(client)

    records = read_by_cursor(
        client, bearer(client), limit=4, updated_after=everyone[30]["updated_at"]
    )

    assert records == everyone[30:]


def test_cursor_skips_no_record_edited_while_paging(client: httpx.Client) -> None:
    headers = bearer(client)
    path = "/styles/cursor/crm/contacts"
    first = client.get(path, params={"limit": 20}, headers=headers).json()
    moved = ids(first["data"])[5]  # edited: now the newest record, behind the cursor
    client.put(f"/crm/api/contacts/{moved}", json={"company": "Edited"})

    rest = read_by_cursor(client, headers, limit=20, cursor=first["meta"]["next_cursor"])

    assert ids(rest) == ids(classic(client)[19:])
    assert ids(rest)[-1] == moved


def test_cursor_the_api_never_gave_out_is_a_bad_request(client: httpx.Client) -> None:
    params = {"cursor": "bm90IGEgY3Vyc29y"}

    response = client.get("/styles/cursor/crm/contacts", params=params, headers=bearer(client))

    assert response.status_code == 400


def test_cursor_refuses_requests_without_a_bearer_token(client: httpx.Client) -> None:
    missing = client.get("/styles/cursor/crm/contacts")
    invalid = client.get("/styles/cursor/crm/contacts", headers={"Authorization": "Bearer nope"})

    assert (missing.status_code, invalid.status_code) == (401, 401)
    assert 'error="invalid_token"' in invalid.headers["www-authenticate"]
    assert "error" not in missing.headers["www-authenticate"]


def test_oauth_token_comes_with_its_type_and_lifetime(client: httpx.Client) -> None:
    response = client.post(
        "/styles/oauth/token", data={"grant_type": "client_credentials", **CLIENT}
    )

    assert response.status_code == 200
    assert response.json() == {
        "access_token": response.json()["access_token"],
        "token_type": "Bearer",
        "expires_in": 3600,
    }
    assert response.headers["cache-control"] == "no-store"


def test_oauth_client_may_authenticate_with_basic(client: httpx.Client) -> None:
    response = client.post(
        "/styles/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(DEFAULTS.client_id, DEFAULTS.client_secret),
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        (
            {"grant_type": "client_credentials", **CLIENT, "client_secret": "no"},
            401,
            "invalid_client",
        ),
        ({"grant_type": "client_credentials"}, 401, "invalid_client"),
        ({"grant_type": "password", **CLIENT}, 400, "unsupported_grant_type"),
        (CLIENT, 400, "invalid_request"),
    ],
)
def test_oauth_token_request_errors_follow_rfc_6749(
    client: httpx.Client, form: dict, status: int, error: str
) -> None:
    response = client.post("/styles/oauth/token", data=form)

    assert (response.status_code, response.json()["error"]) == (status, error)


def test_bearer_token_expires_after_its_number_of_requests(client: httpx.Client) -> None:
    client.post("/_control/auth", json={"token_ttl_requests": 2}).raise_for_status()
    headers = bearer(client)

    statuses = [
        client.get("/styles/cursor/erp/customers", headers=headers).status_code for _ in range(3)
    ]

    assert statuses == [200, 200, 401]


def test_a_token_expires_after_its_seconds() -> None:
    now = datetime(2025, 3, 1, tzinfo=UTC)
    world = World(contacts=0, clock=lambda: now, credentials=Credentials(token_ttl_seconds=60))
    token = world.access.issue("bearer")
    alive = world.access.admit("bearer", token)

    now += timedelta(seconds=60)

    assert (alive, world.access.admit("bearer", token)) == (True, False)


def test_oauth_answer_omits_expires_in_without_a_time_limit(client: httpx.Client) -> None:
    client.post("/_control/auth", json={"token_ttl_seconds": None}).raise_for_status()

    response = client.post(
        "/styles/oauth/token", data={"grant_type": "client_credentials", **CLIENT}
    )

    assert "expires_in" not in response.json()


# --- bare and session login ---------------------------------------------------------------


def test_bare_pages_end_with_a_short_page(client: httpx.Client) -> None:
    headers = session(client)
    pages = [
        client.get("/styles/bare/crm/contacts", params={"page": page, "size": 15}, headers=headers)
        for page in (1, 2, 3)
    ]

    assert [len(page.json()) for page in pages] == [15, 15, 10]
    assert [record for page in pages for record in page.json()] == classic(client)


def test_bare_page_past_the_end_is_empty(client: httpx.Client) -> None:
    params = {"page": 2, "size": 20, "changed_since": classic(client)[20]["updated_at"]}

    response = client.get("/styles/bare/crm/contacts", params=params, headers=session(client))

    assert (response.status_code, response.json()) == (200, [])


def test_session_login_refuses_a_wrong_password(client: httpx.Client) -> None:
    response = client.post(
        "/styles/session/login", json={"user": DEFAULTS.user, "password": "wrong"}
    )

    assert (response.status_code, response.json()) == (401, {"detail": "Invalid credentials."})


def test_session_token_is_refused_once_it_expires(client: httpx.Client) -> None:
    client.post("/_control/auth", json={"token_ttl_requests": 1}).raise_for_status()
    headers = session(client)

    statuses = [
        client.get("/styles/bare/erp/customers", headers=headers).status_code for _ in range(2)
    ]

    assert statuses == [200, 401]


def test_tokens_of_one_kind_do_not_open_the_other_style(client: httpx.Client) -> None:
    token = bearer(client)["Authorization"].removeprefix("Bearer ")

    response = client.get("/styles/bare/crm/contacts", headers={"Authorization": f"Token {token}"})

    assert response.status_code == 401


# --- ignores-paging -----------------------------------------------------------------------


def test_ignores_paging_answers_the_first_ten_whatever_is_asked(client: httpx.Client) -> None:
    params = {"page": 3, "page_size": 5, "offset": 20, "limit": 2, "per_page": 7, "size": 1}

    body = client.get("/styles/ignores-paging/crm/contacts", params=params).json()

    assert body == {"results": classic(client)[:10], "count": 40}


# --- message ------------------------------------------------------------------------------


def test_message_create_answers_200_with_the_new_id_only(client: httpx.Client) -> None:
    response = client.post("/styles/message/erp/customers", json=NEW_CUSTOMER)

    assert (response.status_code, response.json()) == (
        200,
        {"message": "created", "data": {"id": "E-10006"}},
    )


def test_message_duplicate_is_a_400_without_the_existing_id(client: httpx.Client) -> None:
    taken = client.get("/erp/api/customers/E-10002").json()["email"]
    body = NEW_CUSTOMER | {"email": taken.upper()}

    response = client.post("/styles/message/erp/customers", json=body)
    found = client.get("/styles/message/erp/customers", params={"email": body["email"]}).json()

    assert (response.status_code, response.json()) == (400, {"email": [DUPLICATE_EMAIL]})
    assert ids(found["items"]) == ["E-10002"]


def test_message_invalid_fields_are_a_400_keyed_by_field(client: httpx.Client) -> None:
    response = client.post("/styles/message/erp/customers", json=NEW_CUSTOMER | {"email": ""})

    assert (response.status_code, response.json()) == (400, {"email": ["This field is required."]})


def test_message_update_answers_updated_with_the_id(client: httpx.Client) -> None:
    response = client.put("/styles/message/erp/customers/E-10003", json={"company": "New"})

    assert (response.status_code, response.json()) == (
        200,
        {"message": "updated", "data": {"id": "E-10003"}},
    )
    assert client.get("/erp/api/customers/E-10003").json()["company"] == "New"


# --- trailing-slash -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/styles/trailing-slash/erp/customers?limit=2"),
        ("POST", "/styles/trailing-slash/erp/customers"),
        ("PUT", "/styles/trailing-slash/erp/customers/E-10001"),
    ],
)
def test_trailing_slash_redirects_a_path_without_the_slash(
    client: httpx.Client, method: str, path: str
) -> None:
    response = client.request(method, path, json={})

    path, _, query = path.partition("?")
    assert (response.status_code, response.headers["location"]) == (
        301,
        f"{path}/" + (f"?{query}" if query else ""),
    )


def test_trailing_slash_serves_the_slashed_paths(client: httpx.Client) -> None:
    base = "/styles/trailing-slash/erp/customers/"

    listed = client.get(base, params={"limit": 2})
    created = client.post(base, json=NEW_CUSTOMER)
    updated = client.put(f"{base}E-10001/", json={"company": "Slashed"})

    assert (listed.status_code, listed.json()["total"]) == (200, 5)
    assert (created.status_code, updated.status_code) == (201, 200)


# --- html-errors --------------------------------------------------------------------------


def test_html_errors_answers_an_unknown_field_with_an_html_500(client: httpx.Client) -> None:
    response = client.post("/styles/html-errors/erp/customers", json=NEW_CUSTOMER | {"vip": "yes"})

    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<!doctype html>")


def test_html_errors_answers_other_refusals_in_json(client: httpx.Client) -> None:
    response = client.post("/styles/html-errors/erp/customers", json=NEW_CUSTOMER | {"email": ""})

    assert (response.status_code, response.json()) == (
        422,
        {"errors": {"email": ["This field is required."]}},
    )


# --- credentials --------------------------------------------------------------------------


def test_control_auth_changes_the_credentials_until_reset(client: httpx.Client) -> None:
    answer = client.post("/_control/auth", json={"api_key": "rotated"})
    rotated = client.get("/styles/offset/crm/contacts", headers={"X-API-Key": "rotated"})
    old = client.get("/styles/offset/crm/contacts", headers=API_KEY)

    client.post("/_control/reset")

    assert "api_key" not in answer.json()
    assert (rotated.status_code, old.status_code) == (200, 401)
    assert client.get("/styles/offset/crm/contacts", headers=API_KEY).status_code == 200


@pytest.mark.parametrize(
    "settings",
    [
        {"apikey": "x"},
        {"api_key": ""},
        {"password": 5},
        {"token_ttl_seconds": 0},
        {"token_ttl_requests": 1.5},
        {"token_ttl_requests": True},
    ],
)
def test_nonsense_auth_settings_are_a_bad_request(client: httpx.Client, settings: dict) -> None:
    assert client.post("/_control/auth", json=settings).status_code == 400


@pytest.fixture(scope="module")
def configured() -> Iterator[RunningSimulator]:
    with start_simulator(contacts=3, token="global", auth={"api_key": "from-env"}) as running:
        yield running


def test_credentials_given_at_start_are_the_ones_reset_restores(
    configured: RunningSimulator,
) -> None:
    url = f"{configured.styles_url}/offset/crm/contacts"
    httpx.post(f"{configured.base_url}/_control/auth", json={"api_key": "later"})
    httpx.post(f"{configured.base_url}/_control/reset")

    assert httpx.get(url, headers={"X-API-Key": "from-env"}).status_code == 200
    assert httpx.get(url, headers=API_KEY).status_code == 401


def test_styles_do_not_ask_for_the_simulators_own_token(configured: RunningSimulator) -> None:
    response = httpx.get(f"{configured.styles_url}/no-since/crm/contacts")

    assert (response.status_code, response.json()["total"]) == (200, 3)
    assert httpx.get(f"{configured.crm_url}/contacts").status_code == 401


def test_unusable_simulator_auth_is_a_clear_command_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMULATOR_AUTH", '{"api_kee": "x"}')

    with pytest.raises(CommandError, match="SIMULATOR_AUTH is not usable: Unknown setting"):
        call_command("run_simulator", port=0, contacts=0)
