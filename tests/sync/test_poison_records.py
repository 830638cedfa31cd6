"""Whatever a source sends becomes a review item with a clear reason; recording a failure
cannot fail; a record the target accepted is never left without a link. PostgreSQL refuses NUL,
lone surrogates and NaN where SQLite stores them, so these run in both lanes and matter most in
the PostgreSQL one."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import Capabilities
from integration_console.sync.models import AuditEntry, RecordLink
from integration_console.sync.pipeline import load_context, process_record, source_id_of
from review_queue.models import ReviewItem

pytestmark = pytest.mark.django_db

GOOD = {
    "first_name": "Ana",
    "last_name": "Lima",
    "email": "ana@example.com",
    "country": "Germany",
    "phone": "+351912345678",
    "company": "Lima Lda",
}


class AcceptingTarget:
    """A target that takes every create, answering with the id ``answer_id`` makes."""

    capabilities = Capabilities()

    def __init__(self, answer_id=lambda n: f"T-{n}") -> None:
        self.created: list[dict] = []
        self.answer_id = answer_id

    def create(self, resource, payload, *, idempotency_key):
        self.created.append(payload)
        return {"id": self.answer_id(len(self.created)), **payload}

    def find_created(self, resource, idempotency_key):
        return None


@pytest.fixture
def context(demo_flow):
    def make(target=None):
        return load_context(
            demo_flow, source=None, target=target or AcceptingTarget(), actor="test"
        )

    return make


def outcome_of(source_id: str) -> tuple[bool, ReviewItem | None]:
    linked = RecordLink.objects.filter(source_id=source_id).exists()
    item = ReviewItem.objects.filter(
        source_id=source_id, status__in=ReviewItem.ACTIVE_STATUSES
    ).first()
    return linked, item


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("first_name", "An\x00a", "NUL"),
        ("phone", math.nan, "nan is not a number"),
        ("phone", math.inf, "inf is not a number"),
        ("last_name", "Lima\udc80", "not valid Unicode"),
    ],
)
def test_a_value_no_target_can_receive_becomes_an_invalid_item(context, field, value, message):
    target = AcceptingTarget()
    process_record(context(target), {"id": "C-1", **GOOD, field: value})

    item = ReviewItem.objects.get(source_id="C-1")
    assert item.kind == "invalid"
    assert any(message in m for m in item.field_errors[_target_field(field)])
    assert target.created == []
    assert AuditEntry.objects.get(source_id="C-1").outcome == "failed"


@pytest.mark.parametrize(
    "bad_id", ["C-" + "9" * 250, "C-\x001", "C-\ud800", 3.5, True, ["C-1"], {"id": 1}]
)
def test_a_source_id_that_cannot_be_kept_becomes_contract_drift(context, bad_id):
    process_record(context(), {"id": bad_id, **GOOD})

    item = ReviewItem.objects.get()
    assert item.kind == "contract_drift"
    assert len(item.source_id) <= 200 and "\x00" not in item.source_id
    assert not RecordLink.objects.exists()


def test_a_huge_value_is_kept_cut_short_on_the_item(context):
    huge = "x" * 2_000_000
    process_record(context(), {"id": "C-1", **GOOD, "email": huge})

    item = ReviewItem.objects.get(source_id="C-1")
    assert len(item.source_snapshot["email"]) < 20_000
    assert "2,000,000 characters" in item.source_snapshot["email"]


def test_a_target_answering_an_id_that_cannot_be_kept_leaves_a_clear_item(context):
    target = AcceptingTarget(answer_id=lambda n: f"T-\x00{n}")
    process_record(context(target), {"id": "C-1", **GOOD})

    linked, item = outcome_of("C-1")
    assert not linked
    assert item.kind == "target_rejected" and "cannot be kept" in item.reason


json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=50),
    st.text(max_size=300).map(lambda text: text * 50),
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
source_ids = st.one_of(
    st.from_regex(r"C-[0-9]{1,4}", fullmatch=True),
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=260),
    st.integers(),
    json_values,
)
records = st.one_of(
    st.fixed_dictionaries(
        {"id": source_ids},
        optional={name: st.one_of(st.just(good), json_values) for name, good in GOOD.items()},
    ),
    json_values,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(record=records)
def test_every_record_ends_linked_or_in_the_queue_whatever_the_source_sends(context, record):
    target = AcceptingTarget()
    process_record(context(target), record)

    source_id, _ = source_id_of(record)
    linked, item = outcome_of(source_id)
    assert linked or item is not None
    if target.created:
        assert linked  # what the target accepted is never left without a link


def _target_field(source_field: str) -> str:
    return {"first_name": "given_name", "last_name": "family_name"}.get(source_field, source_field)
