"""The queue list stays cheap at any size: keyset pages, no counts, no payload columns, and
filters and search that say what they cannot use."""

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from review_queue.models import ReviewItem
from review_queue.views import PAGE_SIZE
from tests.factories import ReviewItemFactory

pytestmark = pytest.mark.django_db

LIST = reverse("review_queue:item_list")
JSON_COLUMNS = ("source_snapshot", "payload", "target_response")


def _items_seen_in_order(flow, count, *, newest):
    """``count`` active items, last seen one minute apart, the first at ``newest``."""
    items = ReviewItemFactory.create_batch(count, flow=flow)
    for step, item in enumerate(items):
        ReviewItem.objects.filter(pk=item.pk).update(last_seen=newest - timedelta(minutes=step))
    return [item.source_id for item in items]


def _follow(client, response, rel):
    link = response.context["page"].next if rel == "next" else response.context["page"].previous
    key = "after" if rel == "next" else "before"
    return client.get(LIST, {key: str(link)})


def _item_list_queries(queries):
    return [q["sql"] for q in queries if 'FROM "review_queue_reviewitem"' in q["sql"]]


def test_the_list_pages_by_keyset_and_page_two_holds_when_new_items_arrive(
    operator_client, demo_flow
):
    ReviewItem.objects.update(last_seen=timezone.now() - timedelta(days=30))
    older = _items_seen_in_order(demo_flow, 60, newest=timezone.now() - timedelta(hours=1))
    everything = older + ["C-0007", "C-0013", "C-0021", "C-0029"]  # the demo's, oldest
    first = operator_client.get(LIST)
    assert [i.source_id for i in first.context["page"]] == everything[:PAGE_SIZE]
    assert first.context["page"].previous is None
    assert b'rel="next"' in first.content

    # Five failures arrive while the operator reads page 1: page 2 neither repeats nor skips.
    _items_seen_in_order(demo_flow, 5, newest=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        second = _follow(operator_client, first, "next")
    shown = [i.source_id for i in second.context["page"]]
    assert sorted(shown) == sorted(everything[PAGE_SIZE:])
    assert shown[:10] == everything[PAGE_SIZE : PAGE_SIZE + 10]
    assert second.context["page"].next is None
    assert not any("OFFSET" in sql for sql in _item_list_queries(queries))

    back = _follow(operator_client, second, "previous")
    assert [i.source_id for i in back.context["page"]] == everything[:PAGE_SIZE]
    assert back.context["page"].next is not None


def test_the_next_link_keeps_the_filters_and_carries_the_last_rows_position(
    operator_client, demo_flow
):
    _items_seen_in_order(demo_flow, PAGE_SIZE + 1, newest=timezone.now())
    response = operator_client.get(LIST, {"kind": "invalid"})
    page = response.context["page"]
    last = page.items[-1]
    href = response.content.decode().split('rel="next" href="')[1].split('"')[0]
    query = parse_qs(urlparse(href.replace("&amp;", "&")).query)
    assert query["kind"] == ["invalid"]
    assert query["after"] == [f"{last.last_seen.isoformat()}_{last.pk}"]


def test_the_list_query_selects_no_json_columns_and_counts_nothing(operator_client, demo_flow):
    ReviewItemFactory.create_batch(5, flow=demo_flow)
    for params in ({}, {"q": "Ada"}, {"kind": "invalid", "assigned": "nobody"}):
        with CaptureQueriesContext(connection) as queries:
            response = operator_client.get(LIST, params)
        assert response.status_code == 200
        (list_query,) = _item_list_queries(queries)
        selected = list_query.split(" FROM ")[0]
        assert not [column for column in JSON_COLUMNS if column in selected]
        assert "LIMIT 51" in list_query
        assert not any("COUNT(" in q["sql"].upper() for q in queries)


def test_the_query_count_does_not_grow_with_page_depth(
    operator_client, demo_flow, django_assert_num_queries
):
    _items_seen_in_order(demo_flow, 3 * PAGE_SIZE, newest=timezone.now())
    # session, user, permissions (2), the page of items, the flows for the filter's choices,
    # the user's saved views;
    # the same at any depth
    with django_assert_num_queries(7):
        response = operator_client.get(LIST)
    for _ in range(2):
        with django_assert_num_queries(7):
            response = _follow(operator_client, response, "next")
    assert len(response.context["page"]) == PAGE_SIZE


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"kind": "no_such_kind"}, b"Kind: Select a valid choice"),
        ({"status": "lost"}, b"Status: Select a valid choice"),
        ({"flow": "abc"}, b"Flow: Select a valid choice"),
        ({"assigned": "everyone"}, b"Assigned to: Select a valid choice"),
        ({"after": "yesterday_7"}, b"Position (after): &#x27;yesterday_7&#x27; is not a position"),
        ({"before": "2026-11-26T10:00:00_7"}, b"has no time zone"),
    ],
)
def test_an_invalid_filter_value_is_answered_400_with_the_reason(operator_client, params, reason):
    response = operator_client.get(LIST, params)
    assert response.status_code == 400
    assert reason in response.content
    assert response.context["page"] is None


@pytest.mark.parametrize(
    "words", ["Grace Hopper", "grace@remington.example", "remington rand", "CRM-4711"]
)
def test_search_finds_a_contact_by_name_email_company_or_source_id(
    operator_client, demo_flow, words
):
    ReviewItemFactory(
        flow=demo_flow,
        source_id="CRM-4711",
        payload={
            "name": "Grace Hopper",
            "email": "grace@remington.example",
            "company": "Remington Rand",
        },
    )
    ReviewItemFactory.create_batch(3, flow=demo_flow)
    response = operator_client.get(LIST, {"q": words})
    assert [i.source_id for i in response.context["page"]] == ["CRM-4711"]


def test_search_finds_items_by_reason(operator_client):
    response = operator_client.get(LIST, {"q": "already exists"})
    assert [i.source_id for i in response.context["page"]] == ["C-0029"]


def test_the_overview_counts_only_items_needing_attention(operator_client, demo_flow):
    for item in ReviewItemFactory.create_batch(3, flow=demo_flow):
        ReviewItem.objects.filter(pk=item.pk).update(status=ReviewItem.Status.RESOLVED)
    ReviewItemFactory(flow=demo_flow, status=ReviewItem.Status.RETRYING)
    response = operator_client.get(reverse("ops:overview"))
    (flow,) = [f for f in response.context["flows"] if f.pk == demo_flow.pk]
    assert flow.open_items == 5
    assert {row["kind"]: row["count"] for row in response.context["failures"]} == {
        "invalid": 3,
        "already_exists": 1,
        "target_rejected": 1,
    }
