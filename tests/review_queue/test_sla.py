"""SLAs per flow and kind: due times, items past them, and the e-mail that escalates a breach."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integration_console import roles
from integration_console.sync.failures import FailureKind, RecordFailure
from review_queue import sla
from review_queue.models import ReviewItem, ReviewItemEvent, ReviewSla
from review_queue.services import review_item_record_failure, review_item_reopen
from review_queue.sla import (
    review_items_past_sla,
    review_items_to_escalate,
    review_sla_apply,
    review_sla_escalate,
    review_sla_for,
)
from tests.factories import FlowFactory, ReviewItemFactory, UserFactory

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


@pytest.fixture
def flow():
    return FlowFactory()


@pytest.fixture
def operator_web(client):
    client.force_login(UserFactory(role=roles.OPERATOR))
    return client


def no_business_owner_has_an_email() -> None:
    """The factories' field maps were approved by business owners (with addresses)."""
    User.objects.filter(groups__name=roles.BUSINESS_OWNER).update(email="")


def item_due_in(flow, delta: timedelta, **fields) -> ReviewItem:
    """An item whose SLA runs out ``delta`` from now (negative: it ran out that long ago)."""
    item = ReviewItemFactory(flow=flow, **fields)
    ReviewItem.objects.filter(pk=item.pk).update(sla_due_at=timezone.now() + delta)
    item.refresh_from_db()
    return item


def failure(kind: str = FailureKind.INVALID) -> RecordFailure:
    return RecordFailure(kind=kind, reason="email: Enter a valid email address.")


# --- which rule, and when it runs out ------------------------------------------------------


def test_the_most_specific_active_rule_wins(flow):
    other_flow = FlowFactory()
    default = ReviewSla.objects.create(within=24 * HOUR)
    by_kind = ReviewSla.objects.create(kind=FailureKind.CONFLICT, within=8 * HOUR)
    by_flow = ReviewSla.objects.create(flow=flow, within=4 * HOUR)
    by_both = ReviewSla.objects.create(flow=flow, kind=FailureKind.CONFLICT, within=HOUR)
    ReviewSla.objects.create(flow=flow, kind=FailureKind.INVALID, within=HOUR, active=False)
    rules = list(ReviewSla.objects.filter(active=True))

    def rule(flow_id, kind):
        return review_sla_for(rules, flow_id=flow_id, kind=kind)

    assert rule(flow.pk, FailureKind.CONFLICT) == by_both
    assert rule(flow.pk, FailureKind.INVALID) == by_flow  # the inactive flow+kind rule is not
    assert rule(other_flow.pk, FailureKind.CONFLICT) == by_kind
    assert rule(other_flow.pk, FailureKind.INVALID) == default
    assert review_sla_for([], flow_id=flow.pk, kind=FailureKind.INVALID) is None


def test_a_second_active_rule_for_one_scope_is_refused_with_a_clear_message(flow):
    ReviewSla.objects.create(flow=flow, kind=FailureKind.INVALID, within=HOUR)
    ReviewSla.objects.create(kind=FailureKind.INVALID, within=HOUR)

    for duplicate in (
        ReviewSla(flow=flow, kind=FailureKind.INVALID, within=2 * HOUR),
        ReviewSla(kind=FailureKind.INVALID, within=2 * HOUR),
    ):
        with pytest.raises(ValidationError, match="There is already an active SLA for"):
            duplicate.full_clean()
    ReviewSla(flow=flow, kind=FailureKind.INVALID, within=HOUR, active=False).full_clean()
    with pytest.raises(ValidationError, match="at least one minute"):
        ReviewSla(within=timedelta(seconds=30)).full_clean()


def test_an_item_gets_its_due_time_when_it_opens(flow):
    ReviewSla.objects.create(flow=flow, within=4 * HOUR)

    item = review_item_record_failure(
        flow=flow, source_id="C-1", failure=failure(), source_record={}, payload=None, actor="t"
    )

    assert item.sla_due_at is not None
    assert abs(item.sla_due_at - (item.first_seen + 4 * HOUR)) < timedelta(seconds=1)
    assert not item.is_past_sla


def test_a_repeat_failure_of_another_kind_takes_that_kinds_sla_from_when_it_opened(flow):
    ReviewSla.objects.create(flow=flow, within=4 * HOUR)
    ReviewSla.objects.create(flow=flow, kind=FailureKind.CONFLICT, within=HOUR)
    item = review_item_record_failure(
        flow=flow, source_id="C-1", failure=failure(), source_record={}, payload=None, actor="t"
    )

    again = review_item_record_failure(
        flow=flow,
        source_id="C-1",
        failure=failure(FailureKind.CONFLICT),
        source_record={},
        payload=None,
        actor="t",
    )

    assert again.pk == item.pk
    assert abs(again.sla_due_at - (item.first_seen + HOUR)) < timedelta(seconds=1)


def test_an_item_no_rule_covers_has_no_due_time(flow):
    ReviewSla.objects.create(kind=FailureKind.CONFLICT, within=HOUR)

    item = review_item_record_failure(
        flow=flow, source_id="C-1", failure=failure(), source_record={}, payload=None, actor="t"
    )

    assert item.sla_due_at is None


def test_applying_the_rules_recomputes_active_items_and_leaves_closed_ones(flow):
    open_item = ReviewItemFactory(flow=flow)
    closed = ReviewItemFactory(flow=flow, status=ReviewItem.Status.RESOLVED)
    other_kind = ReviewItemFactory(flow=flow, kind=FailureKind.CONFLICT)
    ReviewSla.objects.create(flow=flow, kind=FailureKind.INVALID, within=2 * HOUR)

    assert review_sla_apply(flow_id=flow.pk, batch_size=1) == 2

    for item in (open_item, closed, other_kind):
        item.refresh_from_db()
    assert open_item.sla_due_at == open_item.first_seen + 2 * HOUR
    assert closed.sla_due_at is None
    assert other_kind.sla_due_at is None


# --- the list and the item page --------------------------------------------------------------


def test_the_list_shows_each_items_age_and_sets_items_past_their_sla_apart(operator_web, flow):
    late = item_due_in(flow, -2 * HOUR, source_id="LATE-1")
    item_due_in(flow, 3 * HOUR, source_id="ONTIME-1")
    ReviewItemFactory(flow=flow, source_id="NOSLA-1")
    # Past its due time, but resolved: nothing to chase.
    item_due_in(flow, -2 * HOUR, source_id="DONE-1", status=ReviewItem.Status.RESOLVED)

    page = operator_web.get(reverse("review_queue:item_list")).content.decode()

    assert page.count("Past SLA by") == 1
    row = page[page.index("LATE-1") :]
    assert row.index("Past SLA by") < row.index("</tr>")
    assert "due in 2" in page  # "due in 2 hours, 59 minutes"
    assert page.count('class="small text-nowrap sla-cell table-danger"') == 1
    assert str(late.pk) in page


def test_the_past_sla_filter_lists_only_active_items_past_their_sla(operator_web, flow):
    item_due_in(flow, -2 * HOUR, source_id="LATE-1")
    item_due_in(flow, -1 * HOUR, source_id="LATE-2", status=ReviewItem.Status.IN_PROGRESS)
    item_due_in(flow, 3 * HOUR, source_id="ONTIME-1")
    item_due_in(flow, -2 * HOUR, source_id="DONE-1", status=ReviewItem.Status.DISMISSED)
    ReviewItemFactory(flow=flow, source_id="NOSLA-1")

    page = operator_web.get(reverse("review_queue:item_list"), {"past_sla": "1"})

    listed = {item.source_id for item in page.context["page"]}
    assert listed == {"LATE-1", "LATE-2"}


def test_a_past_sla_value_the_filter_does_not_know_is_refused_with_a_message(operator_web):
    page = operator_web.get(reverse("review_queue:item_list"), {"past_sla": "yes"})

    assert page.status_code == 400
    assert any(problem.startswith("SLA:") for problem in page.context["problems"])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN of PostgreSQL's planner")
def test_past_sla_and_the_breaches_to_escalate_are_ranges_of_partial_indexes(flow):
    item_due_in(flow, -HOUR)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = review_items_past_sla(ReviewItem.objects.all()).explain()
    escalation_plan = review_items_to_escalate(now=timezone.now()).explain()

    assert "review_item_active_sla" in plan, plan
    assert "review_item_sla_unescalated" in escalation_plan, escalation_plan


def test_the_item_page_shows_its_age_and_that_it_is_past_its_sla(operator_web, flow):
    late = item_due_in(flow, -3 * HOUR)
    ontime = item_due_in(flow, 3 * HOUR)

    late_page = operator_web.get(reverse("review_queue:item_detail", args=[late.pk]))
    ontime_page = operator_web.get(reverse("review_queue:item_detail", args=[ontime.pk]))

    assert 'id="item-age">waiting 0' in late_page.content.decode()
    assert "Past SLA by 3" in late_page.content.decode()
    assert "SLA due in 2" in ontime_page.content.decode()
    assert "Past SLA" not in ontime_page.content.decode()


# --- escalation -----------------------------------------------------------------------------


@pytest.fixture
def base_url(settings):
    settings.CONSOLE_BASE_URL = "https://console.example.com"
    return settings.CONSOLE_BASE_URL


def test_a_breach_is_mailed_once_per_recipient_with_its_items_and_links(flow, mailoutbox, base_url):
    ReviewSla.objects.create(flow=flow, within=HOUR, escalate_to="crm-owner@example.com")
    alice, bob = UserFactory(email="alice@example.com"), UserFactory(email="bob@example.com")
    alices = [item_due_in(flow, -HOUR, assignee=alice) for _ in range(2)]
    bobs = item_due_in(flow, -HOUR, assignee=bob)
    nobodys = item_due_in(flow, -HOUR)
    item_due_in(flow, HOUR, assignee=alice)  # not yet due
    item_due_in(flow, -HOUR, assignee=alice, status=ReviewItem.Status.RESOLVED)  # closed

    done = review_sla_escalate()

    by_recipient = {tuple(mail.to): mail for mail in mailoutbox}
    assert set(by_recipient) == {
        ("alice@example.com",),
        ("bob@example.com",),
        ("crm-owner@example.com",),
    }
    alices_mail = by_recipient[("alice@example.com",)]
    assert alices_mail.subject == "2 review items past their SLA"
    for item in alices:
        link = f"{base_url}{reverse('review_queue:item_detail', args=[item.pk])}"
        assert link in alices_mail.body
    assert f"{base_url}{reverse('review_queue:item_list')}?past_sla=1" in alices_mail.body
    assert by_recipient[("bob@example.com",)].subject == "1 review item past its SLA"
    assert bobs.source_id in by_recipient[("bob@example.com",)].body
    assert nobodys.source_id in by_recipient[("crm-owner@example.com",)].body
    assert done.items == 4
    assert ReviewItem.objects.filter(escalated_at__isnull=False).count() == 4
    events = ReviewItemEvent.objects.filter(action=ReviewItemEvent.Action.ESCALATED)
    assert sorted(events.values_list("item_id", flat=True)) == sorted(
        [item.pk for item in alices] + [bobs.pk, nobodys.pk]
    )


def test_a_breach_is_never_mailed_twice(flow, mailoutbox):
    ReviewSla.objects.create(within=HOUR, escalate_to="owner@example.com")
    item_due_in(flow, -HOUR)
    review_sla_escalate()

    later = review_sla_escalate(now=timezone.now() + 24 * HOUR)

    assert len(mailoutbox) == 1
    assert later.items == 0
    assert ReviewItemEvent.objects.filter(action="escalated").count() == 1


def test_an_escalation_does_not_change_the_items_version(flow, mailoutbox):
    ReviewSla.objects.create(within=HOUR, escalate_to="owner@example.com")
    item = item_due_in(flow, -HOUR)

    review_sla_escalate()

    item.refresh_from_db()
    assert item.version == 1
    assert item.escalated_at is not None
    assert item.events.latest("id").item_version == 1


def test_without_an_assignee_the_rules_address_and_then_the_business_owners_are_told(
    flow, mailoutbox
):
    other_flow = FlowFactory()
    ReviewSla.objects.create(flow=flow, within=HOUR, escalate_to="crm-owner@example.com")
    ReviewSla.objects.create(within=HOUR)  # every other flow: no address
    assignee_without_email = UserFactory(email="")
    to_the_rule = item_due_in(flow, -HOUR, assignee=assignee_without_email)
    to_the_owners = item_due_in(other_flow, -HOUR)
    no_business_owner_has_an_email()
    UserFactory(role=roles.BUSINESS_OWNER, email="bruno@example.com")
    UserFactory(role=roles.BUSINESS_OWNER, email="bea@example.com")
    UserFactory(role=roles.OPERATOR, email="olivia@example.com")

    review_sla_escalate()

    by_recipient = {tuple(mail.to): mail.body for mail in mailoutbox}
    assert set(by_recipient) == {
        ("crm-owner@example.com",),
        ("bea@example.com", "bruno@example.com"),
    }
    assert to_the_rule.source_id in by_recipient[("crm-owner@example.com",)]
    assert to_the_owners.source_id in by_recipient[("bea@example.com", "bruno@example.com")]


def test_a_breach_nobody_can_be_told_of_is_marked_with_an_event_and_no_mail(flow, mailoutbox):
    ReviewSla.objects.create(within=HOUR)
    item = item_due_in(flow, -HOUR)
    no_business_owner_has_an_email()

    done = review_sla_escalate()

    assert mailoutbox == []
    assert done.unaddressed == [item.pk]
    assert item.events.latest("id").note == "Past its SLA; nobody to e-mail."


def test_a_mail_that_cannot_be_sent_leaves_its_items_for_the_next_run_and_others_go_on(
    flow, mailoutbox, monkeypatch, caplog
):
    ReviewSla.objects.create(within=HOUR, escalate_to="owner@example.com")
    refused = item_due_in(flow, -2 * HOUR)
    told = item_due_in(flow, -HOUR, assignee=UserFactory(email="alice@example.com"))
    real_send_mail = sla.send_mail

    def refuse_the_owner(subject, body, sender, to):
        if to == ["owner@example.com"]:
            raise ConnectionRefusedError("recipient refused")
        real_send_mail(subject, body, sender, to)

    monkeypatch.setattr(sla, "send_mail", refuse_the_owner)
    done = review_sla_escalate()

    assert done.not_sent == {"owner@example.com": [refused.pk]}
    assert [mail.to for mail in mailoutbox] == [["alice@example.com"]]
    assert "Could not e-mail" in caplog.text
    refused.refresh_from_db()
    told.refresh_from_db()
    assert refused.escalated_at is None and told.escalated_at is not None
    assert not refused.events.filter(action="escalated").exists()

    monkeypatch.undo()
    review_sla_escalate()
    assert [mail.to for mail in mailoutbox][1:] == [["owner@example.com"]]


def test_the_queries_of_an_escalation_grow_with_batches_and_recipients_not_items(flow, mailoutbox):
    ReviewSla.objects.create(within=HOUR, escalate_to="owner@example.com")
    alice = UserFactory(email="alice@example.com")

    def queries_to_escalate(count: int, batch_size: int) -> int:
        for n in range(count):
            item_due_in(flow, -HOUR, assignee=alice if n % 2 else None)
        with CaptureQueriesContext(connection) as captured:
            done = review_sla_escalate(batch_size=batch_size)
        assert done.items == count
        return len(captured)

    few = queries_to_escalate(4, batch_size=100)
    many = queries_to_escalate(40, batch_size=100)
    in_batches = queries_to_escalate(40, batch_size=10)

    assert many == few
    # Four batches instead of one: three more reads of the breaches, and per recipient (two)
    # one more claim, mark and insert for each of its two extra batches of ten.
    assert in_batches <= few + 3 + 2 * 2 * 3
    assert len(mailoutbox) == 6


def test_the_cron_job_escalates_and_says_how_much(flow, mailoutbox):
    from review_queue.jobs import escalate_past_sla

    ReviewSla.objects.create(within=HOUR, escalate_to="owner@example.com")
    item_due_in(flow, -HOUR)
    item_due_in(flow, -HOUR)

    assert escalate_past_sla() == {"mailed": 1, "items": 2}


# --- reopening --------------------------------------------------------------------------------


def breached_then_dismissed(flow, *, first_seen_ago: timedelta) -> ReviewItem:
    """An item first seen ``first_seen_ago``, past its SLA, escalated, then dismissed: as
    review_sla_escalate and review_item_dismiss leave it."""
    item = ReviewItemFactory(flow=flow)
    first_seen = timezone.now() - first_seen_ago
    ReviewItem.objects.filter(pk=item.pk).update(
        first_seen=first_seen,
        sla_due_at=first_seen + HOUR,
        escalated_at=first_seen + 2 * HOUR,
        status=ReviewItem.Status.DISMISSED,
        closed_at=timezone.now(),
        resolution="Test contact",
    )
    item.refresh_from_db()
    return item


def test_a_reopened_item_gets_the_due_time_of_the_rules_of_today(flow):
    rule = ReviewSla.objects.create(flow=flow, within=HOUR)
    item = breached_then_dismissed(flow, first_seen_ago=3 * HOUR)
    # While the item was closed the rule gave more time; applying it left closed items alone.
    ReviewSla.objects.filter(pk=rule.pk).update(within=8 * HOUR)
    review_sla_apply(flow_id=flow.pk)

    reopened = review_item_reopen(
        item=item, user=UserFactory(role=roles.OPERATOR), reason="Not a test contact"
    )

    reopened.refresh_from_db()
    assert reopened.status == ReviewItem.Status.OPEN
    assert reopened.sla_due_at == reopened.first_seen + 8 * HOUR
    assert reopened.escalated_at is None
    assert not reopened.is_past_sla


def test_a_reopened_item_past_its_sla_is_escalated_again(flow, mailoutbox):
    ReviewSla.objects.create(flow=flow, within=HOUR, escalate_to="owner@example.com")
    item = breached_then_dismissed(flow, first_seen_ago=3 * HOUR)

    review_item_reopen(item=item, user=UserFactory(role=roles.OPERATOR), reason="Not a test")

    assert [found.pk for found in review_items_to_escalate(now=timezone.now())] == [item.pk]
    assert review_sla_escalate().items == 1
    assert len(mailoutbox) == 1


def test_a_reopened_item_no_rule_covers_any_more_has_no_due_time(flow):
    item = breached_then_dismissed(flow, first_seen_ago=3 * HOUR)  # its rule was deleted since

    reopened = review_item_reopen(item=item, user=UserFactory(role=roles.OPERATOR), reason="x")

    reopened.refresh_from_db()
    assert (reopened.sla_due_at, reopened.escalated_at) == (None, None)


# --- the admin ------------------------------------------------------------------------------


@pytest.fixture
def admin_web(client):
    client.force_login(UserFactory(role=roles.ADMIN))
    return client


def test_saving_a_rule_in_the_admin_updates_the_due_times_of_its_items(
    admin_web, flow, django_capture_on_commit_callbacks
):
    items = [ReviewItemFactory(flow=flow) for _ in range(3)]
    other = ReviewItemFactory(flow=FlowFactory())
    add = reverse("admin:review_queue_reviewsla_add")
    data = {"flow": flow.pk, "kind": "", "within": "04:00:00", "escalate_to": "", "active": "on"}

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_web.post(add, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = ReviewSla.objects.get()
    for item in items:
        item.refresh_from_db()
        assert item.sla_due_at == item.first_seen + 4 * HOUR
    other.refresh_from_db()
    assert other.sla_due_at is None

    # Made wider (every flow) and shorter: the other flow's item is covered now too.
    change = reverse("admin:review_queue_reviewsla_change", args=[rule.pk])
    with django_capture_on_commit_callbacks(execute=True):
        admin_web.post(change, {**data, "flow": "", "within": "01:00:00"})
    other.refresh_from_db()
    assert other.sla_due_at == other.first_seen + HOUR
    assert rule.history.count() == 2

    delete = reverse("admin:review_queue_reviewsla_delete", args=[rule.pk])
    with django_capture_on_commit_callbacks(execute=True):
        admin_web.post(delete, {"post": "yes"})
    assert not ReviewItem.objects.filter(sla_due_at__isnull=False).exists()


def test_the_admin_refuses_a_second_rule_for_one_scope_with_a_clear_message(admin_web, flow):
    ReviewSla.objects.create(flow=flow, within=HOUR)
    data = {"flow": flow.pk, "kind": "", "within": "02:00:00", "escalate_to": "", "active": "on"}

    response = admin_web.post(reverse("admin:review_queue_reviewsla_add"), data)

    assert response.status_code == 200
    assert "There is already an active SLA for this flow and kind" in response.content.decode()
