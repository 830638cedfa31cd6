"""Merging a possible duplicate into a target record, and undoing the merge, over real HTTP
against the simulator: its records are read back after each step."""

import httpx
import pytest

from integration_console.sync.models import AuditEntry, Merge, RecordLink
from integration_console.sync.services.merges import (
    MergeRefused,
    merge_request,
    merge_undo_request,
)
from review_queue.models import ReviewItem
from tests.factories import run_flow

pytestmark = pytest.mark.django_db


def erp(simulator, path: str) -> httpx.Response:
    return httpx.get(f"{simulator.erp_url}/{path}")


@pytest.fixture
def bob(shipped_demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks):
    """The shipped demo run: C-0037, "Bob Boone", waits as a possible duplicate of E-10004
    (Robert Boone). The ERP also holds a second record of him, typed in by hand."""
    run_flow(shipped_demo_flow, django_capture_on_commit_callbacks)
    second = httpx.post(
        f"{simulator.erp_url}/customers",
        json={
            "given_name": "Rob",
            "family_name": "Boone",
            "email": "rob@boone-family.example",
            "phone": "+12015558637",
            "country_code": "US",
        },
    ).json()
    return ReviewItem.objects.get(source_id="C-0037"), second["id"]


def merge_bob(flow, second_id, capture) -> Merge:
    with capture(execute=True):
        merge = merge_request(
            flow=flow,
            source_id="C-0037",
            survivor_id="E-10004",
            merged_ids=[second_id],
            choices={
                "given_name": "source",
                "family_name": "E-10004",
                "email": second_id,
                "phone": "source",
                "crm_ref": "source",
            },
            actor="user:olivia",
        )
    merge.refresh_from_db()
    return merge


def test_a_merge_updates_the_survivor_archives_the_other_and_links_the_record(
    bob, shipped_demo_flow, simulator, django_capture_on_commit_callbacks
):
    item, second = bob
    robert_before = erp(simulator, "customers/E-10004").json()
    merge = merge_bob(shipped_demo_flow, second, django_capture_on_commit_callbacks)

    assert merge.status == Merge.Status.APPLIED, merge.error
    assert merge.steps == ["read", f"remove:{second}", "update", "link"]
    survivor = erp(simulator, "customers/E-10004").json()
    assert (survivor["given_name"], survivor["family_name"], survivor["email"]) == (
        "Bob",
        "Boone",
        "rob@boone-family.example",
    )
    assert survivor["crm_ref"] == "C-0037"
    assert survivor["company"] == robert_before["company"]
    assert erp(simulator, f"customers/{second}").json()["archived"] is True
    listed = erp(simulator, "customers?page_size=200").json()["results"]
    assert second not in {c["id"] for c in listed}
    assert RecordLink.objects.get(source_id="C-0037").target_id == "E-10004"
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.RESOLVED
    assert item.resolution == "Merged into E-10004 in Simulated ERP."
    entry = AuditEntry.objects.get(source_id="C-0037", action="merge")
    assert entry.payload["email"] == "rob@boone-family.example"


def test_an_undo_brings_back_both_records_as_they_were_and_reopens_the_item(
    bob, shipped_demo_flow, simulator, django_capture_on_commit_callbacks
):
    item, second = bob
    robert_before = erp(simulator, "customers/E-10004").json()
    rob_before = erp(simulator, f"customers/{second}").json()
    merge = merge_bob(shipped_demo_flow, second, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        merge_undo_request(merge=merge, actor="user:ada", reason="Bob is Robert's son")
    merge.refresh_from_db()

    assert merge.status == Merge.Status.UNDONE, merge.error
    assert merge.steps == []
    robert = erp(simulator, "customers/E-10004").json()
    fields = ("given_name", "family_name", "email", "phone", "crm_ref", "company")
    assert {f: robert[f] for f in fields} == {f: robert_before[f] for f in fields}
    rob = erp(simulator, f"customers/{second}").json()
    assert not rob.get("archived")
    assert {f: rob.get(f) for f in fields} == {f: rob_before.get(f) for f in fields}
    assert not RecordLink.objects.filter(source_id="C-0037").exists()
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN
    assert item.events.filter(note="Merge undone: Bob is Robert's son").exists()
    undo = AuditEntry.objects.get(source_id="C-0037", action="unmerge")
    assert undo.failure_reason == "Bob is Robert's son"


def test_a_record_has_one_merge_in_force(
    bob, shipped_demo_flow, simulator, django_capture_on_commit_callbacks
):
    item, second = bob
    merge_bob(shipped_demo_flow, second, django_capture_on_commit_callbacks)
    with pytest.raises(MergeRefused, match="merged already \\(by user:olivia\\)"):
        merge_request(
            flow=shipped_demo_flow,
            source_id="C-0037",
            survivor_id=second,
            merged_ids=["E-10004"],
            choices={},
            actor="user:ada",
        )
    assert Merge.objects.count() == 1


def test_a_merge_stopped_half_way_is_resumed_without_repeating_its_steps(
    bob, shipped_demo_flow, simulator, django_capture_on_commit_callbacks, monkeypatch
):
    from connectors.errors import TransientError
    from connectors.rest.client import RestConnector
    from integration_console.sync.services.merges import merge_resume

    item, second = bob
    original = RestConnector.update

    def target_down(self, *args, **kwargs):
        raise TransientError("Simulated ERP did not answer")

    monkeypatch.setattr(RestConnector, "update", target_down)
    merge = merge_bob(shipped_demo_flow, second, django_capture_on_commit_callbacks)
    assert merge.status == Merge.Status.FAILED
    assert merge.steps == ["read", f"remove:{second}"]
    assert "did not answer" in merge.error

    monkeypatch.setattr(RestConnector, "update", original)
    with django_capture_on_commit_callbacks(execute=True):
        merge_resume(merge=merge)
    merge.refresh_from_db()
    assert merge.status == Merge.Status.APPLIED
    assert erp(simulator, "customers/E-10004").json()["given_name"] == "Bob"


@pytest.mark.django_db(transaction=True)
def test_two_merges_of_one_record_sent_at_once_give_one_merge(
    shipped_demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    import threading

    from django.db import connection

    from review_queue import services
    from tests.factories import demo_user

    if connection.vendor != "postgresql":
        pytest.skip("SQLite serializes writes, so this race needs PostgreSQL (the lane-2 run)")
    run_flow(shipped_demo_flow, django_capture_on_commit_callbacks)
    item = ReviewItem.objects.get(source_id="C-0037")
    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def merge(username: str, given_from: str) -> None:
        try:
            start.wait(5)
            services.review_item_merge(
                item=item,
                user=demo_user(username),
                survivor_id="E-10004",
                merged_ids=[],
                choices={"given_name": given_from},
                expected_version=item.version,
            )
            outcomes[username] = "merged"
        except Exception as exc:  # noqa: BLE001 - the test reads what each thread met
            outcomes[username] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=merge, args=("olivia", "source")),
        threading.Thread(target=merge, args=("ada", "E-10004")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    winners = [name for name, outcome in outcomes.items() if outcome == "merged"]
    losers = [outcome for outcome in outcomes.values() if outcome != "merged"]
    assert len(winners) == 1, outcomes
    assert [type(e) for e in losers] == [services.ItemChanged]
    (merge_row,) = Merge.objects.all()
    assert merge_row.requested_by == f"user:{winners[0]}"


def test_a_merge_whose_job_was_lost_is_taken_up_again_by_the_recovery(
    bob, shipped_demo_flow, simulator, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from integration_console.sync.services.merges import merges_recover

    item, second = bob
    with django_capture_on_commit_callbacks(execute=False):  # the job is lost
        merge = merge_request(
            flow=shipped_demo_flow,
            source_id="C-0037",
            survivor_id="E-10004",
            merged_ids=[],
            choices={"given_name": "source"},
            actor="user:olivia",
        )
    assert merges_recover() == []  # not stalled yet
    Merge.objects.filter(pk=merge.pk).update(updated_at=timezone.now() - timedelta(minutes=11))

    with django_capture_on_commit_callbacks(execute=True):
        assert merges_recover() == [merge.pk]
    merge.refresh_from_db()
    assert merge.status == Merge.Status.APPLIED
    assert erp(simulator, "customers/E-10004").json()["given_name"] == "Bob"
