"""Rollout stages and incremental reads, against the simulator over HTTP."""

import httpx
import pytest

from integration_console.sync.models import AuditEntry, Flow, RecordLink
from review_queue.models import ReviewItem
from tests.factories import run_flow

pytestmark = pytest.mark.django_db


def erp_count(simulator) -> int:
    return httpx.get(f"{simulator.erp_url}/customers").json()["count"]


def test_a_dry_run_writes_nothing_and_finds_the_problems_the_console_can_see(
    demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    demo_flow.stage = Flow.Stage.DRY_RUN
    demo_flow.save()
    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    assert erp_count(simulator) == 5
    assert RecordLink.objects.count() == 0
    assert run.stage == Flow.Stage.DRY_RUN
    # Only the target can say that C-0021 and C-0029 are wrong, and nothing is sent to it.
    assert AuditEntry.objects.filter(run=run, outcome="dry_run").count() == 38
    assert set(ReviewItem.objects.values_list("source_id", flat=True)) == {"C-0007", "C-0013"}


def test_a_read_only_run_reads_and_touches_nothing(
    demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    demo_flow.stage = Flow.Stage.READ_ONLY
    demo_flow.save()
    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    assert (run.read_count, run.created_count, run.failed_count) == (40, 0, 0)
    assert erp_count(simulator) == 5
    assert not AuditEntry.objects.exists() and not ReviewItem.objects.exists()


def test_an_incremental_flow_reads_only_what_changed_since_its_cursor(
    demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    demo_flow.mode = Flow.Mode.INCREMENTAL
    demo_flow.save()
    first = run_flow(demo_flow, django_capture_on_commit_callbacks)
    demo_flow.refresh_from_db()
    assert first.read_count == 40 and demo_flow.cursor

    httpx.put(f"{simulator.crm_url}/contacts/C-0002", json={"last_name": "Changed"})
    second = run_flow(demo_flow, django_capture_on_commit_callbacks)

    # The cursor is inclusive: the newest record of the last run is read again, and skipped.
    assert second.read_count <= 2
    assert second.updated_count == 1
