"""A flow from the simulated CRM into a real Tryton, configured as an admin would: a Tryton
system, a party data class with nested contact mechanisms and addresses, a field map that
builds them, and a run; then the parties are read back from Tryton itself."""

from collections.abc import Iterator

import pytest

from connectors.simulator.world import ALLOWED_COUNTRIES
from integration_console.sync.models import Flow, RecordLink
from review_queue.models import ReviewItem
from tests.factories import run_flow

from .flows import PASSWORD_VARIABLE, crm_to_tryton_flow
from .server import BareTryton, RunningTryton

pytestmark = pytest.mark.django_db


@pytest.fixture
def bare(tryton: RunningTryton) -> Iterator[BareTryton]:
    client = tryton.bare()
    yield client
    client.close()


@pytest.fixture
def crm_to_tryton(demo_flow, tryton, bare, monkeypatch, in_process_jobs) -> Flow:
    """The flow an admin would set up in the admin, against this session's Tryton."""
    # Tryton lives for the whole session: start each test without the CRM's parties.
    earlier = [row["id"] for row in parties_from_the_crm(bare).values()]
    if earlier:
        bare.call("model.party.party.delete", earlier, {})
    monkeypatch.setenv(PASSWORD_VARIABLE, tryton.password)
    return crm_to_tryton_flow(demo_flow.source_system, tryton, bare)


def parties_from_the_crm(bare: BareTryton) -> dict[str, dict]:
    rows = bare.call(
        "model.party.party.search_read",
        [["code", "like", "C-%"]],
        0,
        None,
        None,
        ["code", "name", "contact_mechanisms.value", "addresses.country.code"],
        {},
    )
    return {row["code"]: row for row in rows}


def test_a_crm_flow_writes_parties_with_nested_records_into_tryton_once(
    crm_to_tryton, bare, django_capture_on_commit_callbacks
):
    run = run_flow(crm_to_tryton, django_capture_on_commit_callbacks)

    parties = parties_from_the_crm(bare)
    linked = dict(
        RecordLink.objects.filter(flow=crm_to_tryton).values_list("source_id", "target_id")
    )
    queued = set(ReviewItem.objects.filter(flow=crm_to_tryton).values_list("source_id", flat=True))
    assert run.read_count == 40
    assert run.created_count == len(linked) == len(parties) >= 36
    assert set(linked) | queued == {f"C-{n:04d}" for n in range(1, 41)}
    assert not set(linked) & queued
    assert {str(parties[code]["id"]) for code in linked} == set(linked.values())
    # The CRM's C-0021 has the phone "12-34 call me", which Tryton refuses: it is in the queue,
    # with Tryton's own reason.
    assert "C-0021" in queued
    item = ReviewItem.objects.get(flow=crm_to_tryton, source_id="C-0021")
    assert item.kind == "target_rejected" and "phone" in item.reason.lower()
    sample = parties["C-0003"]
    assert sample["addresses."][0]["country."]["code"] in ALLOWED_COUNTRIES
    assert any("@" in mechanism["value"] for mechanism in sample["contact_mechanisms."])


def test_running_the_crm_flow_again_writes_nothing_twice(
    crm_to_tryton, bare, django_capture_on_commit_callbacks
):
    first = run_flow(crm_to_tryton, django_capture_on_commit_callbacks)
    again = run_flow(crm_to_tryton, django_capture_on_commit_callbacks)

    assert again.created_count == 0
    assert again.skipped_count == first.created_count
    assert len(parties_from_the_crm(bare)) == first.created_count
