"""A page of records at once: what it costs the database does not depend on its size, an
unchanged record costs no write, the writes go out side by side within the target's bound,
and a bookkeeping the database refuses in bulk is done record by record."""

import threading

import httpx
import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from connectors.rest.client import RestConnector
from integration_console.sync import pages
from integration_console.sync.locks import record_lock
from integration_console.sync.models import AuditEntry, RecordLink
from integration_console.sync.pages import process_page
from integration_console.sync.services import flow_context
from review_queue.models import ReviewItem
from tests.factories import creating_one_at_a_time, run_flow

pytestmark = pytest.mark.django_db


def crm_page(simulator, size: int, *, start: int = 0) -> list[dict]:
    body = httpx.get(f"{simulator.crm_url}/contacts", params={"page_size": 200}).json()
    good = [c for c in body["results"] if c["id"] not in ("C-0007", "C-0013", "C-0021", "C-0029")]
    return good[start : start + size]


def process(flow, records) -> tuple[list, int]:
    """Process ``records`` as one page; the results, and the statements it sent."""
    results = []
    with flow_context(flow, actor="test") as ctx, CaptureQueriesContext(connection) as queries:
        process_page(ctx, records, results.append)
    return results, len(queries)


def test_a_page_costs_the_same_statements_whatever_its_size(demo_flow, simulator):
    _, ten = process(demo_flow, crm_page(simulator, 10))
    _, twenty_five = process(demo_flow, crm_page(simulator, 25, start=10))

    assert RecordLink.objects.count() == 35
    assert ten == twenty_five


def test_an_unchanged_page_is_counted_and_writes_nothing(demo_flow, simulator):
    page = crm_page(simulator, 20)
    process(demo_flow, page)
    entries = AuditEntry.objects.count()

    results, statements = process(demo_flow, page)

    assert [r.outcome for r in results] == ["skipped"] * 20
    assert AuditEntry.objects.count() == entries  # the trail records attempted actions
    # The links, the queue's active items, the locks and their release; no write at all.
    assert statements <= 6


def test_writes_go_out_side_by_side_up_to_the_targets_bound(demo_flow, simulator, monkeypatch):
    in_flight, most = 0, 0
    guard = threading.Lock()
    original = RestConnector.create

    def counted(self, *args, **kwargs):
        nonlocal in_flight, most
        with guard:
            in_flight += 1
            most = max(most, in_flight)
        try:
            threading.Event().wait(0.05)  # long enough for the others to start
            return original(self, *args, **kwargs)
        finally:
            with guard:
                in_flight -= 1

    monkeypatch.setattr(RestConnector, "create", counted)
    creating_one_at_a_time(demo_flow)
    target = demo_flow.target_system
    target.max_concurrent_writes = 3
    target.save()
    process(demo_flow, crm_page(simulator, 12))
    assert most == 3

    most = 0
    target.max_concurrent_writes = 1
    target.save()
    process(demo_flow, crm_page(simulator, 6, start=12))
    assert most == 1
    assert RecordLink.objects.count() == 18


def test_a_page_the_database_refuses_in_bulk_is_recorded_record_by_record(
    demo_flow, simulator, monkeypatch
):
    original = pages.bulk_create_with_history
    calls = []

    def refuses_the_whole_page(objs, *args, **kwargs):
        calls.append(len(objs))
        if len(calls) == 1:
            raise DatabaseError("simulated: the page's insert was refused")
        return original(objs, *args, **kwargs)

    monkeypatch.setattr(pages, "bulk_create_with_history", refuses_the_whole_page)
    results, _ = process(demo_flow, crm_page(simulator, 8))

    assert calls == [8] + [1] * 8
    assert [r.outcome for r in results] == ["succeeded"] * 8
    assert RecordLink.objects.count() == 8
    assert AuditEntry.objects.filter(outcome="succeeded").count() == 8


def test_a_record_with_an_active_item_goes_alone_and_its_success_resolves_the_item(
    demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    run_flow(demo_flow, django_capture_on_commit_callbacks)
    item = ReviewItem.objects.get(source_id="C-0013")
    httpx.put(f"{simulator.crm_url}/contacts/C-0013", json={"country": "Germany"})

    second = run_flow(demo_flow, django_capture_on_commit_callbacks)

    item.refresh_from_db()
    assert item.status == "resolved"
    assert (second.created_count, second.skipped_count) == (1, 36)
    assert RecordLink.objects.filter(source_id="C-0013").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_record_another_writer_holds_waits_for_it_and_is_written_once(demo_flow, simulator):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serializes writes, so this race needs PostgreSQL (the lane-2 run)")
    page = crm_page(simulator, 10)
    held, release = threading.Event(), threading.Event()

    def hold_the_fifth_record():
        try:
            with record_lock(demo_flow.pk, page[4]["id"]):
                held.set()
                release.wait(5)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_fifth_record)
    holder.start()
    held.wait(5)
    threading.Timer(0.5, release.set).start()
    results, _ = process(demo_flow, page)
    holder.join()

    assert [r.outcome for r in results] == ["succeeded"] * 10
    assert RecordLink.objects.filter(source_id=page[4]["id"]).count() == 1
    assert AuditEntry.objects.filter(source_id=page[4]["id"]).count() == 1
