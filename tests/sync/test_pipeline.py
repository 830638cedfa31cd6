"""process_record on its own, with in-memory connectors standing in for the systems."""

import pytest

from connectors.base import Capabilities
from connectors.errors import RejectedError
from integration_console.sync.models import AuditEntry
from integration_console.sync.pipeline import load_context, process_record
from review_queue.models import ReviewItem

pytestmark = pytest.mark.django_db

GOOD = {
    "id": "C-9",
    "first_name": "Ana",
    "last_name": "Lima",
    "email": "ana@example.com",
    "country": "Portugal",
    "phone": "+351912345678",
    "company": "Lima Lda",
}


class MemoryTarget:
    capabilities = Capabilities()

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.created: list[dict] = []
        self.fail_with = fail_with

    def create(self, resource, payload, *, idempotency_key):
        if self.fail_with:
            raise self.fail_with
        self.created.append(payload)
        return {"id": f"T-{len(self.created)}", **payload}


@pytest.fixture
def context(demo_flow):
    def make(target):
        return load_context(demo_flow, source=None, target=target, actor="test")

    return make


@pytest.mark.parametrize("garbage", ["C-0001", None, ["C-0001"]])
def test_something_that_is_not_a_record_becomes_contract_drift(context, garbage):
    assert process_record(context(MemoryTarget()), garbage).outcome == AuditEntry.Outcome.FAILED
    item = ReviewItem.objects.get()
    assert item.kind == "contract_drift"


def test_a_record_without_id_becomes_contract_drift(context):
    assert (
        process_record(context(MemoryTarget()), {**GOOD, "id": ""}).outcome
        == AuditEntry.Outcome.FAILED
    )
    assert ReviewItem.objects.get().reason == "The source record has no 'id'."


def test_a_country_the_target_does_not_serve_is_invalid_before_anything_is_sent(context):
    target = MemoryTarget()
    assert (
        process_record(context(target), {**GOOD, "country": "Portugal"}).outcome
        == AuditEntry.Outcome.FAILED
    )
    assert target.created == []
    assert ReviewItem.objects.get().field_errors.keys() == {"country_code"}


def test_a_rejection_without_field_errors_keeps_the_targets_message(context):
    target = MemoryTarget(fail_with=RejectedError("POST customers: 400 Bad Request.", status=400))
    record = {**GOOD, "country": "Germany"}
    assert process_record(context(target), record).outcome == AuditEntry.Outcome.FAILED
    item = ReviewItem.objects.get()
    assert item.reason == (
        "Simulated ERP rejected the record (HTTP 400). POST customers: 400 Bad Request."
    )
