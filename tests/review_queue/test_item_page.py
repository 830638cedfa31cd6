"""The item page: sensitive values stay masked, fixing never sends a mask, history is paged."""

import re

import pytest
from django.urls import reverse

from integration_console import roles
from integration_console.catalog.models import FieldRule
from integration_console.sync.redaction import MASK
from review_queue import services
from review_queue.forms import SENSITIVE_HELP
from review_queue.models import ReviewItem, ReviewItemEvent
from tests.factories import (
    AuditEntryFactory,
    DataClassFactory,
    FlowFactory,
    ReviewItemEventFactory,
    ReviewItemFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

SCHEMA = {
    "fields": [
        {"name": "name", "label": "Name", "type": "string", "required": True},
        {"name": "iban", "label": "IBAN", "type": "string", "required": True, "sensitive": True},
        {"name": "author", "label": "Author", "type": "string"},
    ]
}
IBAN = "DE89370400440532013000"


@pytest.fixture
def flow():
    """A flow whose data class declares ``iban`` sensitive; the source holds it in bank.iban."""
    flow = FlowFactory(data_class=DataClassFactory(schema=SCHEMA))
    FieldRule.objects.filter(version__field_map=flow.field_map, target_path="iban").update(
        source_path="bank.iban"
    )
    return flow


@pytest.fixture
def operator():
    return UserFactory(role=roles.OPERATOR)


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


def detail(client, item, **params):
    return client.get(reverse("review_queue:item_detail", args=[item.pk]), params)


def test_the_item_page_shows_sensitive_values_masked_wherever_it_shows_them(operator_client, flow):
    # Stored unmasked, as an item written before the field was declared sensitive would be.
    item = ReviewItemFactory(
        flow=flow,
        payload={"name": "Ada", "iban": IBAN, "author": "Charles Babbage"},
        source_snapshot={"id": "C-1", "bank": {"iban": IBAN}, "iban": IBAN},
    )
    ReviewItemEventFactory(
        item=item,
        action=ReviewItemEvent.Action.PAYLOAD_FIXED,
        details={"changes": {"iban": [MASK, IBAN], "author": ["", "Charles Babbage"]}},
    )
    response = detail(operator_client, item)
    content = response.content.decode()
    assert IBAN not in content
    assert response.context["payload"]["iban"] == MASK
    assert response.context["source_snapshot"]["bank"]["iban"] == MASK
    assert response.context["source_snapshot"]["iban"] == MASK
    assert "Charles Babbage" in content  # "author" is no secret
    item.refresh_from_db()
    assert item.payload["iban"] == IBAN  # showing masks nothing in the database


def test_the_fix_form_shows_a_sensitive_field_empty_with_a_hint(operator_client, flow):
    item = ReviewItemFactory(flow=flow, payload={"name": "Ada", "iban": MASK})
    content = detail(operator_client, item).content.decode()
    iban_input = re.search(r'<input[^>]*name="iban"[^>]*>', content).group(0)
    assert "value=" not in iban_input
    assert SENSITIVE_HELP in content


def test_fixing_with_a_sensitive_field_left_empty_retries_without_it(
    operator_client, flow, monkeypatch
):
    item = ReviewItemFactory(flow=flow, payload={"name": "Ada", "iban": MASK})
    retried = {}
    monkeypatch.setattr(services, "review_item_retry", lambda **kwargs: retried.update(kwargs))
    response = operator_client.post(
        reverse("review_queue:item_fix", args=[item.pk]),
        {"name": "Ada Lovelace", "iban": "", "author": "", "item_version": item.version},
    )
    assert response.status_code == 302
    assert retried["payload"] == {"name": "Ada Lovelace"}
    page = operator_client.get(response.url).content.decode()
    assert "Sent as the source has them now: iban." in page


def test_a_payload_holding_a_mask_is_never_retried(
    flow, operator, django_capture_on_commit_callbacks
):
    item = ReviewItemFactory(flow=flow, payload={"name": "Ada", "iban": MASK})
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(services.ActionNotAllowed, match="hidden value"):
            services.review_item_retry(
                item=item, user=operator, payload={"name": "Ada", "iban": MASK}
            )
    assert callbacks == []
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN


def test_a_mapping_error_item_shows_its_field_errors_beside_the_empty_fields(operator_client, flow):
    error = "Required, but the source field 'name' is empty."
    item = ReviewItemFactory(
        flow=flow, kind="mapping_error", payload=None, field_errors={"name": [error]}
    )
    response = detail(operator_client, item)
    form = response.context["fix_form"]
    rows = {field.name: (field.value(), notes) for field, notes in form.rows}
    assert rows["name"] == (None, [error])
    assert rows["author"] == (None, [])
    assert f"Last failure: {error}".replace("'", "&#x27;") in response.content.decode()


@pytest.fixture
def long_history(flow):
    """An item whose record was attempted by 30 runs, each adding an event and an entry."""
    item = ReviewItemFactory(flow=flow, payload={"name": "Ada", "iban": MASK})
    for n in range(30):
        AuditEntryFactory(flow=flow, source_id=item.source_id, failed=True, attempt=n + 1)
        ReviewItemEventFactory(
            item=item, action=ReviewItemEvent.Action.RECURRED, note=f"failure {n + 1}"
        )
    return item


def test_the_timeline_merges_history_and_audit_entries_newest_first_and_pages_on(
    operator_client, long_history
):
    response = detail(operator_client, long_history)
    page = response.context["timeline"]
    # Each run wrote its audit entry, then the item's event: newest first, they alternate.
    shown = [(e.source, e.event.note if e.event else e.audit_entry.attempt) for e in page]
    assert shown[:4] == [
        ("event", "failure 30"),
        ("audit", 30),
        ("event", "failure 29"),
        ("audit", 29),
    ]
    assert len(page) == 20 and page.newer is None
    content = response.content.decode()
    assert "?after=" in content and "?before=" not in content

    older = detail(operator_client, long_history, after=str(page.older)).context["timeline"]
    assert page.entries[-1].audit_entry.attempt == 21
    assert older.entries[0].event.note == "failure 20"
    assert older.newer == older.entries[0].cursor


def test_a_timeline_position_the_page_cannot_use_is_answered_400_with_the_newest(
    operator_client, long_history
):
    response = detail(operator_client, long_history, after="yesterday")
    assert response.status_code == 400
    assert "is not a position in the timeline" in response.content.decode()
    assert len(response.context["timeline"]) == 20


def test_a_long_history_shows_one_page_for_a_fixed_number_of_queries(
    operator_client, long_history, django_assert_num_queries
):
    # session, user, 2 permissions, the item, the field-map rules that read sensitive fields,
    # the record link, the corrections, the assignable people, and the timeline's three
    # sources (events, audit entries, comments): the same on any page
    with django_assert_num_queries(12):
        response = detail(operator_client, long_history)
    assert len(re.findall(r"failure \d+", response.content.decode())) == 10
    cursor = response.context["timeline"].older
    for _ in range(2):
        with django_assert_num_queries(12):
            response = detail(operator_client, long_history, after=str(cursor))
        cursor = response.context["timeline"].older
