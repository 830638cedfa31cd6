"""The item's timeline: its history, its record's audit entries and its comments in one list,
newest first, each with who and when, paged by keyset at a fixed cost."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from integration_console import roles
from integration_console.sync.models import AuditEntry
from integration_console.sync.redaction import MASK
from review_queue import selectors, services
from review_queue.models import ReviewItemComment, ReviewItemEvent
from review_queue.timeline import TimelineCursor, review_item_timeline
from tests.factories import (
    AuditEntryFactory,
    DataClassFactory,
    FlowFactory,
    ReviewItemEventFactory,
    ReviewItemFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def operator():
    return UserFactory(username="olivia", role=roles.OPERATOR)


@pytest.fixture
def item():
    return ReviewItemFactory()


def at(row, minutes: float):
    """Move a row to T0 + ``minutes``: created_at is set on insert, so tests set it after."""
    type(row).objects.filter(pk=row.pk).update(created_at=T0 + timedelta(minutes=minutes))
    return row


def event(item, minutes: float, note: str = ""):
    return at(
        ReviewItemEventFactory(
            item=item, action=ReviewItemEvent.Action.RECURRED, actor="job:run-1", note=note
        ),
        minutes,
    )


def audit(item, minutes: float, **fields):
    return at(AuditEntryFactory(flow=item.flow, source_id=item.source_id, **fields), minutes)


def comment(item, user, minutes: float, body: str = "a note"):
    return at(ReviewItemComment.objects.create(item=item, author=user, body=body), minutes)


def timeline_of(item, **kwargs):
    # As the page reads it: the item with its flow and data class.
    return review_item_timeline(selectors.review_item_list().get(pk=item.pk), **kwargs)


def read_whole(item, *, size: int) -> list[tuple[str, int]]:
    """Every entry, page after page of older entries."""
    seen, cursor = [], None
    while True:
        page = timeline_of(item, size=size, after=cursor)
        seen.extend((e.source, e.id) for e in page)
        if page.older is None:
            return seen
        cursor = page.older


def test_history_audit_entries_and_comments_come_in_one_list_newest_first_with_who(item, operator):
    item.events.update(created_at=T0)  # its "opened" event
    audit(item, 1, actor="job:run-7", failed=True)
    event(item, 2, note="failed again")
    comment(item, operator, 3, body="Asked sales")
    audit(item, 4, actor="user:olivia", action=AuditEntry.Action.DISMISS)

    page = timeline_of(item, size=10)

    assert [(e.source, e.who, e.created_at) for e in page] == [
        ("audit", "olivia", T0 + timedelta(minutes=4)),
        ("comment", "olivia", T0 + timedelta(minutes=3)),
        ("event", "job:run-1", T0 + timedelta(minutes=2)),
        ("audit", "job:run-7", T0 + timedelta(minutes=1)),
        ("event", "job:test", T0),
    ]
    assert page.entries[1].comment.body == "Asked sales"
    assert (page.older, page.newer) == (None, None)


def test_entries_written_at_the_same_instant_keep_one_order(item, operator):
    item.events.all().delete()
    rows = [audit(item, 0), event(item, 0), comment(item, operator, 0), event(item, 0)]

    page = timeline_of(item, size=10)

    # At one instant: comments, then history, then audit entries, each newest (id) first.
    assert [(e.source, e.id) for e in page] == [
        ("comment", rows[2].pk),
        ("event", rows[3].pk),
        ("event", rows[1].pk),
        ("audit", rows[0].pk),
    ]


@pytest.fixture
def busy_item(item, operator):
    """75 entries, three sources, with many sharing an instant: where a keyset slips."""
    item.events.all().delete()
    for n in range(25):
        event(item, n // 3)
        audit(item, n // 4)
        comment(item, operator, n // 5)
    return item


@pytest.mark.parametrize("size", [1, 7, 20, 75, 100])
def test_paging_older_shows_every_entry_once_in_order(busy_item, size):
    whole = [(e.source, e.id) for e in timeline_of(busy_item, size=200)]
    assert len(whole) == 75

    assert read_whole(busy_item, size=size) == whole


def test_paging_back_to_newer_entries_shows_every_entry_once_in_order(busy_item):
    entries = timeline_of(busy_item, size=200).entries
    whole = [(e.source, e.id) for e in entries]
    page = timeline_of(busy_item, size=8, after=entries[66].cursor)  # the oldest 8
    shown = [(e.source, e.id) for e in page]
    assert shown == whole[67:]
    while page.newer is not None:
        page = timeline_of(busy_item, size=8, before=page.newer)
        assert 0 < len(page) <= 8
        shown = [(e.source, e.id) for e in page] + shown
    assert shown == whole
    assert len(page) == 67 % 8 and page.older == page.entries[-1].cursor


def test_a_cursor_goes_into_a_link_and_comes_back_the_same(busy_item):
    page = timeline_of(busy_item, size=5)
    assert TimelineCursor.parse(str(page.older)) == page.older
    for bad in ["", "2026-11-02T09:00:00+00:00_event", "2026-11-02T09:00:00_event_1", "x_y_z"]:
        with pytest.raises(ValueError):
            TimelineCursor.parse(bad)


def test_a_page_costs_three_queries_at_any_depth(busy_item, django_assert_num_queries):
    item = selectors.review_item_list().get(pk=busy_item.pk)
    cursor = None
    for _ in range(6):
        with django_assert_num_queries(3):  # events, audit entries, comments
            page = review_item_timeline(item, size=10, after=cursor)
        cursor = page.older
    assert cursor is not None
    with django_assert_num_queries(3):
        review_item_timeline(item, size=10, before=cursor)


def test_the_item_page_costs_the_same_queries_on_any_page_of_its_timeline(
    client, busy_item, operator, django_assert_num_queries
):
    client.force_login(operator)
    url = reverse("review_queue:item_detail", args=[busy_item.pk])
    first = client.get(url)
    cursor = first.context["timeline"].older
    # session, user, 2 permissions, the item, the record link, the corrections, the people
    # one may assign it to, and the timeline's three (no field is sensitive: no rules read)
    with django_assert_num_queries(11):
        client.get(url)
    for _ in range(3):
        with django_assert_num_queries(11):
            response = client.get(url, {"after": str(cursor)})
        cursor = response.context["timeline"].older


def test_an_operator_adds_a_comment_and_it_heads_the_timeline_with_who(client, item, operator):
    client.force_login(operator)
    url = reverse("review_queue:item_comment", args=[item.pk])

    response = client.post(url, {"body": "Called the customer:\nthe email is wrong"})

    assert response.status_code == 302
    page = client.get(response.url)
    first = page.context["timeline"].entries[0]
    assert (first.source, first.who) == ("comment", "olivia")
    html = page.content.decode()
    assert "Called the customer:<br>the email is wrong" in html
    assert "Comment added." in html


def test_comments_need_a_login(client, item):
    response = client.post(reverse("review_queue:item_comment", args=[item.pk]), {"body": "hi"})
    assert response.status_code == 302 and reverse("login") in response.url
    assert not ReviewItemComment.objects.exists()


def test_comments_need_the_permission_to_act(client, item):
    client.force_login(UserFactory(permissions=["review_queue.view_reviewitem"]))
    response = client.post(reverse("review_queue:item_comment", args=[item.pk]), {"body": "hi"})
    assert response.status_code == 403
    assert not ReviewItemComment.objects.exists()
    page = client.get(reverse("review_queue:item_detail", args=[item.pk])).content.decode()
    assert 'id="comment-form"' not in page  # and no form is offered


def test_comments_need_the_csrf_token(item, operator):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator)
    url = reverse("review_queue:item_comment", args=[item.pk])

    assert browser.post(url, {"body": "forged"}).status_code == 403
    assert not ReviewItemComment.objects.exists()

    page = browser.get(reverse("review_queue:item_detail", args=[item.pk])).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert browser.post(url, {"body": "mine", "csrfmiddlewaretoken": token}).status_code == 302
    assert ReviewItemComment.objects.get().body == "mine"


def test_a_script_in_a_comment_or_an_audit_payload_is_shown_as_text(client, item, operator):
    client.force_login(operator)
    services.review_item_comment(item=item, user=operator, body="<script>alert('c')</script>")
    audit(
        item,
        1,
        failed=True,
        payload={"name": "<script>alert('p')</script>"},
        failure_reason="<script>alert('r')</script>",
        corrected={"name": {"from": "<b>x</b>", "to": "<script>alert('k')</script>"}},
    )

    html = client.get(reverse("review_queue:item_detail", args=[item.pk])).content.decode()

    assert "<script>" not in html and "<b>x</b>" not in html
    for what in ["c", "p", "r", "k"]:
        assert f"&lt;script&gt;alert(&#x27;{what}&#x27;)&lt;/script&gt;" in html


def test_an_audit_payload_shows_the_data_classs_sensitive_fields_masked(client, operator):
    schema = {
        "fields": [
            {"name": "name", "type": "string"},
            {"name": "iban", "type": "string", "sensitive": True},
        ]
    }
    item = ReviewItemFactory(flow=FlowFactory(data_class=DataClassFactory(schema=schema)))
    # Written before iban was declared sensitive: stored as it was sent.
    audit(
        item,
        1,
        payload={"name": "Ada", "iban": "DE89370400440532013000"},
        corrected={"iban": {"from": "DE00", "to": "DE89370400440532013000"}},
    )
    client.force_login(operator)

    response = client.get(reverse("review_queue:item_detail", args=[item.pk]))

    assert "DE89370400440532013000" not in response.content.decode()
    entry = next(e for e in response.context["timeline"] if e.source == "audit")
    assert entry.payload == {"name": "Ada", "iban": MASK}
    assert AuditEntry.objects.get().payload["iban"] == "DE89370400440532013000"  # untouched
