"""Runs and audit entries tell the truth: how a run ended, what it counted, which field-map
version it used, and whether an attempt was a create or an update."""

import httpx
import pytest

from integration_console.catalog.models import FieldMapVersion
from integration_console.catalog.services import (
    field_map_version_approve,
    field_map_version_draft,
    field_map_version_submit,
)
from integration_console.sync.models import AuditEntry, Flow, SyncRun
from integration_console.sync.services import sync_run_start
from tests.factories import demo_user, run_flow

pytestmark = pytest.mark.django_db


def test_a_run_in_which_every_record_failed_has_failed(
    demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    httpx.post(
        f"{simulator.base_url}/_control/faults",
        json={"system": "erp", "status": 422, "count": 100},
    ).raise_for_status()
    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    assert (run.read_count, run.failed_count) == (40, 40)
    assert run.status == SyncRun.Status.FAILED
    assert "Every record" in run.note


def test_a_run_with_some_failures_says_so(
    demo_flow, in_process_jobs, django_capture_on_commit_callbacks
):
    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    assert run.status == SyncRun.Status.SUCCEEDED_WITH_FAILURES
    assert run.get_status_display() == "Succeeded with failures"


def test_a_dry_run_counts_what_it_would_write_not_as_skipped(
    demo_flow, in_process_jobs, django_capture_on_commit_callbacks
):
    demo_flow.stage = Flow.Stage.DRY_RUN
    demo_flow.save()
    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    assert (run.dry_run_count, run.skipped_count, run.failed_count) == (38, 0, 2)


def test_a_run_names_the_field_map_version_it_used_not_the_one_active_when_queued(
    demo_flow, in_process_jobs, django_capture_on_commit_callbacks
):
    queued_with = demo_flow.field_map.active_version
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_run_start(flow=demo_flow, triggered_by="test")
        # Before the run is executed, someone approves a new version.
        draft = field_map_version_draft(field_map=demo_flow.field_map, user=demo_user("bruno"))
        field_map_version_submit(version=draft, user=demo_user("bruno"))
        field_map_version_approve(version=draft, user=demo_user("ada"))
    run.refresh_from_db()

    assert run.field_map_version == draft != queued_with
    versions = set(AuditEntry.objects.filter(run=run).values_list("payload_version", flat=True))
    assert versions == {draft.pk}
    assert FieldMapVersion.objects.get(pk=queued_with.pk).status == "retired"


def test_a_linked_record_that_fails_is_audited_as_an_update_not_a_create(
    demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    run_flow(demo_flow, django_capture_on_commit_callbacks)
    httpx.put(f"{simulator.crm_url}/contacts/C-0001", json={"email": "not an email"})
    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    entry = AuditEntry.objects.get(run=run, source_id="C-0001")
    assert (entry.action, entry.outcome) == ("update", "failed")
