"""Archiving (``active`` false), restoring and deleting parties in a real Tryton 8.2.

Every test makes its own parties with codes of its own: the server lives for the session.
What Tryton really holds is checked through a bare JSON-RPC client, not through the connector.
"""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.base import can_bring_back, record_position, removal_for_merge
from connectors.errors import NotFoundError, RejectedError
from connectors.tryton.client import TrytonConnector

from .server import BareTryton, RunningTryton

PARTY = "party.party"


@pytest.fixture
def bare(tryton: RunningTryton) -> Iterator[BareTryton]:
    client = tryton.bare()
    yield client
    client.close()


def new_party(connector: TrytonConnector, **fields: Any) -> tuple[str, str]:
    """A new party's id and its (unique) email."""
    email = f"{uuid.uuid4().hex[:12]}@archive.example"
    payload = {"name": "Archivable", "code": f"A-{uuid.uuid4().hex[:12]}", "email": email}
    created = connector.create(PARTY, payload | fields, idempotency_key="-")
    return created["id"], email


def held_active(bare: BareTryton, party_id: str) -> bool:
    # On SQLite Tryton answers a boolean as 0 or 1.
    return bool(bare.call(f"model.{PARTY}.read", [int(party_id)], ["active"], {})[0]["active"])


def read_ids(connector: TrytonConnector, **options: Any) -> list[str]:
    return [record["id"] for record in connector.iter_records(PARTY, page_size=1000, **options)]


def test_tryton_can_archive_restore_and_delete_and_a_merge_archives():
    capabilities = TrytonConnector.capabilities

    assert (capabilities.archive, capabilities.restore, capabilities.delete) == (True, True, True)
    assert removal_for_merge(capabilities) == "archive"
    assert can_bring_back(capabilities)


def test_an_archived_party_is_inactive_left_out_of_reads_and_finds_and_get_shows_it(
    connector, bare
):
    party_id, email = new_party(connector)

    archived = connector.archive(PARTY, party_id)

    assert (archived["id"], archived["active"]) == (party_id, False)
    assert held_active(bare, party_id) is False
    assert party_id not in read_ids(connector)
    assert connector.find(PARTY, {"email": email}) == []
    assert connector.get(PARTY, party_id) == archived


def test_an_active_party_reads_as_active(connector):
    party_id, _ = new_party(connector)

    assert connector.get(PARTY, party_id)["active"] is True


def test_archiving_an_archived_party_writes_nothing(connector):
    party_id, _ = new_party(connector)
    first = connector.archive(PARTY, party_id)

    again = connector.archive(PARTY, party_id)

    assert again == first  # the same last_modified_at: not written again


def test_a_restored_party_is_read_and_found_again(connector, bare):
    party_id, email = new_party(connector)
    connector.archive(PARTY, party_id)
    last_read = record_position(list(connector.iter_records(PARTY, page_size=1000))[-1])

    restored = connector.restore(PARTY, party_id)

    assert restored["active"] is True
    assert held_active(bare, party_id) is True
    assert [record["id"] for record in connector.find(PARTY, {"email": email})] == [party_id]
    # Restoring writes the party: an incremental read meets it again.
    assert party_id in read_ids(connector, after=last_read)


def test_restoring_an_active_party_writes_nothing(connector):
    party_id, _ = new_party(connector)
    before = connector.get(PARTY, party_id)

    assert connector.restore(PARTY, party_id) == before


@pytest.mark.parametrize("action", ["archive", "restore"])
def test_archiving_or_restoring_a_party_tryton_does_not_have_is_not_found(connector, action):
    with pytest.raises(NotFoundError):
        getattr(connector, action)(PARTY, "987654321")


def test_a_model_without_an_active_field_cannot_be_archived(connector):
    with pytest.raises(RejectedError, match="no field 'active'"):
        connector.archive("ir.model", "1")


def test_a_deleted_party_is_gone_and_cannot_be_restored(connector, bare):
    party_id, _ = new_party(connector)

    connector.delete(PARTY, party_id)

    assert bare.call(f"model.{PARTY}.search", [["id", "=", int(party_id)]], 0, None, None, {}) == []
    with pytest.raises(NotFoundError):
        connector.get(PARTY, party_id)
    with pytest.raises(NotFoundError):
        connector.restore(PARTY, party_id)


def test_deleting_twice_succeeds(connector):
    party_id, _ = new_party(connector)
    connector.delete(PARTY, party_id)

    connector.delete(PARTY, party_id)
    connector.delete(PARTY, "not-a-tryton-id")


def test_an_archived_party_can_be_deleted(connector):
    party_id, _ = new_party(connector)
    connector.archive(PARTY, party_id)

    connector.delete(PARTY, party_id)

    with pytest.raises(NotFoundError):
        connector.get(PARTY, party_id)
