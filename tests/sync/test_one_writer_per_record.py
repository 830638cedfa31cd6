"""All work on one (flow, source record) takes turns, on every worker: proven on PostgreSQL with
real threads, each on its own database connection, against the simulator over HTTP."""

import threading

import httpx
import pytest
from django.db import connection

from connectors.rest.client import RestConnector
from integration_console.sync.models import RecordLink, SyncRun
from integration_console.sync.services import record_retry, sync_run_start
from review_queue.models import ReviewItem
from review_queue.services import ActionNotAllowed, review_item_dismiss, review_item_link
from tests.factories import creating_one_at_a_time, demo_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serializes writes, so this race needs PostgreSQL (the lane-2 run)")


def in_thread(target, *args, **kwargs) -> threading.Thread:
    def run() -> None:
        try:
            target(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the test reads what each thread met
            errors.append(exc)
        finally:
            connection.close()

    errors: list[Exception] = []
    thread = threading.Thread(target=run)
    thread.errors = errors
    thread.start()
    return thread


def erp_customers_for(simulator, crm_id: str) -> list[dict]:
    body = httpx.get(f"{simulator.erp_url}/customers", params={"page_size": 200}).json()
    return [c for c in body["results"] if c["crm_ref"] == crm_id]


def slow_down(monkeypatch, method: str, when, started: threading.Event) -> None:
    """Hold the chosen connector call for a moment, so that another attempt meets it."""
    original = getattr(RestConnector, method)

    def slowed(self, *args, **kwargs):
        if when(*args, **kwargs):
            started.set()
            threading.Event().wait(0.8)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RestConnector, method, slowed)


def creates_c0001(resource, payload, **kw) -> bool:
    return payload["crm_ref"] == "C-0001"


def batch_creates_c0001(resource, payloads, **kw) -> bool:
    return any(payload["crm_ref"] == "C-0001" for payload in payloads)


@pytest.mark.parametrize(
    "method, when", [("create", creates_c0001), ("create_many", batch_creates_c0001)]
)
def test_a_fixed_retry_racing_a_run_writes_one_target_record(
    demo_flow, simulator, in_process_jobs, settings, monkeypatch, method, when
):
    settings.IN_PROCESS_JOBS = "inline"
    if method == "create":
        creating_one_at_a_time(demo_flow)
    creating = threading.Event()
    slow_down(monkeypatch, method, when, creating)
    run = in_thread(sync_run_start, flow=demo_flow, triggered_by="test")
    assert creating.wait(10)
    # While the run's create of C-0001 is in flight, an operator's fix of it is retried: a
    # different payload, so a different idempotency key.
    retry = in_thread(
        record_retry,
        flow=demo_flow,
        source_id="C-0001",
        actor="user:olivia",
        corrections={"email": "fixed.by.olivia@example.com"},
    )
    run.join(60)
    retry.join(60)

    assert run.errors == [] and retry.errors == []
    assert len(erp_customers_for(simulator, "C-0001")) == 1
    assert RecordLink.objects.filter(source_id="C-0001").count() == 1
    assert SyncRun.objects.get().created_count == 36


def test_a_link_and_a_dismissal_at_once_leave_the_item_and_the_record_agreeing(
    demo_flow, simulator, in_process_jobs, monkeypatch, django_capture_on_commit_callbacks
):
    from tests.factories import run_flow

    run_flow(demo_flow, django_capture_on_commit_callbacks)
    item = ReviewItem.objects.get(source_id="C-0029")  # the duplicate of E-10002
    checking = threading.Event()
    slow_down(monkeypatch, "get", lambda resource, record_id: record_id == "E-10002", checking)

    link = in_thread(review_item_link, item=item, user=demo_user("olivia"), target_id="E-10002")
    assert checking.wait(10)
    dismiss = in_thread(review_item_dismiss, item=item, user=demo_user("ada"), reason="A duplicate")
    link.join(30)
    dismiss.join(30)

    item.refresh_from_db()
    linked = RecordLink.objects.filter(source_id="C-0029").exists()
    # The link went first (it held the record); the dismissal then found nothing to dismiss.
    assert (item.status, linked) == ("resolved", True)
    assert link.errors == []
    assert [type(e) for e in dismiss.errors] == [ActionNotAllowed]
