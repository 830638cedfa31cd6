"""A health check reads what proves the system answers and takes the credentials."""

from connectors.rest.client import RestConnector

from .conftest import Reply

RECORD = {"id": "1", "updated_at": "2026-01-01T00:00:00Z"}


def test_health_reads_one_page_of_the_first_resource(api):
    api.answer(lambda seen: Reply(json={"items": [RECORD]}))
    settings = {
        "records_path": "items",
        "pagination": {"type": "offset"},
        "resources": {"contacts": {}, "deals": {}},
    }

    health = RestConnector(api.url, settings=settings).health()

    assert health.ok and "contacts" in health.detail
    assert api.paths() == ["GET /contacts"]
    assert api.seen[0].query == {"offset": "0", "limit": "1"}


def test_health_uses_the_health_url_when_one_is_set(api):
    api.answer(lambda seen: Reply(json={"status": "ok"}))

    health = RestConnector(api.url, settings={"health_url": "/status"}).health()

    assert health.ok
    assert api.paths() == ["GET /status"]


def test_refused_credentials_make_an_unhealthy_system_with_the_reason(api):
    api.answer(lambda seen: Reply(401, {"detail": "bad token"}))
    connector = RestConnector(api.url, token="t0ken-1", settings={"resources": {"contacts": {}}})

    health = connector.health()

    assert not health.ok
    assert health.detail.startswith("authentication: GET /contacts: 401 Unauthorized")


def test_without_resource_or_health_url_the_base_url_proves_only_that_it_answers(api):
    api.answer(lambda seen: Reply(404, {"detail": "Not found"}))

    health = RestConnector(api.url).health()

    assert health.ok
    assert "name a resource or a health_url" in health.detail
