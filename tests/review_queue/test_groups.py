"""Review items grouped by cause (review_queue/groups.py, fingerprints.py): what makes one
group, the groups page, acting on a whole group, and fixing the rule behind a group."""

import importlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integration_console import roles
from integration_console.catalog.models import FieldMapVersion
from integration_console.catalog.services import (
    field_map_version_approve,
    field_map_version_draft,
    field_map_version_submit,
)
from integration_console.sync.failures import FailureKind, RecordFailure
from review_queue import groups
from review_queue.fingerprints import error_code, failure_cause
from review_queue.models import BulkAction, ReviewItem, RuleFix
from review_queue.services import review_item_record_failure
from tests.factories import FlowFactory, ReviewItemFactory, UserFactory, demo_user

pytestmark = pytest.mark.django_db

GROUPS = reverse("review_queue:group_list")
NOT_ALLOWED = "{!r} is not one of the allowed values: DE, FR, GB."


def fail(flow, source_id, *, field="country_code", message=None, kind=FailureKind.INVALID, **kw):
    """A record of ``flow`` fails as the engine reports it, and opens (or bumps) its item."""
    message = message or NOT_ALLOWED.format("UK")
    errors = {field: [message]} if field else {}
    reason = kw.pop("reason", f"Not a valid customer. {field}: {message}")
    failure = RecordFailure(kind, reason, field_errors=errors, **kw)
    return review_item_record_failure(
        flow=flow,
        source_id=source_id,
        failure=failure,
        source_record={"id": source_id},
        payload={"name": source_id},
        actor="job:test",
    )


def group_url(name: str, item: ReviewItem) -> str:
    return reverse(f"review_queue:{name}", args=[item.fingerprint])


@pytest.fixture
def flow():
    return FlowFactory()


@pytest.fixture
def operator():
    return UserFactory(role=roles.OPERATOR)


@pytest.fixture
def owner():
    return UserFactory(role=roles.BUSINESS_OWNER)


@pytest.fixture
def operator_web(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def three_groups(flow):
    """Three records rejected for 'UK', two for 'BR', one for a bad e-mail address; and a
    fourth 'UK' record whose item was resolved."""
    uk = [fail(flow, f"UK-{n}") for n in range(3)]
    br = [fail(flow, f"BR-{n}", message=NOT_ALLOWED.format("BR")) for n in range(2)]
    email = [fail(flow, "MAIL-0", field="email", message="'ada@' does not match the format.")]
    resolved = fail(flow, "UK-9")
    ReviewItem.objects.filter(pk=resolved.pk).update(status=ReviewItem.Status.RESOLVED)
    return {"uk": uk, "br": br, "email": email, "resolved": resolved}


# --- what makes one group ----------------------------------------------------------------------


def test_records_failing_on_the_same_value_of_a_field_are_one_group(flow):
    first, second = fail(flow, "C-1"), fail(flow, "C-2")
    assert first.fingerprint == second.fingerprint
    assert len(first.fingerprint) == 64 and int(first.fingerprint, 16) >= 0
    assert first.cause == "country_code: 'UK' is not one of the allowed values: DE, FR, GB."


def test_another_value_field_kind_or_flow_is_another_group(flow):
    uk = fail(flow, "C-1")
    others = [
        fail(flow, "C-2", message=NOT_ALLOWED.format("BR")),
        fail(flow, "C-3", field="country", message=NOT_ALLOWED.format("UK")),
        fail(flow, "C-4", kind=FailureKind.TARGET_REJECTED),
        fail(FlowFactory(), "C-1"),
    ]
    fingerprints = {uk.fingerprint, *(item.fingerprint for item in others)}
    assert len(fingerprints) == 5


def test_one_records_own_values_and_ids_do_not_split_a_group(flow):
    ada = fail(flow, "C-1", field="email", message="'ada@' does not match the expected format.")
    bob = fail(flow, "C-2", field="email", message="'bob@x' does not match the expected format.")
    assert ada.fingerprint == bob.fingerprint
    assert ada.cause == "email: '…' does not match the expected format."
    exists = [
        fail(
            flow,
            f"C-{n}",
            kind=FailureKind.ALREADY_EXISTS,
            field="email",
            message="A customer with this email already exists.",
            reason=f"ERP already has this record as E-{n}000. email: A customer with this "
            "email already exists.",
            existing_target_id=f"E-{n}000",
        )
        for n in (3, 4)
    ]
    assert exists[0].fingerprint == exists[1].fingerprint
    gave_up = [
        fail(flow, f"C-{n}", field="", kind=FailureKind.RETRIES_EXHAUSTED, reason=reason)
        for n, reason in [(5, "Gave up after 3 attempts: ERP timed out after 10.0 s")]
        + [(6, "Gave up after 5 attempts: ERP timed out after 2.5 s")]
    ]
    assert gave_up[0].fingerprint == gave_up[1].fingerprint
    assert gave_up[0].cause == "Gave up after 3 attempts: ERP timed out after 10.0 s"


def test_the_error_code_keeps_shared_values_and_drops_record_data():
    assert error_code("Not valid: 'UK' is not one of the allowed values") == (
        "not valid: 'uk' is not one of the allowed values"
    )
    assert error_code("'+49 30 1234' and 'a@b' and 'C-0001' are not valid") == (
        "'…' and '…' and '…' are not valid"
    )
    again = "Failed again after a fix (item #12). Simulated ERP's record E-7 is gone"
    assert error_code(again) == "simulated erp's record # is gone"
    assert error_code("acme-corp was refused", record_ids=["acme-corp", "a"]) == "# was refused"


def test_the_cause_is_the_first_failing_field_and_says_how_many_more():
    cause = failure_cause(
        reason="Not valid.",
        field_errors={"phone": ["Bad."], "email": ["'ada@x' is bad."], "name": ["Missing."]},
    )
    assert cause == "email: '…' is bad. (and 2 more fields)"


def test_a_record_that_fails_again_after_a_fix_stays_in_its_group(flow):
    item = fail(flow, "C-1")
    before = item.fingerprint
    ReviewItem.objects.filter(pk=item.pk).update(
        reason=f"Failed again after a fix (item #9). {item.reason}"
    )
    assert fail(flow, "C-2").fingerprint == before


def test_the_migration_computes_every_items_fingerprint_and_cause(flow):
    items = [fail(flow, "C-1"), fail(flow, "C-2", field="email", message="'x@y' is bad.")]
    wanted = [(item.fingerprint, item.cause) for item in items]
    ReviewItem.objects.update(fingerprint="0123456789abcdef", cause="")
    migration = importlib.import_module("review_queue.migrations.0007_review_item_fingerprint")
    # With the connection as a migration's schema editor holds it: UPDATE ... FROM unnest()
    # on PostgreSQL, bulk_update elsewhere.
    migration.backfill_fingerprints(django_apps, SimpleNamespace(connection=connection))
    found = [
        ReviewItem.objects.values_list("fingerprint", "cause").get(pk=item.pk) for item in items
    ]
    assert found == wanted


# --- the groups page ---------------------------------------------------------------------------


def test_the_groups_page_counts_the_active_items_of_each_cause_largest_first(
    operator_web, three_groups
):
    response = operator_web.get(GROUPS)
    assert response.status_code == 200
    shown = [(g.count, g.example.source_id, g.cause) for g in response.context["page"]]
    assert shown == [
        (3, "UK-2", "country_code: 'UK' is not one of the allowed values: DE, FR, GB."),
        (2, "BR-1", "country_code: 'BR' is not one of the allowed values: DE, FR, GB."),
        (1, "MAIL-0", "email: '…' does not match the format."),
    ]
    uk = response.context["page"].groups[0]
    items = three_groups["uk"]
    assert (uk.first_seen, uk.last_seen) == (items[0].first_seen, items[-1].last_seen)
    assert (uk.kind, uk.flow.pk, uk.fields) == ("invalid", items[0].flow_id, ["country_code"])
    html = response.content.decode()
    assert f'href="/queue/?fingerprint={items[0].fingerprint}"' in html
    assert group_url("group_detail", items[0]) in html


def test_the_groups_page_filters_by_flow_and_kind(operator_web, three_groups, flow):
    other = fail(FlowFactory(), "X-1", kind=FailureKind.TARGET_REJECTED)
    by_flow = operator_web.get(GROUPS, {"flow": other.flow_id}).context["page"]
    assert [g.fingerprint for g in by_flow] == [other.fingerprint]
    by_kind = operator_web.get(GROUPS, {"kind": "target_rejected"}).context["page"]
    assert [g.fingerprint for g in by_kind] == [other.fingerprint]
    both = operator_web.get(GROUPS, {"flow": flow.pk, "kind": "target_rejected"})
    assert list(both.context["page"]) == []
    assert b"No item needs attention with these filters." in both.content


def test_filters_the_groups_page_cannot_use_are_answered_with_the_reason(operator_web, flow):
    response = operator_web.get(GROUPS, {"kind": "nonsense", "after": "x"})
    assert response.status_code == 400
    assert response.context["page"] is None
    problems = response.context["problems"]
    assert any(p.startswith("Kind: Select a valid choice.") for p in problems)
    assert "Position (after): 'x' is not a position in the groups." in problems


def test_the_groups_page_pages_by_keyset_with_show_more(operator_web, three_groups, monkeypatch):
    monkeypatch.setattr(groups, "GROUP_PAGE_SIZE", 2)
    first = operator_web.get(GROUPS)
    assert [g.count for g in first.context["page"]] == [3, 2]
    cursor = first.context["page"].next
    assert f'href="?after={cursor}"' in first.content.decode()
    second = operator_web.get(GROUPS, {"after": str(cursor)})
    assert [g.count for g in second.context["page"]] == [1]
    assert second.context["page"].next is None
    assert b"Largest groups" in second.content


def test_the_groups_page_costs_the_same_few_queries_however_many_items(
    operator_web, three_groups, flow, django_assert_num_queries
):
    # session, user, the user's 2 permission sets, the GROUP BY, the examples, the flows of
    # the filter's choices; on PostgreSQL, the setting that keeps the GROUP BY in one process
    queries = 7 + (connection.vendor == "postgresql")
    with django_assert_num_queries(queries):
        operator_web.get(GROUPS)
    for n in range(40):
        fail(flow, f"MORE-{n}", message=NOT_ALLOWED.format(f"X{'Y' * (n % 8)}"))
    with django_assert_num_queries(queries):
        response = operator_web.get(GROUPS)
    assert len(response.context["page"]) == 11


def test_the_item_list_shows_one_groups_items(operator_web, three_groups):
    fingerprint = three_groups["br"][0].fingerprint
    response = operator_web.get(reverse("review_queue:item_list"), {"fingerprint": fingerprint})
    assert [i.source_id for i in response.context["page"]] == ["BR-1", "BR-0"]
    refused = operator_web.get(reverse("review_queue:item_list"), {"fingerprint": "abc"})
    assert refused.status_code == 400
    wrong = "Group: Not a group: a group's fingerprint is 64 hexadecimal characters."
    assert wrong in refused.context["problems"]


def test_the_group_page_shows_its_items_and_the_rule_behind_them(operator_web, three_groups):
    uk = three_groups["uk"][0]
    response = operator_web.get(group_url("group_detail", uk))
    assert response.status_code == 200
    assert response.context["group"].count == 3
    assert [i.source_id for i in response.context["items"]] == ["UK-2", "UK-1", "UK-0"]
    assert [r.target_path for r in response.context["rules"]] == ["country_code"]
    # An operator may act on the group, not draft field maps.
    assert b"Retry all 3" in response.content
    assert b"Fix the rule</button>" not in response.content
    unknown = reverse("review_queue:group_detail", args=["f" * 64])
    assert operator_web.get(unknown).status_code == 404


def test_payload_data_is_escaped_on_the_group_pages(operator_web, flow):
    item = fail(flow, "C-1", field="name", message="<script>alert(1)</script> is refused")
    for url in [GROUPS, group_url("group_detail", item)]:
        html = operator_web.get(url).content
        assert b"<script>alert(1)</script>" not in html
        assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- acting on a whole group -------------------------------------------------------------------


def test_retrying_a_group_starts_one_bulk_action_on_exactly_its_active_items(
    operator_web, three_groups, operator
):
    uk = three_groups["uk"]
    response = operator_web.post(group_url("group_retry", uk[0]))
    bulk_action = BulkAction.objects.get()
    assert response.url == reverse("review_queue:bulk_action_detail", args=[bulk_action.pk])
    assert (bulk_action.action, bulk_action.requested_by, bulk_action.all_matching) == (
        "retry",
        operator,
        False,
    )
    assert bulk_action.item_ids == sorted(item.pk for item in uk)
    assert bulk_action.filter_query == f"fingerprint={uk[0].fingerprint}"
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages == ["Queued: retry the group's 3 items. This page shows its progress."]


def test_assigning_a_group_gives_each_of_its_items_to_that_person(
    operator_web, three_groups, in_process_jobs, django_capture_on_commit_callbacks
):
    colleague = UserFactory(role=roles.OPERATOR)
    br = three_groups["br"]
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_web.post(group_url("group_assign", br[0]), {"assignee": colleague.pk})
    bulk_action = BulkAction.objects.get()
    assert response.url == reverse("review_queue:bulk_action_detail", args=[bulk_action.pk])
    assert (bulk_action.action, bulk_action.parameters) == ("assign", {"assignee_id": colleague.pk})
    assert (bulk_action.status, bulk_action.total, bulk_action.succeeded) == ("succeeded", 2, 2)
    for item in br:
        item.refresh_from_db()
        assert (item.assignee, item.status) == (colleague, ReviewItem.Status.IN_PROGRESS)
    other = three_groups["uk"][0]
    other.refresh_from_db()
    assert other.assignee is None


def test_assigning_a_group_needs_a_choice_and_nobody_unassigns_them_all(operator_web, three_groups):
    br = three_groups["br"][0]
    refused = operator_web.post(group_url("group_assign", br), {"assignee": ""})
    assert refused.status_code == 422
    assert refused.context["assign_form"].errors["assignee"] == ["This field is required."]
    assert not BulkAction.objects.exists()
    operator_web.post(group_url("group_assign", br), {"assignee": "nobody"})
    bulk_action = BulkAction.objects.get()
    assert (bulk_action.action, bulk_action.parameters) == ("assign", {"assignee_id": None})


def test_a_bulk_assign_to_someone_who_left_refuses_each_item(
    three_groups, operator, in_process_jobs, django_capture_on_commit_callbacks
):
    from review_queue.bulk import bulk_action_start

    gone = UserFactory(role=roles.OPERATOR, is_active=False)
    ids = [item.pk for item in three_groups["br"]]
    with django_capture_on_commit_callbacks(execute=True):
        started = bulk_action_start(
            user=operator, action="assign", parameters={"assignee_id": gone.pk}, item_ids=ids
        )
    started.refresh_from_db()
    assert (started.status, started.refused) == ("succeeded_with_failures", 2)
    refusal = started.refusals[0]["reason"]
    assert refusal == "The person to assign to no longer exists or is inactive."


def test_dismissing_a_group_needs_a_reason_and_dismisses_each_active_item(
    operator_web, three_groups, in_process_jobs, django_capture_on_commit_callbacks
):
    email = three_groups["email"][0]
    refused = operator_web.post(group_url("group_dismiss", email), {"reason": " "})
    assert refused.status_code == 422
    assert refused.context["dismiss_form"].errors
    assert not BulkAction.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        operator_web.post(group_url("group_dismiss", email), {"reason": "Test addresses"})
    bulk_action = BulkAction.objects.get()
    assert (bulk_action.action, bulk_action.parameters, bulk_action.item_ids) == (
        "dismiss",
        {"reason": "Test addresses"},
        [email.pk],
    )
    email.refresh_from_db()
    assert (email.status, email.resolution) == (ReviewItem.Status.DISMISSED, "Test addresses")


def test_a_group_with_nothing_left_to_act_on_records_no_action(operator_web, three_groups):
    email = three_groups["email"][0]
    ReviewItem.objects.filter(pk=email.pk).update(status=ReviewItem.Status.RESOLVED)
    response = operator_web.post(group_url("group_retry", email), follow=True)
    assert not BulkAction.objects.exists()
    assert b"No item of this group needs attention now: nothing was done." in response.content
    assert b"No item of this group needs attention now. Its newest item was" in response.content


# --- permissions ---------------------------------------------------------------------------------


def test_group_pages_need_a_login_and_the_queues_permissions(client, three_groups):
    uk = three_groups["uk"][0]
    pages = [GROUPS, group_url("group_detail", uk)]
    actions = [group_url(name, uk) for name in ("group_retry", "group_assign", "group_dismiss")]
    for url in pages:
        assert client.get(url).url.startswith(reverse("login"))
    for url in actions:
        assert client.post(url, {"reason": "x"}).url.startswith(reverse("login"))
    client.force_login(UserFactory())
    for url in pages:
        assert client.get(url).status_code == 403
    for url in actions:
        assert client.post(url, {"reason": "x"}).status_code == 403
    client.force_login(UserFactory(permissions=["review_queue.view_reviewitem"]))
    page = client.get(GROUPS)
    assert page.status_code == 200 and b"Retry 3" not in page.content
    assert client.post(group_url("group_retry", uk)).status_code == 403
    assert client.post(group_url("group_fix_rule", uk)).status_code == 403
    assert not BulkAction.objects.exists() and not RuleFix.objects.exists()


def test_group_actions_need_the_csrf_token(operator, three_groups):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    uk = three_groups["uk"][0]
    for name in ("group_retry", "group_dismiss", "group_assign", "group_fix_rule"):
        assert client.post(group_url(name, uk), {"reason": "x"}).status_code == 403
    assert not BulkAction.objects.exists()


def test_only_who_may_draft_field_maps_can_fix_the_rule(operator_web, three_groups):
    uk = three_groups["uk"][0]
    assert operator_web.post(group_url("group_fix_rule", uk)).status_code == 403
    assert not FieldMapVersion.objects.filter(status="draft").exists()


# --- fix the rule ----------------------------------------------------------------------------


def test_fix_the_rule_opens_a_draft_of_the_active_version_at_the_failing_rule(
    client, owner, three_groups, flow
):
    client.force_login(owner)
    uk = three_groups["uk"]
    response = client.post(group_url("group_fix_rule", uk[0]))
    draft = FieldMapVersion.objects.get(status="draft")
    active = flow.field_map.active_version
    assert (draft.field_map, draft.number, draft.author) == (flow.field_map, 2, owner)
    assert [str(rule) for rule in draft.rules.all()] == [str(rule) for rule in active.rules.all()]
    # The factory's rules: name, email, country_code; the admin lists the third as rules-2.
    admin = reverse("admin:catalog_fieldmapversion_change", args=[draft.pk])
    assert response.url == f"{admin}#rules-2"
    message = str(next(iter(get_messages(response.wsgi_request))))
    assert f"{draft} is the draft that fixes this group." in message
    assert "country_code → country_code [trim]" in message
    fix = RuleFix.objects.get()
    assert (fix.fingerprint, fix.flow, fix.draft_version, fix.requested_by) == (
        uk[0].fingerprint,
        flow,
        draft,
        owner,
    )
    assert (fix.item_ids, fix.rule_targets, fix.status) == (
        sorted(item.pk for item in uk),
        ["country_code"],
        RuleFix.Status.WAITING,
    )
    assert client.get(admin).status_code == 200


def test_fixing_the_rule_again_opens_the_same_draft_with_the_groups_newer_items(
    client, owner, three_groups, flow
):
    client.force_login(owner)
    uk = three_groups["uk"]
    client.post(group_url("group_fix_rule", uk[0]))
    later = fail(flow, "UK-LATE")
    client.post(group_url("group_fix_rule", uk[0]))
    fix = RuleFix.objects.get()
    assert FieldMapVersion.objects.filter(status="draft").count() == 1
    assert fix.item_ids == sorted([*(item.pk for item in uk), later.pk])


def test_fix_the_rule_uses_the_maps_open_draft_rather_than_start_another(
    client, owner, three_groups, flow
):
    open_draft = field_map_version_draft(field_map=flow.field_map, user=UserFactory())
    client.force_login(owner)
    client.post(group_url("group_fix_rule", three_groups["br"][0]))
    assert RuleFix.objects.get().draft_version == open_draft
    assert FieldMapVersion.objects.filter(status="draft").count() == 1


def test_a_group_whose_fields_name_no_rule_has_no_rule_to_fix(client, owner, flow):
    item = fail(flow, "C-1", field="vat_id", message="Unknown VAT id.")
    client.force_login(owner)
    response = client.post(group_url("group_fix_rule", item), follow=True)
    assert not RuleFix.objects.exists()
    assert b"name no rule of the active field map version" in response.content


def test_approving_the_fix_retries_exactly_the_groups_records_that_still_need_attention(
    owner, three_groups, flow, django_capture_on_commit_callbacks
):
    uk = three_groups["uk"]
    fix = groups.rule_fix_start(fingerprint=uk[0].fingerprint, user=owner)
    ReviewItem.objects.filter(pk=uk[0].pk).update(status=ReviewItem.Status.DISMISSED)
    joined_later = fail(flow, "UK-LATE")
    draft = fix.draft_version
    field_map_version_submit(version=draft, user=owner)
    with django_capture_on_commit_callbacks() as callbacks:
        field_map_version_approve(version=draft, user=UserFactory(role=roles.ADMIN))
    assert not BulkAction.objects.exists()  # nothing before the approval commits
    for callback in callbacks:
        callback()
    bulk_action = BulkAction.objects.get()
    assert (bulk_action.action, bulk_action.requested_by) == ("retry", owner)
    assert bulk_action.item_ids == sorted([uk[1].pk, uk[2].pk])
    assert joined_later.pk not in bulk_action.item_ids
    fix.refresh_from_db()
    assert (fix.status, fix.bulk_action) == (RuleFix.Status.RERUN, bulk_action)
    # Once only: a second look at the same approval starts nothing.
    assert groups.rule_fixes_rerun(version=draft, user=owner) == []


def test_approving_a_version_that_fixes_no_group_starts_nothing(
    flow, owner, django_capture_on_commit_callbacks
):
    draft = field_map_version_draft(field_map=flow.field_map, user=owner)
    field_map_version_submit(version=draft, user=owner)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        field_map_version_approve(version=draft, user=UserFactory(role=roles.ADMIN))
    assert callbacks == []
    assert not BulkAction.objects.exists()


def test_the_whole_loop_a_fixed_rule_resolves_the_group_and_only_it(
    client, queued, in_process_jobs, django_capture_on_commit_callbacks
):
    """The demo's C-0007 has no e-mail address, which the ERP requires: the business owner
    fixes the e-mail rule (a placeholder address), an admin approves, and the group's record is
    retried and created; the other groups stay as they were."""
    no_email = queued["C-0007"]
    client.force_login(demo_user("bruno"))
    detail = client.get(group_url("group_detail", no_email))
    assert b"Fix the rule</button>" in detail.content
    response = client.post(group_url("group_fix_rule", no_email))
    draft = RuleFix.objects.get().draft_version
    assert response.url.startswith(reverse("admin:catalog_fieldmapversion_change", args=[draft.pk]))
    rule = draft.rules.get(target_path="email")
    rule.transform = "trim|lower|empty_to_none|default:no-email@example.com"
    rule.save()
    field_map_version_submit(version=draft, user=demo_user("bruno"))
    with django_capture_on_commit_callbacks(execute=True):
        field_map_version_approve(version=draft, user=demo_user("ada"))

    statuses = dict(ReviewItem.objects.values_list("source_id", "status"))
    assert statuses == {
        "C-0007": "resolved",
        "C-0013": "open",
        "C-0021": "open",
        "C-0029": "open",
    }
    fix = RuleFix.objects.select_related("bulk_action").get()
    assert (fix.status, fix.bulk_action.status, fix.bulk_action.total) == ("rerun", "succeeded", 1)
    page = client.get(group_url("group_detail", no_email))
    assert b"No item of this group needs attention now." in page.content
    assert f"re-run #{fix.bulk_action.pk}".encode() in page.content


def test_a_group_item_seen_again_moves_the_groups_last_seen(operator_web, flow):
    item = fail(flow, "C-1")
    ReviewItem.objects.filter(pk=item.pk).update(last_seen=timezone.now() - timedelta(days=2))
    again = fail(flow, "C-1")
    group = groups.review_group(item.fingerprint)
    assert (group.count, group.last_seen, again.occurrences) == (1, again.last_seen, 2)


def test_factory_items_with_no_cause_show_their_reason(operator_web, flow):
    ReviewItemFactory(flow=flow, reason="email: Enter a valid email address.")
    group = operator_web.get(GROUPS).context["page"].groups[0]
    assert group.cause == "email: Enter a valid email address."
