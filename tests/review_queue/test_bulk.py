"""Acting on many items at once, from the queue's list: the request records a bulk action and
queues its job; its page shows the progress."""

import time

import httpx
import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from integration_console import roles
from review_queue.bulk import bulk_action_execute
from review_queue.models import BulkAction, ReviewItem
from tests.factories import ReviewItemFactory, UserFactory, demo_user

pytestmark = pytest.mark.django_db


def status_of(source_id: str) -> str:
    return ReviewItem.objects.get(source_id=source_id).status


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def page_of(bulk_action: BulkAction) -> str:
    return reverse("review_queue:bulk_action_detail", args=[bulk_action.pk])


def test_the_request_records_the_action_and_answers_before_any_item_is_touched(
    operator_client, queued
):
    # The job is queued for after the commit, which this test's transaction never reaches.
    started = time.monotonic()
    response = operator_client.post(
        reverse("review_queue:bulk_action"),
        {"action": "dismiss", "reason": "Test contacts", "all_matching": "on"},
    )
    answered_in = time.monotonic() - started

    bulk_action = BulkAction.objects.get()
    assert response.status_code == 302 and response.url == page_of(bulk_action)
    assert answered_in < 1
    assert said(response) == [
        "Queued: dismiss all items matching the filters. This page shows its progress."
    ]
    assert (bulk_action.status, bulk_action.action, bulk_action.parameters) == (
        "queued",
        "dismiss",
        {"reason": "Test contacts"},
    )
    assert bulk_action.requested_by == demo_user("olivia")
    assert ReviewItem.objects.filter(status="dismissed").count() == 0


def test_ticked_items_are_dismissed_with_the_reason(
    operator_client, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            reverse("review_queue:bulk_action"),
            {
                "action": "dismiss",
                "reason": "Test contacts",
                "items": [queued["C-0007"].pk, queued["C-0021"].pk],
            },
        )
    assert response.status_code == 302
    assert said(response) == ["Queued: dismiss 2 items. This page shows its progress."]
    assert (status_of("C-0007"), status_of("C-0021"), status_of("C-0013")) == (
        "dismissed",
        "dismissed",
        "open",
    )
    assert ReviewItem.objects.get(source_id="C-0007").resolution == "Test contacts"
    bulk_action = BulkAction.objects.get()
    assert (bulk_action.status, bulk_action.total, bulk_action.done, bulk_action.succeeded) == (
        "succeeded",
        2,
        2,
        2,
    )


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
    bulk_action = BulkAction.objects.get()
    assert response.url == page_of(bulk_action)
    assert bulk_action.filter_query == "kind=invalid"
    assert (status_of("C-0007"), status_of("C-0013"), status_of("C-0021")) == (
        "resolved",
        "resolved",
        "open",
    )
    assert (bulk_action.status, bulk_action.total, bulk_action.succeeded) == ("succeeded", 2, 2)


def test_items_whose_status_forbids_the_action_are_refused_and_listed_with_the_reason(
    operator_client, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(
            reverse("review_queue:bulk_action"),
            {"action": "dismiss", "reason": "first", "items": [queued["C-0029"].pk]},
        )
        response = operator_client.post(
            reverse("review_queue:bulk_action"),
            {"action": "retry", "items": [queued["C-0029"].pk, queued["C-0021"].pk]},
        )
    bulk_action = BulkAction.objects.get(action="retry")
    assert (bulk_action.status, bulk_action.succeeded, bulk_action.refused) == (
        "succeeded_with_failures",
        1,
        1,
    )

    page = operator_client.get(response.url)
    refusals = page.content.decode()
    assert "C-0029" in refusals and "A dismissed item cannot be retried." in refusals


def test_the_progress_page_shows_the_counts_and_refreshes_only_while_the_action_runs(
    operator_client, queued, django_capture_on_commit_callbacks
):
    response = operator_client.post(
        reverse("review_queue:bulk_action"),
        {"action": "dismiss", "reason": "Noise", "items": [queued["C-0007"].pk]},
    )
    waiting = operator_client.get(response.url)
    assert b'http-equiv="refresh"' in waiting.content
    assert b'id="cancel-form"' in waiting.content

    bulk_action_execute(bulk_action_id=BulkAction.objects.get().pk)
    done = operator_client.get(response.url)
    assert b'http-equiv="refresh"' not in done.content
    assert b'id="cancel-form"' not in done.content
    assert "1 of 1 done (100%)" in done.content.decode()


def test_dismissing_in_bulk_needs_a_reason_and_records_nothing_without_one(operator_client, queued):
    response = operator_client.post(
        reverse("review_queue:bulk_action"),
        {
            "action": "dismiss",
            "items": [queued["C-0007"].pk],
        },
    )
    assert said(response) == ["Say why these items are dismissed."]
    assert status_of("C-0007") == "open"
    assert not BulkAction.objects.exists()


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
    assert not BulkAction.objects.exists()


def test_a_bulk_action_on_all_matching_refuses_a_filter_it_cannot_use(operator_client, queued):
    response = operator_client.post(
        reverse("review_queue:bulk_action"),
        {
            "action": "dismiss",
            "reason": "Noise",
            "all_matching": "on",
            "filter_query": "kind=no_such_kind",
        },
    )

    assert said(response)[0].startswith("Nothing done")
    assert ReviewItem.objects.filter(status="dismissed").count() == 0
    assert not BulkAction.objects.exists()


def test_cancel_on_the_page_stops_a_queued_action_before_it_starts(
    operator_client, queued, django_capture_on_commit_callbacks
):
    response = operator_client.post(
        reverse("review_queue:bulk_action"),
        {"action": "dismiss", "reason": "Noise", "all_matching": "on"},
    )
    bulk_action = BulkAction.objects.get()
    cancelled = operator_client.post(
        reverse("review_queue:bulk_action_cancel", args=[bulk_action.pk])
    )

    assert cancelled.url == response.url
    assert said(cancelled)[-1] == "Cancelled."
    bulk_action_execute(bulk_action_id=bulk_action.pk)  # its job, when it comes
    bulk_action.refresh_from_db()
    assert (bulk_action.status, bulk_action.done) == ("cancelled", 0)
    assert ReviewItem.objects.filter(status="dismissed").count() == 0


def test_another_operator_cannot_see_or_cancel_your_bulk_action(client, operator_client, queued):
    operator_client.post(
        reverse("review_queue:bulk_action"),
        {"action": "dismiss", "reason": "Noise", "items": [queued["C-0007"].pk]},
    )
    bulk_action = BulkAction.objects.get()
    client.force_login(UserFactory(role=roles.OPERATOR))

    assert client.get(page_of(bulk_action)).status_code == 404
    cancel = reverse("review_queue:bulk_action_cancel", args=[bulk_action.pk])
    assert client.post(cancel).status_code == 404
    assert b"#%d" % bulk_action.pk not in client.get(reverse("review_queue:bulk_action")).content
    bulk_action.refresh_from_db()
    assert bulk_action.status == "queued"


def test_staff_see_everyones_bulk_actions(client, operator_client, queued):
    operator_client.post(
        reverse("review_queue:bulk_action"),
        {"action": "dismiss", "reason": "Noise", "items": [queued["C-0007"].pk]},
    )
    bulk_action = BulkAction.objects.get()
    client.force_login(UserFactory(role=roles.BUSINESS_OWNER))

    assert client.get(page_of(bulk_action)).status_code == 200
    listed = client.get(reverse("review_queue:bulk_action")).content.decode()
    assert f"#{bulk_action.pk}" in listed and "olivia" in listed


def test_the_bulk_pages_need_the_permission_to_act(client, operator_client, queued):
    operator_client.post(
        reverse("review_queue:bulk_action"),
        {"action": "dismiss", "reason": "Noise", "items": [queued["C-0007"].pk]},
    )
    bulk_action = BulkAction.objects.get()
    client.force_login(UserFactory(permissions=["review_queue.view_reviewitem"]))

    assert client.get(page_of(bulk_action)).status_code == 403
    assert client.get(reverse("review_queue:bulk_action")).status_code == 403
    for name in ("bulk_action_cancel", "bulk_action_resume"):
        assert client.post(reverse(f"review_queue:{name}", args=[bulk_action.pk])).status_code == (
            403
        )


def test_the_bulk_pages_need_a_login(client, queued):
    response = client.get(reverse("review_queue:bulk_action"))
    assert response.status_code == 302 and "login" in response.url


def test_your_recent_bulk_actions_are_listed(operator_client, queued):
    operator_client.post(
        reverse("review_queue:bulk_action"),
        {"action": "dismiss", "reason": "Noise", "items": [queued["C-0007"].pk]},
    )
    bulk_action = BulkAction.objects.get()

    listed = operator_client.get(reverse("review_queue:bulk_action"))
    assert listed.status_code == 200
    assert page_of(bulk_action) in listed.content.decode()


# Without a surrounding transaction, as in a real request: the enqueue happens at once.
@pytest.mark.django_db(transaction=True)
def test_with_the_queue_refusing_the_job_the_user_is_told_it_was_not_queued(client, settings):
    item = ReviewItemFactory()
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # port 9 (discard) is closed here
    settings.RQ_QUEUES = {"default": {"URL": settings.REDIS_URL, "DEFAULT_TIMEOUT": 60}}
    client.force_login(UserFactory(role=roles.OPERATOR))

    response = client.post(
        reverse("review_queue:bulk_action"),
        {"action": "dismiss", "reason": "Noise", "items": [item.pk]},
        follow=True,
    )

    bulk_action = BulkAction.objects.get()
    assert response.redirect_chain[-1][0] == page_of(bulk_action)
    [message] = [str(m) for m in response.context["messages"]]
    assert "NOT queued" in message and "queued." not in message
    assert (bulk_action.status, bulk_action.error[:10]) == ("failed", "Not queued")
    assert "The action was not queued" in response.content.decode()
    item.refresh_from_db()
    assert item.status == "open"
