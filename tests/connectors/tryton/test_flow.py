"""A flow from the simulated CRM into a real Tryton, configured as an admin would: a Tryton
system, a party data class with nested contact mechanisms and addresses, a field map that
builds them, and a run; then the parties are read back from Tryton itself."""

from collections.abc import Iterator

import pytest

from connectors.simulator.world import ALLOWED_COUNTRIES
from integration_console.catalog.models import (
    DataClass,
    FieldMap,
    FieldMapVersion,
    FieldRule,
    System,
)
from integration_console.catalog.services import field_map_version_errors
from integration_console.sync.models import Flow, RecordLink
from review_queue.models import ReviewItem
from tests.factories import run_flow

from .server import BareTryton, RunningTryton

pytestmark = pytest.mark.django_db

PARTY_SCHEMA = {
    "fields": [
        {"name": "name", "type": "string", "required": True},
        {"name": "code", "type": "string", "required": True},
        {"name": "contact_mechanisms", "type": "list"},
        {"name": "addresses", "type": "list"},
    ]
}
# source path, target path, transforms, required, sent on create only
CRM_TO_TRYTON = [
    ("", "name", "template:{first_name} {last_name}|trim", True, False),
    ("id", "code", "", True, True),
    ("", "contact_mechanisms[0].type", "constant:email", False, False),
    ("email", "contact_mechanisms[0].value", "trim|lower", True, False),
    ("", "contact_mechanisms[1].type", "constant:phone", False, False),
    ("phone", "contact_mechanisms[1].value", "trim", True, False),
    ("country", "addresses[0].country", "trim|country_iso", True, False),
]


@pytest.fixture
def bare(tryton: RunningTryton) -> Iterator[BareTryton]:
    client = tryton.bare()
    yield client
    client.close()


@pytest.fixture
def crm_to_tryton(demo_flow, tryton, bare, monkeypatch, in_process_jobs) -> Flow:
    """The flow an admin would set up in the admin, against this session's Tryton."""
    have = {
        row["code"]
        for row in bare.call("model.country.country.search_read", [], 0, None, None, ["code"], {})
    }
    missing = [{"code": code, "name": code} for code in ALLOWED_COUNTRIES if code not in have]
    if missing:
        bare.call("model.country.country.create", missing, {})
    # Tryton lives for the whole session: start each test without the CRM's parties.
    earlier = [row["id"] for row in parties_from_the_crm(bare).values()]
    if earlier:
        bare.call("model.party.party.delete", earlier, {})
    monkeypatch.setenv("IC_TRYTON_PASSWORD", tryton.password)
    erp = System(
        name="Tryton",
        connector="tryton",
        base_url=tryton.base_url,
        auth_env_var="IC_TRYTON_PASSWORD",
        settings=tryton.settings,
    )
    erp.full_clean()
    erp.save()
    party = DataClass.objects.create(name="party", label="Party", schema=PARTY_SCHEMA)
    field_map = FieldMap.objects.create(
        name="CRM contact → Tryton party",
        data_class=party,
        source_system=demo_flow.source_system,
        target_system=erp,
    )
    version = FieldMapVersion.objects.create(field_map=field_map, number=1)
    for position, (source, target, transform, required, create_only) in enumerate(CRM_TO_TRYTON):
        FieldRule.objects.create(
            version=version,
            position=position,
            source_path=source,
            target_path=target,
            transform=transform,
            required=required,
            create_only=create_only,
        )
    assert field_map_version_errors(version=version) == []
    version.status = FieldMapVersion.Status.ACTIVE
    version.save()
    flow = Flow(
        name="CRM contacts → Tryton parties",
        data_class=party,
        source_system=demo_flow.source_system,
        source_resource="contacts",
        target_system=erp,
        target_resource="party.party",
        field_map=field_map,
    )
    flow.full_clean()
    flow.save()
    return flow


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
