"""Acting on many items at once, from the queue's list."""

import httpx
import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from review_queue.models import ReviewItem
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def status_of(source_id: str) -> str:
    return ReviewItem.objects.get(source_id=source_id).status


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_ticked_items_are_dismissed_with_the_reason(operator_client, queued):
    response = operator_client.post(
        reverse("review_queue:bulk_action"),
        {
            "action": "dismiss",
            "reason": "Test contacts",
            "items": [queued["C-0007"].pk, queued["C-0021"].pk],
        },
    )
    assert response.status_code == 302
    assert said(response) == ["Dismissed 2 items."]
    assert (status_of("C-0007"), status_of("C-0021"), status_of("C-0013")) == (
        "dismissed",
        "dismissed",
        "open",
    )
    assert ReviewItem.objects.get(source_id="C-0007").resolution == "Test contacts"


def test_every_item_matching_the_filters_is_retried_once_the_source_is_fixed(
    operator_client, queued, simulator, django_capture_on_commit_callbacks
):
    httpx.put(f"{simulator.crm_url}/contacts/C-0013", json={"country": "Austria"})
    httpx.put(f"{simulator.crm_url}/contacts/C-0007", json={"email": "found@example.com"})
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            reverse("review_queue:bulk_action"),
            {
                "action": "retry",
                "all_matching": "on",
                "filter_query": "kind=invalid",
            },
        )
    assert said(response) == ["Retry queued for 2 items."]
    assert response.url.endswith("?kind=invalid")
    assert (status_of("C-0007"), status_of("C-0013"), status_of("C-0021")) == (
        "resolved",
        "resolved",
        "open",
    )


def test_items_whose_status_forbids_the_action_are_passed_over_and_counted(operator_client, queued):
    operator_client.post(
        reverse("review_queue:bulk_action"),
        {
            "action": "dismiss",
            "reason": "first",
            "items": [queued["C-0029"].pk],
        },
    )
    response = operator_client.post(
        reverse("review_queue:bulk_action"),
        {
            "action": "retry",
            "items": [queued["C-0029"].pk, queued["C-0021"].pk],
        },
    )
    assert said(response)[-1] == (
        "Retry queued for 1 item. 1 passed over: their status does not allow it."
    )


def test_dismissing_in_bulk_needs_a_reason_and_changes_nothing_without_one(operator_client, queued):
    response = operator_client.post(
        reverse("review_queue:bulk_action"),
        {
            "action": "dismiss",
            "items": [queued["C-0007"].pk],
        },
    )
    assert said(response) == ["Say why these items are dismissed."]
    assert status_of("C-0007") == "open"


def test_bulk_actions_need_the_permission_to_act(client, queued):
    client.force_login(UserFactory(permissions=["review_queue.view_reviewitem"]))
    response = client.post(
        reverse("review_queue:bulk_action"),
        {
            "action": "dismiss",
            "reason": "x",
            "items": [queued["C-0007"].pk],
        },
    )
    assert response.status_code == 403
    assert status_of("C-0007") == "open"


def test_a_bulk_action_on_all_matching_refuses_a_filter_it_cannot_use(operator_client, queued):
    from django.contrib.messages import get_messages
    from django.urls import reverse

    from review_queue.models import ReviewItem

    response = operator_client.post(
        reverse("review_queue:bulk_action"),
        {
            "action": "dismiss",
            "reason": "Noise",
            "all_matching": "on",
            "filter_query": "kind=no_such_kind",
        },
    )

    assert [str(m) for m in get_messages(response.wsgi_request)][0].startswith("Nothing done")
    assert ReviewItem.objects.filter(status="dismissed").count() == 0
