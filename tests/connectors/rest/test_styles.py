"""Every API style of the simulator (connectors/simulator/styles.py), connected through
settings alone: the same connector class reads, resumes, writes and reads refusals right."""

import httpx
import pytest

from connectors.base import Position
from connectors.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConnectorError,
    NotFoundError,
    RejectedError,
    TransientError,
)
from connectors.rest import probe
from connectors.rest.client import RestConnector
from connectors.rest.masking import MASK

API_KEY, USER, PASSWORD, CLIENT_SECRET = (
    "sim-api-key",
    "sim-user",
    "sim-password",
    "sim-client-secret",
)
NO_LOOKUP = {"header": "Idempotency-Key", "lookup_param": None}
OFFSET_LIST = {
    "records_path": "items",
    "total_path": "total",
    "pagination": {"type": "offset"},
    "changed_since": {"param": "modified_after"},
}
COMMON = {"idempotency": NO_LOOKUP, "search": {"email": "email"}}

# style -> (settings, token): everything the connector knows of each API.
STYLES = {
    "offset": (
        {
            **OFFSET_LIST,
            **COMMON,
            "auth": {"type": "api_key", "in": "header", "name": "X-API-Key"},
            "update_method": "PATCH",
        },
        API_KEY,
    ),
    "no-since": (
        {
            **COMMON,
            "records_path": "items",
            "total_path": "total",
            "pagination": {"type": "offset"},
            "changed_since": None,
            "auth": {"type": "none"},
        },
        None,
    ),
    "range": (
        {
            **COMMON,
            "records_path": "",
            "pagination": {"type": "range", "unit": "records", "end": "inclusive"},
            "changed_since": {"param": "updated_since"},
            "auth": {"type": "basic", "username": USER},
        },
        PASSWORD,
    ),
    "range-exclusive": (
        {
            **COMMON,
            "records_path": "",
            "pagination": {"type": "range", "unit": "items", "end": "exclusive"},
            "changed_since": {"param": "updated_since"},
        },
        None,
    ),
    "link": (
        {
            **COMMON,
            "records_path": "",
            "pagination": {"type": "link_header", "size_param": "per_page"},
            "changed_since": {"param": "since"},
            "auth": {"type": "api_key", "in": "query", "name": "api_key"},
        },
        API_KEY,
    ),
    "cursor": (
        {
            **COMMON,
            "records_path": "data",
            "pagination": {
                "type": "cursor",
                "cursor_path": "meta.next_cursor",
                "cursor_param": "cursor",
                "size_param": "limit",
            },
            "changed_since": {"param": "updated_after"},
            "auth": {
                "type": "oauth2_client_credentials",
                "token_url": "/styles/oauth/token",
                "client_id": "sim-client",
            },
        },
        CLIENT_SECRET,
    ),
    "bare": (
        {
            **COMMON,
            "records_path": "",
            "pagination": {"type": "short_page", "page_param": "page", "size_param": "size"},
            "changed_since": {"param": "changed_since"},
            "auth": {
                "type": "session",
                "login_url": "/styles/session/login",
                "username": USER,
                "username_field": "user",
                "token_path": "token",
                "prefix": "Token",
            },
        },
        PASSWORD,
    ),
    "message": (
        {
            **OFFSET_LIST,
            **COMMON,
            "written_record_path": "data",
            "created_id_path": "data.id",
            "errors": {
                "rules": [
                    {"status": 400, "body_pattern": "already exists", "kind": "already_exists"}
                ],
                "field_errors_path": "",
                "existing": {"field": "email", "param": "email"},
            },
        },
        None,
    ),
    "trailing-slash": ({**OFFSET_LIST, **COMMON, "list_url": "{resource}/"}, None),
    "html-errors": ({**OFFSET_LIST, **COMMON}, None),
}
WITH_CREDENTIALS = ["offset", "range", "link", "cursor", "bare"]
NEW_CUSTOMER = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "email": "ada@analytical.example",
    "phone": "+4930123456",
    "country_code": "GB",
}


def connect(simulator, style, system, *, token=...):
    settings, default_token = STYLES[style]
    return RestConnector(
        f"{simulator.base_url}/styles/{style}/{system}",
        token=default_token if token is ... else token,
        settings=settings,
    )


def plain(simulator, system, collection):
    """The records as the simulator's own API lists them, in (updated_at, id) order."""
    url = f"{simulator.base_url}/{system}/api/{collection}"
    return httpx.get(url, params={"page_size": 200}, timeout=10).json()["results"]


@pytest.fixture(params=[style for style in STYLES if style != "ignores-paging"])
def style(request):
    return request.param


def test_every_style_reads_all_contacts_in_updated_at_then_id_order(simulator, style):
    crm = connect(simulator, style, "crm")

    read = list(crm.iter_records("contacts", page_size=7))

    assert [r["id"] for r in read] == [r["id"] for r in plain(simulator, "crm", "contacts")]
    assert crm.capabilities.keyset_order is False  # window reads, said truthfully


def test_every_style_resumes_strictly_after_a_position(simulator, style):
    expected = plain(simulator, "crm", "contacts")
    position = Position(expected[29]["updated_at"], expected[29]["id"])

    read = list(connect(simulator, style, "crm").iter_records("contacts", after=position))

    assert [r["id"] for r in read] == [r["id"] for r in expected[30:]]


def test_every_style_creates_and_updates_a_customer(simulator, style):
    erp = connect(simulator, style, "erp")

    created = erp.create("customers", NEW_CUSTOMER, idempotency_key=f"new-{style}")
    updated = erp.update("customers", created["id"], {"family_name": "King"})

    assert created["id"].startswith("E-") and updated["id"] == created["id"]
    stored = erp.get("customers", created["id"])
    assert (stored["email"], stored["family_name"]) == (NEW_CUSTOMER["email"], "King")


def test_every_style_finds_a_customer_by_email(simulator, style):
    customer = plain(simulator, "erp", "customers")[0]

    found = connect(simulator, style, "erp").find("customers", {"email": customer["email"]})

    assert [r["id"] for r in found] == [customer["id"]]


def test_every_style_rejects_an_invalid_customer_with_its_field_errors(simulator, style):
    erp = connect(simulator, style, "erp")

    with pytest.raises(RejectedError) as refused:
        erp.create("customers", {"given_name": "Ada"}, idempotency_key="bad")

    assert type(refused.value) is RejectedError
    assert {"family_name", "email", "country_code"} <= set(refused.value.field_errors)


def test_every_style_names_the_customer_a_duplicate_email_belongs_to(simulator, style):
    taken = next(c for c in plain(simulator, "erp", "customers") if c["id"] == "E-10002")
    duplicate = {**NEW_CUSTOMER, "email": taken["email"].upper()}

    with pytest.raises(AlreadyExistsError) as refused:
        connect(simulator, style, "erp").create("customers", duplicate, idempotency_key="dup")

    assert refused.value.existing_id == "E-10002"
    assert refused.value.field_errors == {"email": ["A customer with this email already exists."]}


def test_every_style_reports_a_missing_customer_as_not_found(simulator, style):
    with pytest.raises(NotFoundError):
        connect(simulator, style, "erp").get("customers", "E-99999")


@pytest.mark.parametrize("style", WITH_CREDENTIALS)
def test_wrong_credentials_are_an_authentication_error(simulator, style):
    with pytest.raises(AuthenticationError):
        list(connect(simulator, style, "crm", token="wrong").iter_records("contacts"))


@pytest.mark.parametrize("style", ["cursor", "bare"])
def test_tokens_that_run_out_mid_read_are_obtained_again(simulator, style):
    httpx.post(f"{simulator.base_url}/_control/auth", json={"token_ttl_requests": 2}, timeout=10)

    read = list(connect(simulator, style, "crm").iter_records("contacts", page_size=5))

    assert len(read) == len(plain(simulator, "crm", "contacts"))


def test_a_style_that_ignores_paging_is_caught_short_of_its_count(simulator):
    settings = {"pagination": {"type": "none"}, "total_path": "count", **COMMON}
    crm = RestConnector(f"{simulator.base_url}/styles/ignores-paging/crm", settings=settings)

    with pytest.raises(ConnectorError, match="reports 40 records but its pages held 10"):
        list(crm.iter_records("contacts"))


def test_a_missing_trailing_slash_is_an_error_that_says_where_it_points(simulator):
    erp = RestConnector(
        f"{simulator.base_url}/styles/trailing-slash/erp", settings={**OFFSET_LIST, **COMMON}
    )

    with pytest.raises(RejectedError, match=r"301 Moved Permanently, pointing to \S+/customers/"):
        erp.create("customers", NEW_CUSTOMER, idempotency_key="k")


def test_an_html_server_error_is_transient_and_says_it_was_not_json(simulator):
    erp = connect(simulator, "html-errors", "erp")

    with pytest.raises(TransientError, match="text/html, not JSON"):
        erp.create("customers", {**NEW_CUSTOMER, "nickname": "Ada"}, idempotency_key="k")


def test_a_connection_test_of_a_style_masks_its_api_key(simulator):
    settings, token = STYLES["link"]

    result = probe.test_connection(
        settings, f"{simulator.base_url}/styles/link/crm", token, "contacts"
    )

    assert result.ok and len(result.records) == 5
    assert f"api_key={MASK}" in result.request.url
    assert API_KEY not in repr(result)
