"""Unit tests of the HTTP answer -> connector error translation (respx, no server)."""

import httpx
import pytest
import respx

from connectors.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConnectorError,
    NotFoundError,
    RejectedError,
    TransientError,
)
from connectors.rest.client import RestConnector

BASE = "http://erp.test/api"


@pytest.fixture
def connector():
    with respx.mock(base_url=BASE) as mock:
        yield RestConnector(BASE), mock


def test_422_becomes_a_rejection_with_the_targets_field_errors(connector):
    erp, mock = connector
    mock.post("/customers").respond(422, json={"errors": {"phone": ["Not E.164."]}})
    with pytest.raises(RejectedError) as caught:
        erp.create("customers", {"phone": "x"}, idempotency_key="k")
    assert caught.value.field_errors == {"phone": ["Not E.164."]}
    assert caught.value.status == 422


def test_409_becomes_already_exists_with_the_existing_id(connector):
    erp, mock = connector
    mock.post("/customers").respond(
        409, json={"errors": {"email": ["taken"]}, "existing_id": "E-10002"}
    )
    with pytest.raises(AlreadyExistsError) as caught:
        erp.create("customers", {}, idempotency_key="k")
    assert caught.value.existing_id == "E-10002"


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_and_throttling_are_transient(connector, status):
    erp, mock = connector
    mock.put("/customers/E-1").respond(status, headers={"Retry-After": "3"})
    with pytest.raises(TransientError) as caught:
        erp.update("customers", "E-1", {})
    assert caught.value.retry_after == 3.0


def test_timeouts_and_refused_connections_are_transient(connector):
    erp, mock = connector
    mock.get("/customers/E-1").mock(side_effect=httpx.ConnectTimeout("slow"))
    with pytest.raises(TransientError, match="timed out"):
        erp.get("customers", "E-1")
    mock.get("/customers/E-2").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransientError, match="ConnectError"):
        erp.get("customers", "E-2")


def test_401_is_an_authentication_error_and_404_not_found(connector):
    erp, mock = connector
    mock.get("/customers/E-1").respond(401)
    mock.get("/customers/E-2").respond(404, json={"detail": "Not found"})
    with pytest.raises(AuthenticationError):
        erp.get("customers", "E-1")
    with pytest.raises(NotFoundError):
        erp.get("customers", "E-2")


def test_pages_are_read_by_keyset_after_the_last_record_of_the_page(connector):
    erp, mock = connector
    route = mock.get("/customers")
    first = [{"id": "1", "updated_at": "2026-01-01T00:00:00Z"}, {"id": "2", "updated_at": "T2"}]
    route.side_effect = [
        httpx.Response(200, json={"results": first}),
        httpx.Response(200, json={"results": [{"id": "3", "updated_at": "T3"}]}),
    ]
    assert [r["id"] for r in erp.iter_records("customers", page_size=2)] == ["1", "2", "3"]
    assert "updated_since" not in route.calls[0].request.url.params
    assert dict(route.calls[1].request.url.params) == {
        "page_size": "2",
        "updated_since": "T2",
        "after_id": "2",
    }


def test_a_full_page_ending_in_a_record_without_updated_at_cannot_be_paged_past(connector):
    erp, mock = connector
    mock.get("/customers").respond(200, json={"results": [{"id": "1"}, {"id": "2"}]})
    with pytest.raises(ConnectorError, match="cannot page past"):
        list(erp.iter_records("customers", page_size=2))
