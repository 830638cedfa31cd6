"""A connection test shows the request (secrets masked), the raw answer and the records, or
the error: what an admin needs to get a system's settings right."""

from connectors.rest import probe
from connectors.rest.masking import MASK

from .conftest import Reply

RECORDS = [{"id": str(n), "updated_at": f"2026-01-0{n}T00:00:00Z"} for n in range(1, 4)]
SESSION = {
    "auth": {"type": "session", "login_url": "/login", "username": "sync"},
    "records_path": "data",
    "pagination": {"type": "offset"},
}


def session_server(api, *, refuse=False):
    def handler(seen):
        if seen.path == "/login":
            return Reply(json={"token": "sess-123456"})
        if refuse:
            return Reply(403, {"detail": "Not allowed for sess-123456"})
        return Reply(json={"data": RECORDS, "padding": "x" * 500}, headers={"X-Echo": "s3cret!"})

    api.answer(handler)


def test_a_connection_test_shows_the_request_the_answer_and_the_records(api):
    session_server(api)

    result = probe.test_connection(SESSION, api.url, "s3cret!", "contacts", body_shown=100)

    assert result.ok and result.error is None
    assert [r["id"] for r in result.records] == ["1", "2", "3"]
    assert result.request.method == "GET"
    assert result.request.url == f"{api.url}/contacts?offset=0&limit=5"
    assert result.answer.status == 200
    assert len(result.answer.body) == 100 and result.answer.truncated
    assert [step.request.url for step in result.steps] == [f"{api.url}/login", result.request.url]


def test_secrets_are_masked_wherever_they_appear(api):
    session_server(api)

    result = probe.test_connection(SESSION, api.url, "s3cret!", "contacts")

    assert result.request.headers["authorization"] == MASK
    assert result.answer.headers["x-echo"] == MASK
    shown = repr(result.steps)
    assert "s3cret!" not in shown and "sess-123456" not in shown


def test_an_api_key_in_the_query_is_masked_in_the_url(api):
    api.answer(lambda seen: Reply(json={"results": RECORDS}))
    settings = {
        "auth": {"type": "api_key", "in": "query", "name": "key"},
        "pagination": {"type": "none"},
    }

    result = probe.test_connection(settings, api.url, "k3y-value", "contacts")

    assert result.request.url == f"{api.url}/contacts?key={MASK}"


def test_a_refusal_is_reported_with_its_kind_and_the_answer_that_said_it(api):
    session_server(api, refuse=True)

    result = probe.test_connection(SESSION, api.url, "s3cret!", "contacts")

    assert not result.ok and result.records == []
    assert result.error_kind == "authentication"
    assert result.answer.status == 403
    assert "sess-123456" not in result.answer.body


def test_unreachable_systems_are_reported_without_an_answer():
    result = probe.test_connection({}, "http://127.0.0.1:9", None, "contacts", timeout=2)

    assert not result.ok and result.error_kind == "transient"
    assert result.request.url == "http://127.0.0.1:9/contacts?page_size=5"
    assert result.answer is None


def test_invalid_settings_are_reported_before_anything_is_sent(api):
    result = probe.test_connection({"pagination": {"type": "pages"}}, api.url, None, "contacts")

    assert not result.ok and result.error_kind == "settings"
    assert "pagination.type" in result.error
    assert api.seen == []
