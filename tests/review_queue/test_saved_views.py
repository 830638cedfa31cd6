"""Saved views of the queue list: the built-in tabs, saving the current filters, deleting."""

import pytest
from django.urls import reverse

from review_queue.models import SavedView
from review_queue.saved_views import SavedViewInvalid, saved_view_create, saved_view_query
from tests.factories import UserFactory, demo_user

pytestmark = pytest.mark.django_db

LIST = reverse("review_queue:item_list")
CREATE = reverse("review_queue:saved_view_create")


def _delete_url(view: SavedView) -> str:
    return reverse("review_queue:saved_view_delete", args=[view.pk])


def test_the_list_shows_the_built_in_views_and_marks_the_current_one(operator_client):
    response = operator_client.get(LIST, {"assigned": "me"})

    links = response.context["views"]["built_in"]
    assert [link.name for link in links] == [
        "All needing attention",
        "Mine",
        "Unassigned",
        "Past SLA",
        "Possible duplicates",
    ]
    assert [link.name for link in links if link.current] == ["Mine"]
    assert f'href="{LIST}?kind=possible_duplicate"'.encode() in response.content


def test_the_default_list_is_all_needing_attention(operator_client):
    response = operator_client.get(LIST, {"status": "active", "kind": "", "after": ""})

    assert [link.name for link in response.context["views"]["built_in"] if link.current] == [
        "All needing attention"
    ]


def test_saving_stores_the_current_filters_in_canonical_form(operator_client, queued):
    query = "flow=&kind=invalid&status=active&assigned=&q=+C-00&fingerprint=&past_sla=&after=x"
    response = operator_client.post(CREATE, {"name": "Invalid ones", "filter_query": query})

    view = SavedView.objects.get()
    assert (view.owner, view.name, view.query) == (
        demo_user("olivia"),
        "Invalid ones",
        "kind=invalid&q=+C-00",
    )
    assert response.status_code == 302
    assert response.url == f"{LIST}?kind=invalid&q=+C-00"
    listed = operator_client.get(response.url)
    assert [(link.name, link.current) for link in listed.context["views"]["saved"]] == [
        ("Invalid ones", True)
    ]


def test_an_empty_status_is_kept_since_it_means_any_status():
    assert saved_view_query("status=&kind=") == "status="
    assert saved_view_query("status=active&kind=invalid") == "kind=invalid"


def test_an_invalid_filter_is_refused_with_its_reasons(operator_client, queued):
    response = operator_client.post(
        CREATE,
        {"name": "Broken", "filter_query": "kind=no_such_kind&fingerprint=abc"},
        follow=True,
    )

    assert not SavedView.objects.exists()
    problems = [str(message) for message in response.context["messages"]]
    assert any("Kind: Select a valid choice" in problem for problem in problems)
    assert any("Not a group" in problem for problem in problems)
    assert all(problem.startswith("View not saved:") for problem in problems)


def test_a_name_is_required_and_unique_per_owner(queued):
    olivia, bruno = demo_user("olivia"), demo_user("bruno")
    saved_view_create(owner=olivia, name="Mine too", query="assigned=me")

    with pytest.raises(SavedViewInvalid, match="already have a view named"):
        saved_view_create(owner=olivia, name="Mine too", query="kind=invalid")
    with pytest.raises(SavedViewInvalid, match="give the view a name"):
        saved_view_create(owner=olivia, name="  ", query="kind=invalid")
    saved_view_create(owner=bruno, name="Mine too", query="assigned=me")
    assert SavedView.objects.count() == 2


def test_a_user_sees_only_their_own_views(operator_client, queued):
    saved_view_create(owner=demo_user("bruno"), name="Bruno's", query="kind=invalid")
    saved_view_create(owner=demo_user("olivia"), name="Olivia's", query="kind=conflict")

    response = operator_client.get(LIST)

    assert [link.name for link in response.context["views"]["saved"]] == ["Olivia's"]
    assert b"Bruno&#x27;s" not in response.content


def test_the_owner_deletes_a_view(operator_client, queued):
    view = saved_view_create(owner=demo_user("olivia"), name="Old", query="kind=invalid")

    response = operator_client.post(_delete_url(view))

    assert response.status_code == 302
    assert not SavedView.objects.exists()


def test_someone_elses_view_cannot_be_deleted(operator_client, queued):
    view = saved_view_create(owner=demo_user("bruno"), name="Bruno's", query="kind=invalid")

    response = operator_client.post(_delete_url(view))

    assert response.status_code == 404
    assert SavedView.objects.filter(pk=view.pk).exists()


def test_deleting_takes_a_post(operator_client, queued):
    view = saved_view_create(owner=demo_user("olivia"), name="Old", query="kind=invalid")

    assert operator_client.get(_delete_url(view)).status_code == 405
    assert SavedView.objects.filter(pk=view.pk).exists()


def test_saving_needs_the_queues_view_permission(client, queued):
    client.force_login(UserFactory())

    response = client.post(CREATE, {"name": "Nope", "filter_query": "kind=invalid"})

    assert response.status_code == 403
    assert not SavedView.objects.exists()


def test_saving_needs_a_login(client, queued):
    response = client.post(CREATE, {"name": "Nope", "filter_query": "kind=invalid"})

    assert response.status_code == 302
    assert "login" in response.url
    assert not SavedView.objects.exists()


def test_saving_checks_the_csrf_token(queued):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(demo_user("olivia"))

    response = client.post(CREATE, {"name": "Forged", "filter_query": "kind=invalid"})

    assert response.status_code == 403
    assert not SavedView.objects.exists()
