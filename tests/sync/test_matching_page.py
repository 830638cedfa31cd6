"""A flow's matching page: the match spec as people read it, the index and its refresh, and
the thresholds with a preview of what they would have decided for the flow's recent
decisions, saved by an admin into the data class's match spec."""

import itertools

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from integration_console import roles
from integration_console.matching.spec import MatchSpec, default_people_spec
from integration_console.sync import match_preview
from integration_console.sync.dispatch import JobNotQueued
from integration_console.sync.match_preview import (
    ThresholdsNotSaved,
    match_thresholds_save,
    matching_preview,
    recent_match_decisions,
    score_bands,
)
from integration_console.sync.models import AuditEntry, TargetRecord, TargetRecordKey
from tests.factories import (
    PASSWORD,
    AuditEntryFactory,
    FlowFactory,
    ReviewItemFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

SOURCE_IDS = itertools.count()
ROLES = {"email": "email", "given_name": "given_name", "family_name": "family_name"}


def page_of(flow) -> str:
    return reverse("sync:flow_matching", args=[flow.pk])


@pytest.fixture
def flow():
    """A flow whose data class is matched with the default people spec (0.85 and 0.7)."""
    return FlowFactory(data_class__matching=default_people_spec(ROLES).to_config())


def score(total: float, *, uncapped: float | None = None, caps: tuple[str, ...] = ()) -> dict:
    return {
        "total": total,
        "fields": [],
        "uncapped": total if uncapped is None else uncapped,
        "caps": list(caps),
        "names_swapped": False,
    }


def auto_linked(flow, total: float, **kwargs) -> AuditEntry:
    kwargs.setdefault("source_id", f"linked-{next(SOURCE_IDS)}")
    return AuditEntryFactory(
        flow=flow,
        action=AuditEntry.Action.LINK,
        match={"target_id": "E-1", "values": {}, "score": score(total), "linked_from": ""},
        **kwargs,
    )


def possible_duplicate(flow, *candidates: dict, **kwargs):
    kwargs.setdefault("source_id", f"duplicate-{next(SOURCE_IDS)}")
    return ReviewItemFactory(
        flow=flow,
        kind="possible_duplicate",
        reason="Looks like E-1",
        field_errors={},
        candidates=[
            {"target_id": f"E-{i}", "values": {}, "linked_from": "", **candidate}
            for i, candidate in enumerate(candidates)
        ],
        **kwargs,
    )


@pytest.fixture
def decided(flow):
    """Three auto-links and six possible duplicates of known scores."""
    for total in (0.95, 0.9, 0.86):
        auto_linked(flow, total)
    for total in (0.84, 0.8, 0.72):
        possible_duplicate(flow, {"score": score(total)})
    possible_duplicate(flow, {"score": score(0.9)}, {"score": score(0.75)})
    possible_duplicate(flow, {"score": score(0.97), "linked_from": "C-0004"})
    # The names differ: capped below the auto-link threshold of the day.
    possible_duplicate(flow, {"score": score(0.84, uncapped=0.95, caps=("the names differ",))})
    return flow


def counts(outcomes) -> tuple[int, int, int]:
    return (outcomes.auto_link, outcomes.review, outcomes.new)


def test_the_preview_counts_what_the_current_thresholds_decide(decided):
    preview = matching_preview(flow=decided, spec=decided.data_class.match_spec)

    assert preview.decisions == 9
    assert counts(preview.as_decided) == (3, 6, 0)
    assert counts(preview.current) == (3, 6, 0)
    assert preview.tried is None


def test_lower_thresholds_link_more_and_send_the_weakest_to_new(decided):
    preview = matching_preview(
        flow=decided, spec=decided.data_class.match_spec, auto_link=0.8, review=0.75
    )

    # 0.84 and 0.8 are linked now; 0.72 falls below review; the pair 0.9/0.75 still has two
    # candidates from 0.75 up, the linked candidate still needs a person, and the capped 0.95
    # is capped below 0.8 (0.79): review.
    assert counts(preview.tried) == (5, 3, 1)
    assert counts(preview.current) == (3, 6, 0)
    # The two newly linked went to review without a person rule on record: at most.
    assert preview.unsure_links == 2


def test_higher_thresholds_link_a_candidate_once_its_runner_up_drops_out(decided):
    preview = matching_preview(
        flow=decided, spec=decided.data_class.match_spec, auto_link=0.9, review=0.8
    )

    # 0.86 goes to review; 0.9 with a runner-up at 0.75 (now below review) is linked.
    assert counts(preview.tried) == (3, 5, 1)


def test_a_record_counts_once_by_its_latest_decision(flow):
    possible_duplicate(flow, {"score": score(0.8)}, source_id="C-0001")
    auto_linked(flow, 0.9, source_id="C-0001")  # a person lowered the threshold and retried

    (decision,) = recent_match_decisions(flow=flow)
    assert (decision.source_id, decision.decided, decision.score) == ("C-0001", "auto_link", 0.9)


def test_the_preview_reads_the_latest_decisions_in_two_queries(decided, django_assert_num_queries):
    auto_linked(decided, 0.99)
    spec = decided.data_class.match_spec

    with django_assert_num_queries(2):
        preview = matching_preview(flow=decided, spec=spec, auto_link=0.8, review=0.7, limit=4)

    assert preview.decisions == 4
    assert preview.limit == 4


def test_decisions_of_other_flows_and_links_made_by_people_are_not_counted(decided):
    other = FlowFactory(data_class=decided.data_class)
    auto_linked(other, 0.99)
    possible_duplicate(other, {"score": score(0.8)})
    AuditEntryFactory(flow=decided, action=AuditEntry.Action.LINK, match=None)
    ReviewItemFactory(flow=decided)  # an invalid record, not a duplicate

    assert matching_preview(flow=decided, spec=decided.data_class.match_spec).decisions == 9


def test_the_histogram_puts_each_best_score_in_its_band(flow):
    for total in (0.55, 0.7, 0.85, 0.849, 1.0):
        auto_linked(flow, total)
    decisions = recent_match_decisions(flow=flow)

    bands = score_bands(decisions, auto_link=0.85, review=0.7)

    assert [(band.low, band.high) for band in bands][:2] == [(0.5, 0.55), (0.55, 0.6)]
    assert bands[-1].high == 1.0
    counted = {band.low: counts(band.outcomes) for band in bands if band.count}
    assert counted == {
        0.55: (0, 0, 1),
        0.7: (0, 1, 0),
        0.8: (0, 1, 0),
        0.85: (1, 0, 0),
        0.95: (1, 0, 0),
    }


def test_the_page_shows_the_spec_and_the_preview_of_the_thresholds_tried(
    client, decided, django_assert_max_num_queries
):
    client.force_login(UserFactory(role=roles.OPERATOR))

    with django_assert_max_num_queries(12):
        response = client.get(page_of(decided), {"auto_link": "0.8", "review": "0.75"})

    assert response.status_code == 200
    html = response.content.decode()
    assert response.context["tried"] == {"auto_link": 0.8, "review": 0.75}
    assert [
        (r["label"], r["current"], r["tried"], r["change"])
        for r in response.context["outcome_rows"]
    ] == [
        ("Auto-linked", 3, 5, "+2"),
        ("Sent to review", 6, 3, "-3"),
        ("Created as new", 0, 1, "+1"),
    ]
    assert "E-mail address" in html and "Weight" in html
    assert "are not recorded" in html
    assert "2 of the auto-links counted went to review with no person rule on record" in html
    # An operator may try thresholds, not save them.
    assert "Use these thresholds" not in html
    assert "Saving thresholds needs the permission to change data classes" in html


@pytest.mark.parametrize(
    ("auto_link", "review", "message"),
    [
        ("high", "0.7", "Auto-link at: Enter a number."),
        ("1.5", "0.7", "Auto-link at: Ensure this value is less than or equal to 1"),
        ("0.85", "-0.1", "Review from: Ensure this value is greater than or equal to 0"),
        ("0.7", "0.8", "review (0.8) must be below auto_link (0.7)"),
        ("0.8", "0.8", "review (0.8) must be below auto_link (0.8)"),
        ("", "0.7", "Auto-link at: This field is required."),
    ],
)
def test_invalid_thresholds_say_what_is_wrong(client, flow, auto_link, review, message):
    client.force_login(UserFactory(role=roles.ADMIN))

    response = client.get(page_of(flow), {"auto_link": auto_link, "review": review})

    html = response.content.decode()
    assert "These thresholds cannot be used" in html
    assert message in html
    assert response.context["tried"] is None
    assert "Use these thresholds" not in html


def test_an_operator_may_not_save_thresholds(client, flow):
    client.force_login(UserFactory(role=roles.OPERATOR))

    response = client.post(
        reverse("sync:flow_matching_thresholds", args=[flow.pk]),
        {"auto_link": "0.8", "review": "0.6"},
    )

    assert response.status_code == 403
    flow.data_class.refresh_from_db()
    assert flow.data_class.match_spec.auto_link == 0.85


def test_an_admin_saves_thresholds_and_the_data_class_history_records_who(client, flow):
    admin = UserFactory(role=roles.ADMIN)
    client.force_login(admin)
    before = flow.data_class.matching

    response = client.post(
        reverse("sync:flow_matching_thresholds", args=[flow.pk]),
        {"auto_link": "0.8", "review": "0.6"},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == page_of(flow)
    assert [str(m) for m in get_messages(response.wsgi_request)][0].startswith("Thresholds saved")
    data_class = flow.data_class
    data_class.refresh_from_db()
    assert (data_class.matching["auto_link"], data_class.matching["review"]) == (0.8, 0.6)
    assert {k: v for k, v in data_class.matching.items() if k not in ("auto_link", "review")} == {
        k: v for k, v in before.items() if k not in ("auto_link", "review")
    }
    latest = data_class.history.latest()
    assert latest.history_user == admin
    assert latest.history_change_reason == (
        "Matching thresholds: auto-link 0.85 → 0.8, review 0.7 → 0.6"
    )
    assert response.context["spec"].auto_link == 0.8


def test_saving_the_thresholds_already_in_force_writes_no_history(flow):
    admin = UserFactory(role=roles.ADMIN)
    versions = flow.data_class.history.count()

    saved = match_thresholds_save(
        data_class=flow.data_class, auto_link=0.85, review=0.7, user=admin
    )

    assert saved is False
    assert flow.data_class.history.count() == versions


def test_thresholds_are_checked_by_the_match_spec_when_saved(flow):
    with pytest.raises(ThresholdsNotSaved) as refused:
        match_thresholds_save(
            data_class=flow.data_class, auto_link=0.6, review=0.7, user=UserFactory()
        )

    assert "review (0.7) must be below auto_link (0.6)" in str(refused.value)
    flow.data_class.refresh_from_db()
    assert MatchSpec.from_config(flow.data_class.matching).auto_link == 0.85


def test_invalid_thresholds_posted_are_not_saved_and_say_why(client, flow):
    client.force_login(UserFactory(role=roles.ADMIN))

    response = client.post(
        reverse("sync:flow_matching_thresholds", args=[flow.pk]),
        {"auto_link": "0.6", "review": "0.7"},
        follow=True,
    )

    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages[0].startswith("Thresholds not saved: review (0.7) must be below auto_link")
    assert "csrfmiddlewaretoken" not in response.redirect_chain[-1][0]
    flow.data_class.refresh_from_db()
    assert flow.data_class.matching["auto_link"] == 0.85


def test_read_the_target_again_queues_the_job_that_fills_the_index(
    client, shipped_demo_flow, in_process_jobs, django_capture_on_commit_callbacks
):
    flow = shipped_demo_flow
    index = {"system_id": flow.target_system_id, "resource": flow.target_resource}
    TargetRecordKey.objects.filter(record__in=TargetRecord.objects.filter(**index)).delete()
    TargetRecord.objects.filter(**index).delete()
    client.login(username="olivia", password="olivia-demo")
    assert "Nothing indexed yet" in client.get(page_of(flow)).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("sync:flow_matching_refresh", args=[flow.pk]))

    assert response.status_code == 302
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages == [
        "Queued: reading Simulated ERP's customers into the index again. The count and the "
        "time last seen below change once it is done."
    ]
    assert TargetRecord.objects.filter(**index).count() == 5  # the ERP's seeded customers
    assert TargetRecordKey.objects.filter(record__in=TargetRecord.objects.filter(**index)).exists()
    page = client.get(page_of(flow))
    assert page.context["index"]["records"] == 5
    assert '<strong class="count" id="index-count">5</strong> records indexed' in (
        page.content.decode()
    )


def test_a_refresh_the_job_queue_refuses_is_not_called_queued(client, flow, monkeypatch):
    def refuse(*args, **kwargs):
        raise JobNotQueued("The job queue did not take the job: Redis is down")

    monkeypatch.setattr(match_preview, "enqueue_job", refuse)
    client.force_login(UserFactory(role=roles.OPERATOR))

    response = client.post(reverse("sync:flow_matching_refresh", args=[flow.pk]))

    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages == [
        "Not queued: The job queue did not take the job: Redis is down The index is as it was."
    ]


def test_refreshing_needs_the_permission_to_start_runs(client, flow):
    client.force_login(UserFactory(permissions=["sync.view_flow"]))

    response = client.post(reverse("sync:flow_matching_refresh", args=[flow.pk]))

    assert response.status_code == 403


def test_the_page_needs_the_permission_to_view_flows(client, flow):
    client.force_login(UserFactory())
    assert client.get(page_of(flow)).status_code == 403
    client.logout()
    assert client.get(page_of(flow)).status_code == 302  # to the login page


def test_a_flow_without_matching_says_so_and_where_to_set_it(client):
    flow = FlowFactory()
    client.force_login(UserFactory(role=roles.ADMIN))

    response = client.get(page_of(flow))

    html = response.content.decode()
    assert "No matching: a record link is the only identity." in html
    assert reverse("admin:catalog_dataclass_change", args=[flow.data_class.pk]) in html
    assert 'id="thresholds-form"' not in html
    refresh = client.post(reverse("sync:flow_matching_refresh", args=[flow.pk]))
    assert [str(m) for m in get_messages(refresh.wsgi_request)][0].startswith("Not queued: Contact")


def test_stored_matching_that_does_not_parse_is_shown_with_its_problems(client):
    flow = FlowFactory(data_class__matching={"roles": {}, "blocking": [], "fields": []})
    client.force_login(UserFactory(role=roles.OPERATOR))

    html = client.get(page_of(flow)).content.decode()

    assert "No matching: a record link is the only identity." in html
    assert "blocking: name at least one key kind" in html


def test_the_overview_links_each_flow_to_its_matching_page(client, flow):
    client.login(username=UserFactory(role=roles.OPERATOR).username, password=PASSWORD)

    html = client.get(reverse("ops:overview")).content.decode()

    assert f'href="{page_of(flow)}"' in html
