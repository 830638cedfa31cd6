"""Whatever the server's paging, records come in (updated_at, id) order, strictly after the
Position the engine resumes from, each once; and the connector says whether it reads by keyset."""

import pytest

from connectors.base import Position
from connectors.errors import ConnectorError
from connectors.rest.client import RestConnector

from .conftest import Reply, contacts

OFFSET = {"records_path": "items", "pagination": {"type": "offset"}}


def offset_server(records):
    def handler(seen):
        offset, limit = int(seen.query["offset"]), int(seen.query["limit"])
        return Reply(json={"items": records[offset : offset + limit]})

    return handler


def connector_for(api, **settings):
    return RestConnector(api.url, settings={"resources": {"contacts": {**OFFSET, **settings}}})


def test_records_are_yielded_in_updated_at_then_id_order_whatever_the_servers_order(api):
    records = contacts(12)  # listed by id, updated_at running backwards
    api.answer(offset_server(records))

    read = list(connector_for(api).iter_records("contacts", page_size=5))

    expected = sorted(records, key=lambda r: (r["updated_at"], len(r["id"]), r["id"]))
    assert [r["id"] for r in read] == [r["id"] for r in expected]


def test_a_read_resumes_strictly_after_the_position(api):
    records = [
        {"id": "9", "updated_at": "2026-01-01T10:00:00Z"},
        {"id": "10", "updated_at": "2026-01-01T10:00:00Z"},
        {"id": "11", "updated_at": "2026-01-01T10:00:00Z"},
        {"id": "2", "updated_at": "2026-01-01T09:00:00Z"},
        {"id": "3", "updated_at": "2026-01-02T00:00:00+01:00"},
    ]
    api.answer(offset_server(records))
    after = Position(updated_at="2026-01-01T10:00:00Z", record_id="10")

    read = list(connector_for(api).iter_records("contacts", after=after, page_size=2))

    # "11" sorts after "10" as a number would; "3" is 23:00 UTC on the 1st.
    assert [r["id"] for r in read] == ["11", "3"]


def test_a_record_met_twice_is_yielded_once_in_its_newest_version(api):
    old = {"id": "A", "name": "old", "updated_at": "2026-01-01T00:00:00Z"}
    new = {"id": "A", "name": "new", "updated_at": "2026-01-03T00:00:00Z"}
    other = {"id": "B", "name": "b", "updated_at": "2026-01-02T00:00:00Z"}
    api.answer(offset_server([old, other, new]))

    read = list(connector_for(api).iter_records("contacts", page_size=2))

    assert [(r["id"], r["name"]) for r in read] == [("B", "b"), ("A", "new")]


def test_a_changed_since_parameter_is_sent_widened_by_the_overlap_in_the_servers_format(api):
    api.answer(lambda seen: Reply(json={"items": []}))
    connector = connector_for(
        api,
        changed_since={"param": "modified_after", "format": "epoch_seconds", "overlap_seconds": 60},
    )
    after = Position(updated_at="2026-01-01T00:01:00Z", record_id="7")

    list(connector.iter_records("contacts", after=after))

    assert api.seen[0].query["modified_after"] == "1767225600"  # 2026-01-01T00:00:00Z


def test_without_a_changed_since_parameter_the_connector_filters_on_its_side(api):
    records = contacts(6)
    api.answer(offset_server(records))
    newest = max(records, key=lambda r: r["updated_at"])
    after = Position(updated_at=newest["updated_at"], record_id=newest["id"])

    read = list(connector_for(api).iter_records("contacts", after=after, page_size=4))

    assert read == []
    assert all(set(seen.query) == {"offset", "limit"} for seen in api.seen)


def test_ids_and_timestamps_named_and_written_otherwise_are_given_to_the_engine_its_way(api):
    records = [
        {"contact_id": 7, "modified": "02.01.2026 10:00", "name": "b"},
        {"contact_id": 5, "modified": "01.01.2026 10:00", "name": "a"},
    ]
    api.answer(offset_server(records))
    connector = connector_for(
        api,
        id_field="contact_id",
        updated_at_field="modified",
        updated_at_format="%d.%m.%Y %H:%M",
    )

    read = list(connector.iter_records("contacts"))

    assert [(r["id"], r["updated_at"], r["modified"]) for r in read] == [
        (5, "2026-01-01T10:00:00Z", "01.01.2026 10:00"),
        (7, "2026-01-02T10:00:00Z", "02.01.2026 10:00"),
    ]


def test_epoch_milliseconds_are_read_as_moments(api):
    api.answer(offset_server([{"id": "1", "ts": 1767225600500}]))
    connector = connector_for(api, updated_at_field="ts", updated_at_format="epoch_milliseconds")

    (record,) = connector.iter_records("contacts")

    assert record["updated_at"] == "2026-01-01T00:00:00.500000Z"


def test_a_record_that_cannot_be_placed_in_order_stops_the_read_with_the_reason(api):
    api.answer(offset_server([{"id": "1", "updated_at": "yesterday"}]))

    with pytest.raises(ConnectorError, match="cannot be placed in \\(updated_at, id\\) order"):
        list(connector_for(api).iter_records("contacts"))


def test_keyset_order_is_claimed_only_where_the_server_reads_by_keyset(api):
    assert RestConnector(api.url).capabilities.keyset_order is True
    mixed = RestConnector(
        api.url,
        settings={"resources": {"contacts": OFFSET, "customers": {}}},
    )
    assert mixed.capabilities.keyset_order is False
    assert mixed.capabilities_for("customers").keyset_order is True
    assert mixed.capabilities_for("contacts").keyset_order is False


def test_keyset_paging_against_a_server_that_ignores_the_position_stops_with_an_error(api):
    page = [{"id": str(n), "updated_at": f"2026-01-0{n}T00:00:00Z"} for n in (1, 2)]
    api.answer(lambda seen: Reply(json={"results": page}))

    with pytest.raises(ConnectorError, match="ignores 'after_id'"):
        list(RestConnector(api.url).iter_records("contacts", page_size=2))
    assert len(api.seen) == 2
