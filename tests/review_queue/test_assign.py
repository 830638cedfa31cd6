"""Assigning an item to someone, or to nobody, with its history."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from review_queue.services import ActionNotAllowed, people_who_may_act, review_item_assign
from tests.factories import demo_user

pytestmark = pytest.mark.django_db


def test_an_operator_assigns_an_item_to_a_colleague_who_then_has_it_in_progress(
    operator_client, queued
):
    item = queued["C-0007"]
    response = operator_client.post(
        reverse("review_queue:item_assign", args=[item.pk]),
        {"assignee": demo_user("bruno").pk, "item_version": item.version},
    )

    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.assignee, item.status) == (demo_user("bruno"), "in_progress")
    event = item.events.latest("id")
    assert (event.action, event.actor, event.note) == (
        "assigned",
        "user:olivia",
        "Assigned to bruno.",
    )


def test_unassigning_gives_the_item_back_to_the_queue(queued):
    item = review_item_assign(
        item=queued["C-0007"], user=demo_user("olivia"), assignee=demo_user("bruno")
    )
    item = review_item_assign(item=item, user=demo_user("olivia"), assignee=None)

    assert (item.assignee, item.status) == (None, "open")
    assert item.events.latest("id").note == "It was bruno's."


def test_an_item_cannot_be_given_to_someone_who_may_not_act_on_items(queued):
    outsider = User.objects.create_user("outsider")

    with pytest.raises(ActionNotAllowed, match="may not act"):
        review_item_assign(item=queued["C-0007"], user=demo_user("olivia"), assignee=outsider)
    assert outsider not in people_who_may_act()
    assert demo_user("olivia") in people_who_may_act()


def test_a_closed_item_cannot_be_assigned(queued):
    from review_queue.services import review_item_dismiss

    item = review_item_dismiss(item=queued["C-0007"], user=demo_user("olivia"), reason="Noise")
    with pytest.raises(ActionNotAllowed):
        review_item_assign(item=item, user=demo_user("olivia"), assignee=demo_user("bruno"))
