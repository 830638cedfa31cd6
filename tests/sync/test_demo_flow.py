"""The demo flow over real HTTP against the simulator process: the exact outcome."""

import httpx
import pytest

from connectors.simulator.world import SEEDED_DUPLICATES
from integration_console.sync.models import AuditEntry, RecordLink, SyncRun
from review_queue.models import ReviewItem
from tests.factories import creating_one_at_a_time, run_flow

pytestmark = pytest.mark.django_db

SEEDED_PROBLEMS = {
    ("C-0007", "invalid", ("email",)),
    ("C-0013", "invalid", ("country_code",)),
    ("C-0021", "target_rejected", ("phone",)),
    ("C-0029", "already_exists", ("email",)),
}


def erp_unavailable(simulator, *, requests: int) -> None:
    """The ERP answers the next ``requests`` requests with 503 (Retry-After: 0)."""
    httpx.post(
        f"{simulator.base_url}/_control/faults",
        json={"system": "erp", "status": 503, "count": requests, "retry_after": 0},
    ).raise_for_status()


def queue_contents():
    return {
        (item.source_id, item.kind, tuple(sorted(item.field_errors)))
        for item in ReviewItem.objects.all()
    }


def erp_customers(simulator) -> list[dict]:
    response = httpx.get(f"{simulator.erp_url}/customers", params={"page_size": 200})
    return response.json()["results"]


def test_the_shipped_demo_links_a_sure_duplicate_and_asks_about_the_likely_ones(
    shipped_demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    run = run_flow(shipped_demo_flow, django_capture_on_commit_callbacks)

    assert run.status == SyncRun.Status.SUCCEEDED_WITH_FAILURES
    assert (
        run.read_count,
        run.created_count,
        run.updated_count,
        run.skipped_count,
        run.failed_count,
    ) == (40, 32, 1, 0, 7)
    # C-0029 is found before the ERP refuses it (it has the same e-mail in other letter case):
    # linked to E-10002 and brought up to date.
    assert RecordLink.objects.get(source_id="C-0029").target_id == "E-10002"
    assert queue_contents() == (SEEDED_PROBLEMS - {("C-0029", "already_exists", ("email",))}) | {
        (contact_id, "possible_duplicate", ()) for contact_id in SEEDED_DUPLICATES
    }
    candidates = {
        item.source_id: [c["target_id"] for c in item.candidates]
        for item in ReviewItem.objects.filter(kind="possible_duplicate")
    }
    assert candidates == {
        "C-0031": ["E-10001"],
        "C-0033": ["E-10003"],
        "C-0035": ["E-10005"],
        "C-0037": ["E-10004"],
    }
    assert len(erp_customers(simulator)) == 5 + 32


def test_without_matching_the_erp_refuses_a_duplicate_and_the_others_are_created(
    demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    assert run.status == SyncRun.Status.SUCCEEDED_WITH_FAILURES
    assert (
        run.read_count,
        run.created_count,
        run.updated_count,
        run.skipped_count,
        run.failed_count,
    ) == (40, 36, 0, 0, 4)
    assert queue_contents() == SEEDED_PROBLEMS
    assert RecordLink.objects.count() == 36
    assert len(erp_customers(simulator)) == 5 + 36
    assert run.audit_entries.count() == 40


def test_transformed_values_reach_the_erp(
    demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    run_flow(demo_flow, django_capture_on_commit_callbacks)
    link = RecordLink.objects.get(source_id="C-0003")
    customer = httpx.get(f"{simulator.erp_url}/customers/{link.target_id}").json()
    contact = httpx.get(f"{simulator.crm_url}/contacts/C-0003").json()
    assert customer["email"] == contact["email"].strip().lower()
    assert customer["crm_ref"] == "C-0003"
    assert len(customer["country_code"]) == 2


def test_each_queued_item_keeps_what_an_operator_needs(
    demo_flow, in_process_jobs, django_capture_on_commit_callbacks
):
    run_flow(demo_flow, django_capture_on_commit_callbacks)
    rejected = ReviewItem.objects.get(source_id="C-0021")
    assert rejected.source_snapshot["phone"] == "12-34 call me"
    assert rejected.payload["phone"] == "12-34 call me"
    assert "E.164" in rejected.field_errors["phone"][0]
    assert rejected.target_response == {"errors": rejected.field_errors}
    assert rejected.reason.startswith(
        "Simulated ERP rejected the record (HTTP 422). phone: Enter a phone number in E.164"
    )
    duplicate = ReviewItem.objects.get(source_id="C-0029")
    assert duplicate.existing_target_id == "E-10002"
    assert duplicate.reason.startswith("Simulated ERP already has this record as E-10002.")
    bad_country = ReviewItem.objects.get(source_id="C-0013")
    assert bad_country.payload["country_code"] == "BR"


def test_a_second_run_skips_unchanged_records_and_counts_repeat_failures(
    demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    run_flow(demo_flow, django_capture_on_commit_callbacks)
    second = run_flow(demo_flow, django_capture_on_commit_callbacks)

    assert (second.read_count, second.created_count, second.skipped_count, second.failed_count) == (
        40,
        0,
        36,
        4,
    )
    assert ReviewItem.objects.count() == 4
    assert set(ReviewItem.objects.values_list("occurrences", flat=True)) == {2}
    assert len(erp_customers(simulator)) == 5 + 36


def test_a_changed_source_record_updates_its_linked_target(
    demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    run_flow(demo_flow, django_capture_on_commit_callbacks)
    httpx.put(f"{simulator.crm_url}/contacts/C-0001", json={"last_name": "Renamed"})
    second = run_flow(demo_flow, django_capture_on_commit_callbacks)

    assert (second.updated_count, second.skipped_count) == (1, 35)
    link = RecordLink.objects.get(source_id="C-0001")
    customer = httpx.get(f"{simulator.erp_url}/customers/{link.target_id}").json()
    assert customer["family_name"] == "Renamed"


def test_transient_target_errors_are_retried_and_each_attempt_audited(
    demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    erp_unavailable(simulator, requests=2)
    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    assert (run.created_count, run.failed_count) == (36, 4)
    transient = AuditEntry.objects.filter(run=run, failure_kind="transient")
    (source_id,) = set(transient.values_list("source_id", flat=True))
    attempts = AuditEntry.objects.filter(run=run, source_id=source_id).order_by("id")
    assert [(e.attempt, e.outcome, e.failure_kind) for e in attempts] == [
        (1, "failed", "transient"),
        (2, "failed", "transient"),
        (3, "succeeded", ""),
    ]


def test_a_record_whose_retries_run_out_is_dead_lettered(
    demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    creating_one_at_a_time(demo_flow)
    erp_unavailable(simulator, requests=3)
    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    item = ReviewItem.objects.get(kind="retries_exhausted")
    assert "3 attempts" in item.reason
    assert (
        AuditEntry.objects.filter(source_id=item.source_id, failure_kind="transient").count() == 2
    )
    assert (run.created_count, run.failed_count) == (35, 5)


def test_a_target_that_stopped_answering_a_batch_stops_the_run_after_a_few_records(
    demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    erp_unavailable(simulator, requests=1000)
    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    assert run.status == SyncRun.Status.FAILED
    assert "Gave up after 3 attempts" in run.error
    # The batch, then its records one by one, until three in a row went unanswered.
    exhausted = ReviewItem.objects.filter(kind="retries_exhausted").count()
    assert 1 <= exhausted <= 3
    assert RecordLink.objects.count() == 0
    assert "records read were not processed" in run.note


def test_a_bug_fails_the_run_loudly_and_queues_the_record(
    demo_flow, in_process_jobs, django_capture_on_commit_callbacks, monkeypatch
):
    from integration_console.sync import pipeline

    original = pipeline.transform_record

    def broken(rules, record, corrections=None):
        if record["id"] == "C-0002":
            raise ZeroDivisionError("division by zero")
        return original(rules, record, corrections)

    monkeypatch.setattr(pipeline, "transform_record", broken)
    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    assert run.status == SyncRun.Status.FAILED
    assert "ZeroDivisionError" in run.error
    item = ReviewItem.objects.get(source_id="C-0002")
    assert item.kind == "internal_error"


def test_an_unreachable_source_fails_the_run_with_the_reason(
    demo_flow, in_process_jobs, django_capture_on_commit_callbacks
):
    source = demo_flow.source_system
    source.base_url = "http://127.0.0.1:9/crm/api"
    source.save()
    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    assert run.status == SyncRun.Status.FAILED
    assert "ConnectError" in run.error
    assert run.read_count == 0


def test_a_target_that_stopped_answering_stops_the_run_instead_of_queueing_everything(
    demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    creating_one_at_a_time(demo_flow)
    target = demo_flow.target_system
    target.max_concurrent_writes = 1
    target.save()
    erp_unavailable(simulator, requests=1000)
    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    assert run.status == SyncRun.Status.FAILED
    assert "Gave up after 3 attempts" in run.error
    # The whole page (all 40) was read; its two invalid records are queued as such, three
    # records exhausted their retries, and the rest were never sent: the next run reads them.
    assert run.read_count == 40
    kinds = sorted(ReviewItem.objects.values_list("kind", flat=True))
    assert kinds == ["invalid"] * 2 + ["retries_exhausted"] * 3
    assert run.failed_count == 5
    assert "35 records read were not processed" in run.note
