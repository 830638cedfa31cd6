"""The operator's actions on a review item, as services."""

import pytest

from integration_console.sync.models import AuditEntry, RecordLink
from review_queue import services
from review_queue.models import ReviewItem, ReviewItemEvent
from tests.factories import demo_user, run_flow

pytestmark = pytest.mark.django_db


def test_fixing_the_payload_and_retrying_resolves_the_item_and_links_the_target(
    queued, django_capture_on_commit_callbacks
):
    item = queued["C-0013"]
    fixed = {**item.payload, "country_code": "DE"}
    with django_capture_on_commit_callbacks(execute=True):
        services.review_item_retry(item=item, user=demo_user("olivia"), payload=fixed)

    item.refresh_from_db()
    assert item.status == ReviewItem.Status.RESOLVED
    link = RecordLink.objects.get(source_id="C-0013")
    assert item.target_id == link.target_id
    assert item.payload["country_code"] == "DE"
    entry = AuditEntry.objects.filter(source_id="C-0013").first()
    assert (entry.outcome, entry.action, entry.actor) == ("succeeded", "create", "user:olivia")
    assert entry.payload["country_code"] == "DE"
    actions = list(item.events.values_list("action", flat=True))
    assert actions == ["opened", "payload_fixed", "resolved"]
    assert item.events.get(action="payload_fixed").details == {
        "changes": {"country_code": ["BR", "DE"]}
    }


def test_a_retry_that_fails_again_reopens_the_item_with_the_new_reason(
    queued, django_capture_on_commit_callbacks
):
    item = queued["C-0021"]
    with django_capture_on_commit_callbacks(execute=True):
        services.review_item_retry(item=item, user=demo_user("olivia"))

    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN
    assert item.occurrences == 1
    assert list(item.events.values_list("action", flat=True)) == [
        "opened",
        "retry_requested",
        "retry_failed",
    ]


def test_retrying_twice_while_a_retry_is_pending_queues_one_retry(
    queued, django_capture_on_commit_callbacks
):
    item = queued["C-0021"]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.review_item_retry(item=item, user=demo_user("olivia"))
        services.review_item_retry(item=item, user=demo_user("olivia"))
    assert len(callbacks) == 1


def test_dismissing_keeps_the_reason_in_history_and_audit(queued):
    item = queued["C-0029"]
    services.review_item_dismiss(item=item, user=demo_user("olivia"), reason="Same person, kept")

    item.refresh_from_db()
    assert item.status == ReviewItem.Status.DISMISSED
    assert item.events.last().note == "Same person, kept"
    entry = AuditEntry.objects.get(source_id="C-0029", action="dismiss")
    assert entry.actor == "user:olivia"
    assert entry.failure_reason == "Dismissed: Same person, kept"


def test_a_closed_item_cannot_be_retried(queued):
    item = queued["C-0029"]
    services.review_item_dismiss(item=item, user=demo_user("olivia"), reason="n/a")
    with pytest.raises(services.ActionNotAllowed):
        services.review_item_retry(item=item, user=demo_user("olivia"))


def test_a_later_successful_sync_resolves_the_open_item(
    queued, simulator, demo_flow, django_capture_on_commit_callbacks
):
    import httpx

    httpx.put(f"{simulator.crm_url}/contacts/C-0013", json={"country": "Austria"})
    run_flow(demo_flow, django_capture_on_commit_callbacks)

    item = ReviewItem.objects.get(pk=queued["C-0013"].pk)
    assert item.status == ReviewItem.Status.RESOLVED
    assert item.events.last().action == ReviewItemEvent.Action.RESOLVED
    assert item.events.last().actor.startswith("job:run-")


def test_a_retry_that_cannot_start_reopens_the_item_with_the_reason(
    queued, demo_flow, django_capture_on_commit_callbacks
):
    demo_flow.field_map.versions.update(status="retired")
    item = queued["C-0013"]
    with django_capture_on_commit_callbacks(execute=True):
        services.review_item_retry(item=item, user=demo_user("olivia"))

    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN
    assert item.kind == "mapping_error"
    assert "has no active version" in item.reason


def test_a_retry_that_hits_a_bug_reopens_the_item_as_an_internal_error(
    queued, django_capture_on_commit_callbacks, monkeypatch
):
    from integration_console.sync import pipeline

    def broken(*args, **kwargs):
        raise KeyError("surprise")

    monkeypatch.setattr(pipeline, "payload_errors", broken)
    item = queued["C-0013"]
    with django_capture_on_commit_callbacks(execute=True):
        services.review_item_retry(item=item, user=demo_user("olivia"), payload=item.payload)

    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN
    assert item.kind == "internal_error"
    assert "KeyError" in item.reason


def test_taking_an_item_assigns_it_and_marks_it_in_progress(queued):
    item = services.review_item_take(item=queued["C-0021"], user=demo_user("olivia"))
    assert (item.status, item.assignee.username) == ("in_progress", "olivia")
    again = services.review_item_take(item=item, user=demo_user("olivia"))
    assert again.events.filter(action="taken").count() == 1


def test_taking_over_someone_elses_item_says_so(queued):
    services.review_item_take(item=queued["C-0021"], user=demo_user("olivia"))
    item = services.review_item_take(item=queued["C-0021"], user=demo_user("bruno"))
    assert item.assignee.username == "bruno"
    assert item.events.last().note == "Taken over from olivia."


def test_a_dismissed_item_can_be_reopened_with_a_reason(queued):
    item = services.review_item_dismiss(
        item=queued["C-0029"], user=demo_user("olivia"), reason="dup"
    )
    item = services.review_item_reopen(item=item, user=demo_user("bruno"), reason="Not a dup")
    assert item.status == ReviewItem.Status.OPEN
    assert item.events.last().note == "Not a dup"


def test_reopening_is_refused_while_a_newer_item_for_the_record_is_open(
    queued, demo_flow, django_capture_on_commit_callbacks
):
    old = services.review_item_dismiss(
        item=queued["C-0029"], user=demo_user("olivia"), reason="dup"
    )
    run_flow(demo_flow, django_capture_on_commit_callbacks)  # C-0029 fails again: new item
    newer = ReviewItem.objects.get(source_id="C-0029", status="open")
    with pytest.raises(services.ActionNotAllowed, match=f"#{newer.pk}"):
        services.review_item_reopen(item=old, user=demo_user("olivia"), reason="x")


def test_a_comment_is_kept_with_its_author_and_changes_nothing_of_the_item(queued):
    item = queued["C-0007"]
    services.review_item_comment(
        item=item, user=demo_user("olivia"), body="Asked sales for the email"
    )
    comment = item.comments.get()
    assert (comment.author, comment.body) == (demo_user("olivia"), "Asked sales for the email")
    item.refresh_from_db()
    assert (item.version, item.events.count()) == (1, 1)  # no change, so no stale pages


def test_linking_a_duplicate_to_the_existing_target_resolves_it_and_later_syncs_update_it(
    queued, demo_flow, simulator, django_capture_on_commit_callbacks
):
    import httpx

    item = services.review_item_link(
        item=queued["C-0029"], user=demo_user("olivia"), target_id="E-10002"
    )

    assert item.status == ReviewItem.Status.RESOLVED
    assert item.resolution == "Linked to E-10002 in Simulated ERP."
    assert RecordLink.objects.get(source_id="C-0029").target_id == "E-10002"
    entry = AuditEntry.objects.filter(source_id="C-0029").first()
    assert (entry.action, entry.outcome, entry.target_id) == ("link", "succeeded", "E-10002")

    httpx.put(f"{simulator.crm_url}/contacts/C-0029", json={"company": "Renamed GmbH"})
    run = run_flow(demo_flow, django_capture_on_commit_callbacks)
    assert (run.failed_count, run.updated_count) == (3, 1)
    customer = httpx.get(f"{simulator.erp_url}/customers/E-10002").json()
    assert customer["crm_ref"] == "C-0029"
    # The ERP owns the company field: the link makes C-0029 update E-10002, but not that.
    assert customer["company"] != "Renamed GmbH"


def test_linking_to_a_record_the_target_does_not_have_is_refused(queued):
    with pytest.raises(services.ActionNotAllowed, match="has no record E-99999"):
        services.review_item_link(
            item=queued["C-0029"], user=demo_user("olivia"), target_id="E-99999"
        )
    assert ReviewItem.objects.get(pk=queued["C-0029"].pk).status == ReviewItem.Status.OPEN
    assert not RecordLink.objects.filter(source_id="C-0029").exists()


def test_a_corrected_payload_the_target_still_refuses_keeps_the_source_snapshot(
    queued, django_capture_on_commit_callbacks
):
    item = queued["C-0021"]
    with django_capture_on_commit_callbacks(execute=True):
        services.review_item_retry(
            item=item, user=demo_user("olivia"), payload={**item.payload, "phone": "+12"}
        )

    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN
    assert item.payload["phone"] == "+12"
    assert item.source_snapshot["phone"] == "12-34 call me"
    assert item.source_snapshot["first_name"]


def test_a_retry_that_never_answers_frees_the_item_after_a_while(queued, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.REVIEW_RETRY_STALE_AFTER = 600
    item = queued["C-0021"]
    item.status = ReviewItem.Status.RETRYING
    item.retry_requested_at = timezone.now() - timedelta(minutes=5)
    item.save()
    assert not item.is_actionable
    with pytest.raises(services.ActionNotAllowed):
        services.review_item_dismiss(item=item, user=demo_user("olivia"), reason="x")

    item.retry_requested_at = timezone.now() - timedelta(minutes=11)
    item.save()
    assert item.retry_is_stale and item.is_actionable
    services.review_item_dismiss(item=item, user=demo_user("olivia"), reason="lost job")
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.DISMISSED


def test_a_failure_racing_another_for_a_new_record_joins_the_item_the_other_opened(
    queued, demo_flow, monkeypatch
):
    from integration_console.sync.failures import RecordFailure

    existing = queued["C-0021"]
    real_look = services._active_item
    looks = []

    def first_look_misses(flow, source_id):
        # The first look misses the item the other attempt has just opened.
        looks.append(source_id)
        return None if len(looks) == 1 else real_look(flow, source_id)

    monkeypatch.setattr(services, "_active_item", first_look_misses)

    item = services.review_item_record_failure(
        flow=demo_flow,
        source_id="C-0021",
        failure=RecordFailure("target_rejected", "again"),
        source_record={"id": "C-0021"},
        payload=None,
        actor="job:run-2",
    )
    assert len(looks) == 2
    assert item.pk == existing.pk
    assert item.occurrences == 2
    assert ReviewItem.objects.filter(source_id="C-0021").count() == 1
