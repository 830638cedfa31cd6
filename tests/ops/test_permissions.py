"""Who may read the overview: whoever may see runs and review items."""

import pytest
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

OVERVIEW = reverse("ops:overview")


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(OVERVIEW)
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={OVERVIEW}"


def test_a_user_without_permissions_is_refused(client):
    client.force_login(UserFactory())
    assert client.get(OVERVIEW).status_code == 403


@pytest.mark.parametrize("permission", ["sync.view_syncrun", "review_queue.view_reviewitem"])
def test_one_of_the_two_permissions_is_not_enough(client, permission):
    client.force_login(UserFactory(permissions=[permission]))
    assert client.get(OVERVIEW).status_code == 403


def test_a_user_who_may_see_runs_and_review_items_may_read_it(client):
    client.force_login(
        UserFactory(permissions=["sync.view_syncrun", "review_queue.view_reviewitem"])
    )
    assert client.get(OVERVIEW).status_code == 200


def test_the_run_now_button_shows_only_to_those_who_may_start_runs(client, operator_client):
    from tests.factories import FlowFactory

    FlowFactory()
    assert b"Run now" in operator_client.get(OVERVIEW).content
    client.force_login(
        UserFactory(permissions=["sync.view_syncrun", "review_queue.view_reviewitem"])
    )
    assert b"Run now" not in client.get(OVERVIEW).content
