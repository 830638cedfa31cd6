"""Rollout stages and incremental reads, against the simulator over HTTP."""

import httpx
import pytest

from integration_console.sync.models import AuditEntry, Flow, RecordLink
from integration_console.sync.pages import process_page
from integration_console.sync.services import chunks
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
    assert first.read_count == 40 and demo_flow.cursor_updated_at is not None

    httpx.put(f"{simulator.crm_url}/contacts/C-0002", json={"last_name": "Changed"})
    second = run_flow(demo_flow, django_capture_on_commit_callbacks)

    # The cursor is a keyset position: the reader starts strictly after the last record.
    assert (second.read_count, second.updated_count) == (1, 1)
    demo_flow.refresh_from_db()
    assert demo_flow.cursor_source_id == "C-0002"


def test_the_rollout_from_read_only_to_live_syncs_the_whole_backlog(
    demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    demo_flow.mode = Flow.Mode.INCREMENTAL
    runs = {}
    for stage in (Flow.Stage.READ_ONLY, Flow.Stage.DRY_RUN, Flow.Stage.LIMITED, Flow.Stage.LIVE):
        demo_flow.stage, demo_flow.write_limit = stage, 10
        demo_flow.save()
        runs[stage] = run_flow(demo_flow, django_capture_on_commit_callbacks)
        demo_flow.refresh_from_db()
        if stage in (Flow.Stage.READ_ONLY, Flow.Stage.DRY_RUN):
            # A rehearsal moves no cursor: going live must still read everything.
            assert demo_flow.cursor_updated_at is None, stage

    limited, live = runs[Flow.Stage.LIMITED], runs[Flow.Stage.LIVE]
    assert limited.created_count == 10 and "limit" in limited.note
    assert erp_count(simulator) == 5 + 36
    assert RecordLink.objects.count() == 36
    queued = set(ReviewItem.objects.filter(status="open").values_list("source_id", flat=True))
    assert queued == {"C-0007", "C-0013", "C-0021", "C-0029"}
    # Between them, the limited and the live run read each record once.
    assert limited.read_count + live.read_count == 40


def test_a_limited_flow_writes_at_most_its_limit_a_run(
    demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    demo_flow.stage, demo_flow.write_limit = Flow.Stage.LIMITED, 7
    demo_flow.save()
    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    assert run.created_count == 7
    assert erp_count(simulator) == 5 + 7
    assert run.note.startswith("Wrote 7 records")


def test_records_edited_while_a_run_pages_are_all_read(
    demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks, monkeypatch, settings
):
    # Chunks of one page: each chunk reads its stretch after the pages before it were written.
    settings.SYNC_CHUNK_RECORDS = 5
    demo_flow.page_size = 5
    demo_flow.save()
    pages = []

    def edit_a_record_already_read(ctx, records, count):
        process_page(ctx, records, count)
        pages.append(records)
        if len(pages) == 1:
            # Edited, it moves to the end of the (updated_at, id) order; with page numbers
            # every later record would shift back one, and page 2's first would be skipped.
            first = records[0]["id"]
            httpx.put(f"{simulator.crm_url}/contacts/{first}", json={"company": "Moved"})

    monkeypatch.setattr(chunks, "process_page", edit_a_record_already_read)
    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    assert run.read_count == 41  # the edited record is read again, at the end
    assert (run.created_count, run.updated_count, run.failed_count) == (36, 1, 4)
    linked = set(RecordLink.objects.values_list("source_id", flat=True))
    queued = set(ReviewItem.objects.values_list("source_id", flat=True))
    assert len(linked | queued) == 40
