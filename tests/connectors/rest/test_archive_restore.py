"""The REST connector's archive, restore and delete (settings ``archive``, ``restore`` and
``delete``): over real HTTP against the simulator's ERP, and against a small server of the
test's own for the shapes the simulator does not answer with."""

from collections.abc import Iterator

import httpx
import pytest

from connectors.base import can_bring_back, record_position, removal_for_merge
from connectors.errors import AlreadyExistsError, ConnectorError, NotFoundError, TransientError
from connectors.rest.client import RestConnector

from .conftest import Reply

# What the demo's ERP should be given (the report of this change says so).
DEMO_ERP = {
    "batch": {"url": "{resource}/batch"},
    "archive": "{resource}/{id}/archive",
    "restore": "{resource}/{id}/restore",
    "delete": True,
}
SEARCHABLE = DEMO_ERP | {"search": {"email": "email"}}
DUPLICATED = "E-10002"
errors = RestConnector.settings_errors


@pytest.fixture
def erp(simulator) -> Iterator[RestConnector]:
    connector = RestConnector(simulator.erp_url, settings=SEARCHABLE)
    yield connector
    connector.close()


def ids(connector: RestConnector, **options) -> list[str]:
    return [record["id"] for record in connector.iter_records("customers", **options)]


# --- capabilities -------------------------------------------------------------------------


def test_empty_settings_can_neither_archive_restore_nor_delete(simulator):
    capabilities = RestConnector(simulator.erp_url).capabilities

    assert (capabilities.archive, capabilities.restore, capabilities.delete) == (
        False,
        False,
        False,
    )
    assert removal_for_merge(capabilities) is None
    assert not can_bring_back(capabilities)


def test_the_demo_erps_settings_archive_restore_and_delete(simulator):
    capabilities = RestConnector(simulator.erp_url, settings=DEMO_ERP).capabilities

    assert (capabilities.archive, capabilities.restore, capabilities.delete) == (True, True, True)
    assert removal_for_merge(capabilities) == "archive"
    assert can_bring_back(capabilities)


def test_a_system_that_only_deletes_cannot_bring_a_merged_record_back(simulator):
    capabilities = RestConnector(simulator.erp_url, settings={"delete": True}).capabilities

    assert removal_for_merge(capabilities) == "delete"
    assert not can_bring_back(capabilities)


def test_a_capability_holds_for_the_system_only_where_every_resource_has_it(api):
    connector = RestConnector(
        api.url,
        settings={
            "resources": {
                "customers": {"archive": "customers/{id}/archive", "delete": True},
                "contacts": {},
            }
        },
    )

    assert (connector.capabilities.archive, connector.capabilities.delete) == (False, False)
    customers = connector.capabilities_for("customers")
    assert (customers.archive, customers.restore, customers.delete) == (True, False, True)
    assert removal_for_merge(customers) == "archive"
    assert not can_bring_back(customers)


# --- archive ------------------------------------------------------------------------------


def test_an_archived_customer_is_left_out_of_reads_and_finds_but_get_shows_it(erp):
    email = erp.get("customers", DUPLICATED)["email"]

    archived = erp.archive("customers", DUPLICATED)

    assert (archived["id"], archived["archived"]) == (DUPLICATED, True)
    assert DUPLICATED not in ids(erp)
    assert erp.find("customers", {"email": email}) == []
    assert erp.get("customers", DUPLICATED) == archived


def test_archiving_twice_succeeds_and_changes_nothing(erp):
    first = erp.archive("customers", DUPLICATED)

    assert erp.archive("customers", DUPLICATED) == first


def test_archiving_an_unknown_customer_is_not_found(erp):
    with pytest.raises(NotFoundError):
        erp.archive("customers", "E-99999")


# --- restore ------------------------------------------------------------------------------


def test_a_restored_customer_is_read_and_found_again(erp):
    email = erp.get("customers", DUPLICATED)["email"]
    erp.archive("customers", DUPLICATED)
    last_read = record_position(list(erp.iter_records("customers"))[-1])

    restored = erp.restore("customers", DUPLICATED)

    assert "archived" not in restored
    # Restoring writes the record: an incremental read meets it again.
    assert ids(erp, after=last_read) == [DUPLICATED]
    assert [record["id"] for record in erp.find("customers", {"email": email})] == [DUPLICATED]


def test_restoring_an_active_customer_succeeds_and_changes_nothing(erp):
    before = erp.get("customers", DUPLICATED)

    assert erp.restore("customers", DUPLICATED) == before
    assert erp.restore("customers", DUPLICATED) == before


def test_restoring_a_customer_whose_email_another_took_meanwhile_is_refused(erp):
    email = erp.get("customers", DUPLICATED)["email"]
    erp.archive("customers", DUPLICATED)
    erp.update("customers", "E-10001", {"email": email})

    with pytest.raises(AlreadyExistsError) as refused:
        erp.restore("customers", DUPLICATED)

    assert refused.value.existing_id == "E-10001"
    assert erp.get("customers", DUPLICATED)["archived"] is True


# --- delete -------------------------------------------------------------------------------


def test_a_deleted_customer_is_gone(erp):
    erp.delete("customers", DUPLICATED)

    with pytest.raises(NotFoundError):
        erp.get("customers", DUPLICATED)
    assert DUPLICATED not in ids(erp)
    with pytest.raises(NotFoundError):
        erp.restore("customers", DUPLICATED)


def test_deleting_twice_succeeds(erp):
    erp.delete("customers", DUPLICATED)

    erp.delete("customers", DUPLICATED)  # the simulator answers 404: done already


def test_a_delete_whose_answer_was_lost_succeeds_when_sent_again(erp, simulator):
    fault = {"system": "erp", "status": 504, "count": 1, "after_write": True}
    httpx.post(f"{simulator.base_url}/_control/faults", json=fault).raise_for_status()

    with pytest.raises(TransientError):
        erp.delete("customers", DUPLICATED)
    erp.delete("customers", DUPLICATED)

    with pytest.raises(NotFoundError):
        erp.get("customers", DUPLICATED)


# --- without the settings -----------------------------------------------------------------


@pytest.mark.parametrize("action", ["archive", "restore", "delete"])
def test_a_resource_without_the_setting_refuses_the_call_before_any_request(api, action):
    connector = RestConnector(api.url)

    with pytest.raises(ConnectorError, match=f"settings name no '{action}' request"):
        getattr(connector, action)("customers", "E-1")
    assert api.seen == []


# --- other systems' shapes ----------------------------------------------------------------


def test_an_archive_written_as_a_field_and_answered_without_the_record_reads_it(api):
    record = {"id": "E-1", "active": False, "updated_at": "2026-01-01T00:00:00Z"}
    api.answer(lambda seen: Reply(204) if seen.method == "PATCH" else Reply(json=record))
    archive = {"url": "v2/{resource}/{id}", "method": "PATCH", "body": {"active": False}}
    connector = RestConnector(api.url, settings={"archive": archive})

    assert connector.archive("customers", "E-1") == record
    assert api.paths() == ["PATCH /v2/customers/E-1", "GET /customers/E-1"]
    assert api.seen[0].json() == {"active": False}


def test_a_delete_sends_no_body_to_the_get_url(api):
    api.answer(lambda seen: Reply(204))
    connector = RestConnector(api.url, settings={"get_url": "{resource}/{id}/", "delete": True})

    connector.delete("customers", "E-1")

    assert api.paths() == ["DELETE /customers/E-1/"]
    assert api.seen[0].body == b""


def test_a_delete_answered_gone_counts_as_done_once_a_get_finds_nothing(api):
    api.answer(
        lambda seen: (
            Reply(410, {"detail": "Gone"})
            if seen.method == "DELETE"
            else Reply(404, {"detail": "Not found"})
        )
    )

    RestConnector(api.url, settings={"delete": True}).delete("customers", "E-1")

    assert api.paths() == ["DELETE /customers/E-1", "GET /customers/E-1"]


def test_a_delete_answered_not_found_for_a_record_a_get_finds_is_an_error(api):
    record = {"id": "E-1", "updated_at": "2026-01-01T00:00:00Z"}
    api.answer(lambda seen: Reply(404) if seen.method == "DELETE" else Reply(json=record))
    connector = RestConnector(api.url, settings={"delete": {"url": "customers/{id}/remove"}})

    with pytest.raises(ConnectorError, match="still finds the record: check the resource's"):
        connector.delete("customers", "E-1")


def test_a_delete_the_system_fails_raises(api):
    api.answer(lambda seen: Reply(500, {"detail": "Boom"}))

    with pytest.raises(TransientError):
        RestConnector(api.url, settings={"delete": True}).delete("customers", "E-1")


def test_a_soft_delete_is_configured_as_an_archive(api):
    api.answer(lambda seen: Reply(json={"id": "E-1", "deleted_at": "2026-01-01T00:00:00Z"}))
    settings = {
        "archive": {"url": "{resource}/{id}", "method": "DELETE"},
        "restore": {"url": "{resource}/{id}/undelete"},
    }
    connector = RestConnector(api.url, settings=settings)

    connector.archive("customers", "E-1")
    connector.restore("customers", "E-1")

    assert api.paths() == ["DELETE /customers/E-1", "POST /customers/E-1/undelete"]
    assert can_bring_back(connector.capabilities)
    assert removal_for_merge(connector.capabilities) == "archive"


# --- settings -----------------------------------------------------------------------------


def test_the_demo_erps_settings_are_valid():
    assert errors(DEMO_ERP) == []


def test_archive_and_restore_need_a_url_with_the_id():
    assert errors({"archive": {"method": "POST"}, "restore": "customers/restore"}) == [
        "archive.url: required: where a record is sent to archive, e.g. '{resource}/{id}/archive'",
        "restore.url: 'customers/restore' needs the {id} placeholder",
    ]


def test_a_record_actions_method_body_and_keys_are_checked():
    settings = {"archive": {"url": "{id}", "method": "GET", "body": "off", "verb": "x"}}

    assert errors(settings) == [
        "archive.verb: unknown setting; known here: url, method, body",
        "archive.body: must be a JSON object or list, or null for no body",
        "archive.method: 'GET' is not one of POST, PUT, PATCH, DELETE",
    ]


def test_delete_is_true_false_null_or_an_object():
    assert errors({"delete": False}) == errors({"delete": None}) == []
    assert errors({"delete": {"url": "{resource}/{id}/remove", "method": "POST"}}) == []
    assert errors({"delete": "yes"}) == [
        "delete: must be true, false, null or an object (url, method, body)"
    ]


def test_a_resources_own_setting_is_named_under_it():
    assert errors({"resources": {"customers": {"archive": 3, "delete": {"url": "x"}}}}) == [
        "resources.customers.archive: must be an object (url, method, body), a URL template "
        "or null",
        "resources.customers.delete.url: 'x' needs the {id} placeholder",
    ]
