"""The overview, the console's home page: what it shows, and what it costs."""

import pytest
from django.urls import reverse

from integration_console.ops.models import OverviewSnapshot
from integration_console.ops.services import overview_recount
from review_queue.models import ReviewItem
from tests.factories import FlowFactory, ReviewItemFactory, SyncRunFactory

pytestmark = pytest.mark.django_db

OVERVIEW = reverse("ops:overview")


def test_the_home_page_and_the_old_sync_overview_lead_to_it(operator_client):
    assert operator_client.get(reverse("home")).url == OVERVIEW
    response = operator_client.get(reverse("sync:overview"), follow=True)
    assert response.redirect_chain[-1][0] == OVERVIEW
    assert response.status_code == 200


def test_it_shows_the_flows_with_their_items_needing_attention(operator_client, flow):
    quiet = FlowFactory(name="ERP invoices to CRM")
    ReviewItemFactory.create_batch(2, flow=flow)
    ReviewItemFactory(flow=flow, status=ReviewItem.Status.RETRYING)
    for item in ReviewItemFactory.create_batch(3, flow=flow):
        ReviewItem.objects.filter(pk=item.pk).update(status=ReviewItem.Status.RESOLVED)

    response = operator_client.get(OVERVIEW)

    open_items = {f.name: f.open_items for f in response.context["flows"]}
    assert open_items == {flow.name: 3, quiet.name: 0}
    assert b"CRM contacts to ERP customers" in response.content
    assert b"ERP invoices to CRM" in response.content


def test_it_shows_the_recent_runs(operator_client, flow):
    run = SyncRunFactory(flow=flow, read_count=40, created_count=36, failed_count=4)
    response = operator_client.get(OVERVIEW)
    assert list(response.context["runs"]) == [run]
    assert f'href="{reverse("sync:run_detail", args=[run.pk])}"'.encode() in response.content


def test_it_shows_the_active_items_by_kind_linked_to_the_queue(operator_client, flow):
    ReviewItemFactory.create_batch(2, flow=flow)
    ReviewItemFactory(flow=flow, kind="target_rejected")
    dismissed = ReviewItemFactory(flow=flow, kind="conflict")
    ReviewItem.objects.filter(pk=dismissed.pk).update(status=ReviewItem.Status.DISMISSED)

    response = operator_client.get(OVERVIEW)

    assert response.context["failures"] == [
        {"kind": "invalid", "label": "Invalid", "count": 2},
        {"kind": "target_rejected", "label": "Rejected by target", "count": 1},
    ]
    content = response.content.decode()
    assert f'href="{reverse("review_queue:item_list")}?kind=target_rejected"' in content
    assert '<div class="fs-3 fw-semibold count" id="backlog-total">3</div>' in content


def test_it_draws_the_four_charts_with_their_numbers(operator_client, known_items):
    response = operator_client.get(OVERVIEW)
    content = response.content.decode()
    for chart_id, title in [
        ("chart-opened", "Items opened per day"),
        ("chart-closed", "Items closed per day"),
        ("chart-backlog", "Backlog by age"),
        ("chart-resolve", "Median time to resolve, per day"),
    ]:
        assert f'<title id="{chart_id}-title">{title}</title>' in content
        assert f'<table class="table table-sm table-striped mb-0" id="{chart_id}-numbers">' in (
            content
        )
    # Which bucket or day an item falls in depends on today's date (tests/ops/test_trends
    # pin it); how many items the backlog holds does not.
    backlog = response.context["charts"]["backlog"]
    assert sum(row[-1] for row in backlog.rows) == 6
    assert '<th scope="row" class="fw-normal text-nowrap">&lt; 1 hour</th>' in content


def test_flow_names_are_escaped(operator_client):
    flow = FlowFactory(name="<script>alert(1)</script>")
    SyncRunFactory(flow=flow)
    ReviewItemFactory(flow=flow)
    response = operator_client.get(OVERVIEW)
    assert b"<script>alert(1)</script>" not in response.content
    assert response.content.count(b"&lt;script&gt;alert(1)&lt;/script&gt;") == 2  # flows, runs


def count_queries(client, django_assert_max_num_queries, limit):
    with django_assert_max_num_queries(limit) as captured:
        response = client.get(OVERVIEW)
    assert response.status_code == 200
    return len(captured)


def test_the_overview_costs_a_fixed_number_of_queries(
    operator_client, flow, known_items, django_assert_max_num_queries
):
    # session, user, the user's and its groups' permissions; the queue's figures as last
    # counted (one row); the flows and the recent runs.
    SyncRunFactory(flow=flow)
    overview_recount()
    assert count_queries(operator_client, django_assert_max_num_queries, 7) == 7

    for other in FlowFactory.create_batch(3):
        SyncRunFactory.create_batch(2, flow=other)
        ReviewItemFactory.create_batch(5, flow=other, kind="conflict")
    assert count_queries(operator_client, django_assert_max_num_queries, 7) == 7


def test_counting_the_figures_costs_a_fixed_number_of_queries_too(
    operator_client, flow, known_items, django_assert_max_num_queries
):
    # As above, and the figures counted (the active items by flow, kind and age in one pass;
    # items opened per day; items closed per day; the medians to resolve, per day and overall,
    # in one query) and kept (an update, and the first time an insert in a savepoint).
    SyncRunFactory(flow=flow)
    assert count_queries(operator_client, django_assert_max_num_queries, 16) == 16

    for other in FlowFactory.create_batch(3):
        SyncRunFactory.create_batch(2, flow=other)
        ReviewItemFactory.create_batch(5, flow=other, kind="conflict")
    OverviewSnapshot.objects.all().delete()
    assert count_queries(operator_client, django_assert_max_num_queries, 16) == 16
