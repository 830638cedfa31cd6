"""Two operators on one item: the second, acting on the version they opened, is told what
changed since, nothing of their action is applied, and nothing they typed is lost."""

import re
import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from integration_console import roles
from integration_console.sync.models import AuditEntry, Correction, RecordLink
from review_queue import services
from review_queue.models import ReviewItem, ReviewItemEvent
from tests.factories import UserFactory, demo_user, run_flow

pytestmark = pytest.mark.django_db

NOTHING_SAVED = "Nothing was saved; review the item and try again."


@pytest.fixture
def olivia(client, queued):
    client.force_login(demo_user("olivia"))
    return client


@pytest.fixture
def oscar(queued):
    """A second operator, in a browser of his own."""
    client = Client()
    client.force_login(UserFactory(username="oscar", role=roles.OPERATOR))
    return client


def opened(client, item: ReviewItem) -> int:
    """Open the item's page; the version every one of its action forms carries."""
    page = client.get(reverse("review_queue:item_detail", args=[item.pk])).content.decode()
    versions = set(re.findall(r'name="item_version" value="(\d+)"', page))
    assert len(versions) == 1, versions
    return int(versions.pop())


def act(client, action: str, item: ReviewItem, version: int, **data):
    url = reverse(f"review_queue:item_{action}", args=[item.pk])
    return client.post(url, {"item_version": version, **data})


def told(response) -> str:
    """The page's notice that the item changed, as text."""
    html = response.content.decode()
    notice = re.search(r'id="item-changed".*?</div>', html, re.S)
    assert notice, "no notice that the item changed"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", notice.group(0)))


def fix_data(item: ReviewItem, **changes) -> dict:
    return {**item.payload, **changes}


def test_a_dismissal_after_someone_linked_the_item_is_refused_and_names_who_linked(
    olivia, oscar, queued
):
    item = queued["C-0029"]
    seen = opened(oscar, item)
    assert act(olivia, "link", item, opened(olivia, item), target_id="E-10002").status_code == 302

    response = act(oscar, "dismiss", item, seen, reason="Not a customer")

    assert response.status_code == 409
    notice = told(response)
    assert "This item changed since you opened it:" in notice
    assert "olivia resolved it: “Linked to E-10002 in Simulated ERP.”" in notice
    assert NOTHING_SAVED in notice
    item.refresh_from_db()
    assert (item.status, item.resolution) == ("resolved", "Linked to E-10002 in Simulated ERP.")
    assert not item.events.filter(action=ReviewItemEvent.Action.DISMISSED).exists()
    assert not AuditEntry.objects.filter(source_id="C-0029", action="dismiss").exists()


def test_a_link_after_someone_dismissed_the_item_is_refused_and_links_nothing(
    olivia, oscar, queued
):
    item = queued["C-0029"]
    seen = opened(oscar, item)
    act(olivia, "dismiss", item, opened(olivia, item), reason="Same person as E-10002, kept")

    response = act(oscar, "link", item, seen, target_id="E-10002")

    assert response.status_code == 409
    assert "olivia dismissed it: “Same person as E-10002, kept”" in told(response)
    item.refresh_from_db()
    assert item.status == "dismissed"
    assert not RecordLink.objects.filter(source_id="C-0029").exists()
    assert not AuditEntry.objects.filter(source_id="C-0029", action="link").exists()
    # What the operator typed is still in the form the page shows.
    assert response.context["link_form"]["target_id"].value() == "E-10002"


def test_a_second_fix_is_refused_and_comes_back_with_its_values(
    olivia, oscar, queued, django_capture_on_commit_callbacks
):
    item = queued["C-0013"]
    seen = opened(oscar, item)
    with django_capture_on_commit_callbacks(execute=True):
        response = act(
            olivia, "fix", item, opened(olivia, item), **fix_data(item, country_code="DE")
        )
    assert response.status_code == 302

    response = act(
        oscar, "fix", item, seen, **fix_data(item, country_code="AT", company="Grimani GmbH")
    )

    assert response.status_code == 409
    notice = told(response)
    assert "olivia corrected country_code and asked for a retry" in notice
    assert "olivia resolved it" in notice  # the retry olivia asked for went through since
    assert NOTHING_SAVED in notice
    form = response.context["fix_form"]
    assert (form["country_code"].value(), form["company"].value()) == ("AT", "Grimani GmbH")
    html = response.content.decode()
    assert 'value="Grimani GmbH"' in html and '<option value="AT" selected>' in html
    assert "Your correction (not saved)" in html  # resolved now: shown, not offered to send
    item.refresh_from_db()
    assert (item.status, item.payload["country_code"]) == ("resolved", "DE")
    assert not Correction.objects.filter(made_by="user:oscar").exists()
    assert not item.events.filter(actor="user:oscar").exists()


def test_a_fix_refused_while_the_item_can_still_be_fixed_is_sent_again_after_review(
    olivia, oscar, queued
):
    item = queued["C-0013"]
    seen = opened(oscar, item)
    act(olivia, "take", item, opened(olivia, item))

    response = act(oscar, "fix", item, seen, **fix_data(item, country_code="AT"))

    assert response.status_code == 409
    assert "olivia took it" in told(response)
    html = response.content.decode()
    assert '<option value="AT" selected>' in html and "Save and retry" in html
    # The page now carries the version it shows: sent from it, the fix is applied.
    version = int(re.search(r'name="item_version" value="(\d+)"', html).group(1))
    assert version == seen + 1
    response = act(oscar, "fix", item, version, **fix_data(item, country_code="AT"))
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == "retrying"
    fixed = item.events.get(action=ReviewItemEvent.Action.PAYLOAD_FIXED)
    assert (fixed.actor, fixed.details["changes"]) == ("user:oscar", {"country_code": ["BR", "AT"]})


def test_an_invalid_fix_sent_on_an_old_version_shows_its_errors_and_what_changed(
    olivia, oscar, queued
):
    item = queued["C-0013"]
    seen = opened(oscar, item)
    act(olivia, "take", item, opened(olivia, item))

    response = act(oscar, "fix", item, seen, **fix_data(item, country_code="XX"))

    assert response.status_code == 422
    assert "country_code" in response.context["fix_form"].errors
    assert "olivia took it" in told(response)


def test_a_retry_after_someone_dismissed_the_item_is_refused_and_queues_nothing(
    olivia, oscar, queued, django_capture_on_commit_callbacks
):
    item = queued["C-0021"]
    seen = opened(oscar, item)
    act(olivia, "dismiss", item, opened(olivia, item), reason="Test record")

    with django_capture_on_commit_callbacks() as callbacks:
        response = act(oscar, "retry", item, seen)

    assert response.status_code == 409
    assert "olivia dismissed it: “Test record”" in told(response)
    assert callbacks == []
    item.refresh_from_db()
    assert (item.status, item.version) == ("dismissed", seen + 1)
    assert not item.events.filter(action=ReviewItemEvent.Action.RETRY_REQUESTED).exists()


def test_a_dismissal_after_someone_asked_for_a_retry_is_refused_and_the_retry_goes_on(
    olivia, oscar, queued
):
    item = queued["C-0021"]
    seen = opened(oscar, item)
    act(olivia, "retry", item, opened(olivia, item))  # its job is not run: still retrying

    response = act(oscar, "dismiss", item, seen, reason="Test record")

    assert response.status_code == 409
    assert "olivia asked for a retry" in told(response)
    assert response.context["dismiss_form"]["reason"].value() == "Test record"
    item.refresh_from_db()
    assert item.status == "retrying"
    assert not AuditEntry.objects.filter(source_id="C-0021", action="dismiss").exists()


def test_an_assignment_over_someone_elses_is_refused_and_theirs_stands(olivia, oscar, queued):
    item = queued["C-0007"]
    seen = opened(oscar, item)
    act(olivia, "assign", item, opened(olivia, item), assignee=demo_user("bruno").pk)

    response = act(oscar, "assign", item, seen, assignee=demo_user("ada").pk)

    assert response.status_code == 409
    assert "olivia assigned it to bruno" in told(response)
    item.refresh_from_db()
    assert item.assignee == demo_user("bruno")
    assert item.events.filter(action=ReviewItemEvent.Action.ASSIGNED).count() == 1


def test_a_failure_a_run_recorded_since_counts_as_a_change(
    oscar, queued, demo_flow, django_capture_on_commit_callbacks
):
    item = queued["C-0013"]
    seen = opened(oscar, item)
    run_flow(demo_flow, django_capture_on_commit_callbacks)  # C-0013 fails again

    response = act(oscar, "fix", item, seen, **fix_data(item, country_code="AT"))

    assert response.status_code == 409
    assert "saw it fail again" in told(response)
    assert not Correction.objects.exists()


def test_the_same_action_sent_twice_by_its_operator_is_done_once_without_a_warning(olivia, queued):
    item = queued["C-0029"]
    seen = opened(olivia, item)
    assert act(olivia, "dismiss", item, seen, reason="Duplicate").status_code == 302

    response = act(olivia, "dismiss", item, seen, reason="Duplicate")  # a double click

    assert response.status_code == 302
    assert item.events.filter(action=ReviewItemEvent.Action.DISMISSED).count() == 1


def test_an_action_that_does_not_say_which_version_it_saw_is_refused(olivia, queued):
    item = queued["C-0021"]
    url = reverse("review_queue:item_dismiss", args=[item.pk])

    response = olivia.post(url, {"reason": "Test record"})

    assert response.status_code == 422
    assert "did not say which version of the item you saw" in response.content.decode()
    item.refresh_from_db()
    assert (item.status, item.version) == ("open", 1)


def test_every_action_form_on_the_item_page_carries_the_version(olivia, queued):
    item = queued["C-0029"]
    page = reverse("review_queue:item_detail", args=[item.pk])
    html = olivia.get(page).content.decode()
    forms = re.findall(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', html, re.S)
    on_the_item = {url.removeprefix(page).strip("/"): body for url, body in forms if page in url}
    assert set(on_the_item) == {"take", "assign", "fix", "link", "retry", "dismiss", "comment"}
    for action, body in on_the_item.items():
        # A comment changes nothing of the item, so it is never refused for a change.
        assert ('name="item_version" value="1"' in body) == (action != "comment"), action


def test_the_services_refuse_a_stale_version_and_apply_nothing(queued):
    item = queued["C-0007"]
    services.review_item_take(item=item, user=demo_user("olivia"), expected_version=1)

    with pytest.raises(services.ItemChanged) as refused:
        services.review_item_reopen(
            item=item, user=demo_user("ada"), reason="x", expected_version=1
        )
    for stale in (
        lambda: services.review_item_retry(item=item, user=demo_user("ada"), expected_version=1),
        lambda: services.review_item_take(item=item, user=demo_user("ada"), expected_version=1),
        lambda: services.review_item_assign(
            item=item, user=demo_user("ada"), assignee=None, expected_version=1
        ),
        lambda: services.review_item_dismiss(
            item=item, user=demo_user("ada"), reason="x", expected_version=1
        ),
    ):
        with pytest.raises(services.ItemChanged):
            stale()

    assert refused.value.version == 2
    assert [(c.who, c.what) for c in refused.value.changes] == [("olivia", "took it")]
    assert str(refused.value).startswith("This item changed since you opened it: olivia took it")
    item.refresh_from_db()
    assert (item.version, item.assignee, item.status) == (2, demo_user("olivia"), "in_progress")
    assert not item.events.filter(actor="user:ada").exists()


def test_every_change_of_an_item_moves_its_version_on_and_records_it_on_its_event(
    queued, django_capture_on_commit_callbacks
):
    item = queued["C-0021"]
    services.review_item_take(item=item, user=demo_user("olivia"))
    services.review_item_assign(item=item, user=demo_user("olivia"), assignee=None)
    with django_capture_on_commit_callbacks(execute=True):
        services.review_item_retry(item=item, user=demo_user("olivia"))  # fails again
    services.review_item_dismiss(item=item, user=demo_user("olivia"), reason="x")
    services.review_item_reopen(item=item, user=demo_user("olivia"), reason="y")
    services.review_item_comment(item=item, user=demo_user("olivia"), body="no change")

    item.refresh_from_db()
    events = list(item.events.values_list("action", "item_version"))
    assert events == [
        ("opened", 1),
        ("taken", 2),
        ("unassigned", 3),
        ("retry_requested", 4),
        ("retry_failed", 5),
        ("dismissed", 6),
        ("reopened", 7),
    ]
    assert item.version == 7


@pytest.mark.django_db(transaction=True)
def test_two_fixes_sent_at_once_on_the_same_version_one_wins(
    demo_flow, in_process_jobs, django_capture_on_commit_callbacks
):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serializes writes, so this race needs PostgreSQL (the lane-2 run)")
    run_flow(demo_flow, django_capture_on_commit_callbacks)
    item = ReviewItem.objects.get(source_id="C-0013")
    oscar = UserFactory(username="oscar", role=roles.OPERATOR)
    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def fix(user, country: str) -> None:
        try:
            start.wait(5)
            services.review_item_retry(
                item=item,
                user=user,
                payload={**item.payload, "country_code": country},
                expected_version=item.version,
            )
            outcomes[user.username] = "applied"
        except Exception as exc:  # noqa: BLE001 - the test reads what each thread met
            outcomes[user.username] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=fix, args=(demo_user("olivia"), "DE")),
        threading.Thread(target=fix, args=(oscar, "AT")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    winners = [name for name, outcome in outcomes.items() if outcome == "applied"]
    losers = [outcome for outcome in outcomes.values() if outcome != "applied"]
    assert len(winners) == 1 and [type(e) for e in losers] == [services.ItemChanged]
    assert losers[0].changes[0].who == winners[0]
    fixes = ReviewItemEvent.objects.filter(item=item, action=ReviewItemEvent.Action.PAYLOAD_FIXED)
    assert [e.actor for e in fixes] == [f"user:{winners[0]}"]
    assert {c.made_by for c in Correction.objects.all()} == {f"user:{winners[0]}"}
