"""URL templates are sent exactly as written: slashes, query strings, the id, the method."""

from connectors.rest.client import RestConnector

from .conftest import Reply

RECORD = {"id": "E/1", "updated_at": "2026-01-01T00:00:00Z"}


def test_trailing_slashes_are_kept_on_every_url(api):
    api.answer(lambda seen: Reply(json={"results": [RECORD]} if seen.method == "GET" else RECORD))
    connector = RestConnector(
        api.url + "/api/v2",
        settings={"resources": {"customers": {"list_url": "customers/"}}},
    )

    list(connector.iter_records("customers", page_size=5))
    connector.get("customers", "E-1")
    connector.create("customers", {}, idempotency_key="k")
    connector.update("customers", "E-1", {})

    assert api.paths() == [
        "GET /api/v2/customers/",
        "GET /api/v2/customers/E-1/",
        "POST /api/v2/customers/",
        "PUT /api/v2/customers/E-1/",
    ]


def test_a_system_wide_template_names_each_resource(api):
    api.answer(lambda seen: Reply(json=RECORD))
    connector = RestConnector(api.url, settings={"get_url": "v1/{resource}/{id}.json"})

    connector.get("contacts", "C-1")

    assert api.paths() == ["GET /v1/contacts/C-1.json"]


def test_ids_are_escaped_into_the_template(api):
    api.answer(lambda seen: Reply(json=RECORD))

    RestConnector(api.url).get("customers", "E/1 ?")

    assert api.seen[0].path == "/customers/E%2F1%20%3F"


def test_a_query_in_the_template_and_extra_parameters_are_merged_with_paging(api):
    api.answer(lambda seen: Reply(json={"items": []}))
    settings = {
        "list_url": "customers?status=active&limit=999",
        "query": {"expand": "addresses"},
        "records_path": "items",
        "pagination": {"type": "offset"},
    }

    list(RestConnector(api.url, settings=settings).iter_records("customers", page_size=20))

    assert api.seen[0].query == {
        "status": "active",
        "expand": "addresses",
        "offset": "0",
        "limit": "20",  # paging wins over what the template says
    }


def test_updates_use_the_method_the_settings_name(api):
    api.answer(lambda seen: Reply(json=RECORD))

    RestConnector(api.url, settings={"update_method": "PATCH"}).update("customers", "E-1", {})

    assert api.paths() == ["PATCH /customers/E-1"]


def test_a_url_from_the_hosts_root_leaves_the_base_path(api):
    api.answer(lambda seen: Reply(json=RECORD))
    settings = {"resources": {"customers": {"get_url": "/other/customers/{id}"}}}

    RestConnector(api.url + "/api", settings=settings).get("customers", "E-1")

    assert api.paths() == ["GET /other/customers/E-1"]
