"""A create whose answer was lost: the target has the record, the console does not know it.
Before creating again, and when such an item is retried or dismissed, the console searches the
target by the idempotency keys it sent, so nothing is created twice or left unlinked."""

import httpx
import pytest

from integration_console.sync.models import AuditEntry, RecordLink
from review_queue.models import ReviewItem
from review_queue.services import ActionNotAllowed, review_item_dismiss, review_item_retry
from tests.factories import creating_one_at_a_time, demo_user, run_flow

pytestmark = pytest.mark.django_db


def lose_erp_answers(simulator, *, count: int) -> None:
    """The ERP carries out the next ``count`` requests, then answers 504 as if the answer
    were lost on the way."""
    httpx.post(
        f"{simulator.base_url}/_control/faults",
        json={"system": "erp", "status": 504, "count": count, "after_write": True},
    ).raise_for_status()


def erp_customers_for(simulator, crm_id: str) -> list[dict]:
    body = httpx.get(f"{simulator.erp_url}/customers", params={"page_size": 200}).json()
    return [c for c in body["results"] if c["crm_ref"] == crm_id]


@pytest.fixture
def lost(demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks):
    """A first run in which every answer to the first create was lost (three attempts)."""
    creating_one_at_a_time(demo_flow)
    lose_erp_answers(simulator, count=3)
    run = run_flow(demo_flow, django_capture_on_commit_callbacks)
    item = ReviewItem.objects.get(kind="retries_exhausted")
    assert run.failed_count == 5
    assert len(erp_customers_for(simulator, item.source_id)) == 1  # it did land
    assert not RecordLink.objects.filter(source_id=item.source_id).exists()
    return item


def test_the_next_run_finds_the_lost_create_and_links_it_instead_of_creating_again(
    lost, demo_flow, simulator, django_capture_on_commit_callbacks
):
    run_flow(demo_flow, django_capture_on_commit_callbacks)

    customers = erp_customers_for(simulator, lost.source_id)
    assert len(customers) == 1
    assert RecordLink.objects.get(source_id=lost.source_id).target_id == customers[0]["id"]
    lost.refresh_from_db()
    assert lost.status == "resolved"
    actions = AuditEntry.objects.filter(source_id=lost.source_id).values_list("action", "outcome")
    assert ("link", "succeeded") in list(actions)


def test_retrying_the_item_links_the_record_the_lost_create_made(
    lost, simulator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        review_item_retry(item=lost, user=demo_user("olivia"))

    customers = erp_customers_for(simulator, lost.source_id)
    assert len(customers) == 1
    lost.refresh_from_db()
    assert (lost.status, lost.target_id) == ("resolved", customers[0]["id"])


def test_dismissing_the_item_links_the_record_instead_and_says_so(lost, simulator):
    with pytest.raises(ActionNotAllowed, match="Not dismissed") as refusal:
        review_item_dismiss(item=lost, user=demo_user("olivia"), reason="Gave up")

    target_id = erp_customers_for(simulator, lost.source_id)[0]["id"]
    assert target_id in str(refusal.value)
    assert RecordLink.objects.get(source_id=lost.source_id).target_id == target_id
    lost.refresh_from_db()
    assert lost.status == "resolved"


def test_a_batch_whose_answers_were_lost_is_sent_again_and_creates_nothing_twice(
    demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    lose_erp_answers(simulator, count=3)  # the batch lands three times over, unanswered
    run = run_flow(demo_flow, django_capture_on_commit_callbacks)

    body = httpx.get(f"{simulator.erp_url}/customers", params={"page_size": 200}).json()
    refs = [c["crm_ref"] for c in body["results"] if c["crm_ref"]]
    assert len(refs) == len(set(refs)) == 36  # the keys made every re-send a replay
    assert (run.created_count, run.failed_count) == (36, 4)
    assert RecordLink.objects.count() == 36
