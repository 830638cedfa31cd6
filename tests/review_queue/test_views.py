"""The queue's pages: who may see and do what, and what they show."""

import pytest
from django.urls import reverse

from review_queue.models import ReviewItem
from tests.factories import ReviewItemFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_are_sent_to_log_in(client, queued):
    item = queued["C-0013"]
    for url in [
        reverse("review_queue:item_list"),
        reverse("review_queue:item_detail", args=[item.pk]),
        reverse("ops:overview"),
    ]:
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    response = client.post(reverse("review_queue:item_retry", args=[item.pk]))
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN


def test_a_user_without_a_role_is_refused(client, queued):
    client.force_login(UserFactory())
    assert client.get(reverse("review_queue:item_list")).status_code == 403
    item = queued["C-0013"]
    assert client.post(reverse("review_queue:item_retry", args=[item.pk])).status_code == 403


def test_the_queue_lists_items_needing_attention_and_filters_by_kind(operator_client):
    response = operator_client.get(reverse("review_queue:item_list"))
    assert {i.source_id for i in response.context["page"]} == {
        "C-0007",
        "C-0013",
        "C-0021",
        "C-0029",
    }
    response = operator_client.get(reverse("review_queue:item_list"), {"kind": "already_exists"})
    assert [i.source_id for i in response.context["page"]] == ["C-0029"]


def test_retry_needs_post(operator_client, queued):
    response = operator_client.get(reverse("review_queue:item_retry", args=[queued["C-0021"].pk]))
    assert response.status_code == 405


def test_an_invalid_fix_is_refused_with_the_field_error_and_changes_nothing(
    operator_client, queued
):
    item = queued["C-0013"]
    data = {**item.payload, "country_code": "XX"}
    response = operator_client.post(reverse("review_queue:item_fix", args=[item.pk]), data)
    assert response.status_code == 422
    assert "country_code" in response.context["fix_form"].errors
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN


def test_payload_values_are_escaped_on_the_detail_page(operator_client, queued):
    item = queued["C-0021"]
    item.source_snapshot = {"company": "<script>alert(1)</script>"}
    item.save()
    response = operator_client.get(reverse("review_queue:item_detail", args=[item.pk]))
    assert b"<script>alert(1)</script>" not in response.content
    assert b"&lt;script&gt;" in response.content


def test_the_overview_shows_the_runs_counts(operator_client):
    response = operator_client.get(reverse("ops:overview"))
    run = response.context["runs"][0]
    assert (run.read_count, run.created_count, run.failed_count) == (40, 36, 4)
    assert b"CRM contacts" in response.content
    assert response.context["failures"] == [
        {"kind": "invalid", "label": "Invalid", "count": 2},
        {"kind": "already_exists", "label": "Already exists in target", "count": 1},
        {"kind": "target_rejected", "label": "Rejected by target", "count": 1},
    ]


def test_the_queue_list_costs_the_same_few_queries_however_many_items(
    operator_client, demo_flow, django_assert_max_num_queries
):
    ReviewItemFactory.create_batch(30, flow=demo_flow)
    # session, user, 2 permissions, one keyset page of items (no count), the flows for the
    # filter's choices, the user's saved views
    with django_assert_max_num_queries(7):
        response = operator_client.get(reverse("review_queue:item_list"))
    assert len(response.context["page"]) == 34


def test_the_item_page_costs_a_fixed_number_of_queries(
    operator_client, queued, django_assert_max_num_queries
):
    # session, user, 2 permissions, the item, the record link, and per paged list (timeline,
    # audit entries) a count and a page
    with django_assert_max_num_queries(12):
        operator_client.get(reverse("review_queue:item_detail", args=[queued["C-0013"].pk]))


def test_mine_shows_only_the_items_i_took(operator_client, queued):
    item = queued["C-0021"]
    operator_client.post(
        reverse("review_queue:item_take", args=[item.pk]), {"item_version": item.version}
    )
    response = operator_client.get(reverse("review_queue:item_list"), {"assigned": "me"})
    assert [i.source_id for i in response.context["page"]] == ["C-0021"]


def test_an_empty_comment_is_refused_and_nothing_is_added(operator_client, queued):
    item = queued["C-0007"]
    response = operator_client.post(
        reverse("review_queue:item_comment", args=[item.pk]), {"body": "  "}
    )
    assert response.status_code == 422
    assert item.comments.count() == 0


def test_run_now_queues_a_run_and_shows_it(
    operator_client, demo_flow, in_process_jobs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(reverse("sync:run_start", args=[demo_flow.pk]))
    run = demo_flow.runs.first()
    assert response.url == reverse("sync:run_detail", args=[run.pk])
    run.refresh_from_db()
    assert run.triggered_by == "user:olivia"
    assert (run.status, run.skipped_count, run.failed_count) == ("succeeded_with_failures", 36, 4)


def test_a_runs_audit_entries_can_be_narrowed_to_its_failures(operator_client, demo_flow):
    run = demo_flow.runs.first()
    response = operator_client.get(reverse("sync:run_detail", args=[run.pk]), {"outcome": "failed"})
    assert sorted(e.source_id for e in response.context["page"]) == [
        "C-0007",
        "C-0013",
        "C-0021",
        "C-0029",
    ]
    everything = operator_client.get(reverse("sync:run_detail", args=[run.pk]))
    assert everything.context["page"].paginator.count == 40
