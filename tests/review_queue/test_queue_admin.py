"""The queue's models in the Django admin: read only, and the items' list cheap at any size."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from integration_console import roles
from review_queue.admin import EstimatedCountPaginator
from review_queue.models import ReviewItem, ReviewItemComment, RuleFix
from review_queue.services import review_item_comment
from tests.factories import FieldMapVersionFactory, FlowFactory, ReviewItemFactory, UserFactory

pytestmark = pytest.mark.django_db

ITEMS = reverse("admin:review_queue_reviewitem_changelist")


@pytest.fixture
def admin_web(client):
    client.force_login(UserFactory(role=roles.ADMIN))
    return client


@pytest.fixture
def items():
    flow = FlowFactory()
    people = UserFactory.create_batch(3, role=roles.OPERATOR)
    return [
        ReviewItemFactory(flow=flow, assignee=people[n % 3], status=ReviewItem.Status.IN_PROGRESS)
        for n in range(12)
    ]


def item_queries(queries) -> list[str]:
    return [q["sql"] for q in queries if 'FROM "review_queue_reviewitem"' in q["sql"]]


def test_the_items_list_reads_the_rows_with_their_flow_and_assignee_and_no_payload(
    admin_web, items
):
    with CaptureQueriesContext(connection) as queries:
        response = admin_web.get(ITEMS)

    assert response.status_code == 200
    assert items[0].source_id in response.content.decode()
    rows = [sql for sql in item_queries(queries) if "LIMIT" in sql or "COUNT" not in sql]
    assert len(rows) == 1  # no query per row for its flow or assignee
    assert '"review_queue_reviewitem"."payload"' not in rows[0]
    assert 'INNER JOIN "sync_flow"' in rows[0] and 'JOIN "auth_user"' in rows[0]


def test_the_items_list_costs_the_same_queries_whatever_it_shows(admin_web, items):
    with CaptureQueriesContext(connection) as few:
        admin_web.get(ITEMS)
    ReviewItemFactory.create_batch(20, flow=items[0].flow, assignee=UserFactory())
    with CaptureQueriesContext(connection) as more:
        admin_web.get(ITEMS)

    assert len(more) == len(few)


def test_a_filtered_items_list_is_counted_once_without_the_whole_table(admin_web, items):
    ReviewItem.objects.filter(pk=items[0].pk).update(status=ReviewItem.Status.RESOLVED)

    with CaptureQueriesContext(connection) as queries:
        response = admin_web.get(ITEMS, {"status__exact": "resolved"})

    counts = [sql for sql in item_queries(queries) if "COUNT(" in sql]
    assert len(counts) == 1 and "WHERE" in counts[0]
    assert response.context["cl"].result_count == 1
    assert response.context["cl"].full_result_count is None


def test_the_unfiltered_list_is_counted_exactly_while_the_table_is_small(admin_web, items):
    response = admin_web.get(ITEMS)

    assert response.context["cl"].result_count == 12


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the planner's row count is PostgreSQL's"
)
def test_on_postgresql_a_large_tables_unfiltered_list_takes_the_planners_row_count(
    admin_web, items, monkeypatch
):
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_ABOVE", 5)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE review_queue_reviewitem")

    with CaptureQueriesContext(connection) as queries:
        response = admin_web.get(ITEMS)

    assert not [sql for sql in item_queries(queries) if "COUNT(" in sql]
    assert response.context["cl"].result_count == 12  # ANALYZE just counted them
    filtered = admin_web.get(ITEMS, {"status__exact": "in_progress"})
    assert filtered.context["cl"].result_count == 12


def test_the_item_page_still_shows_the_payload(admin_web, items):
    response = admin_web.get(reverse("admin:review_queue_reviewitem_change", args=[items[0].pk]))

    assert response.status_code == 200
    assert "Ada Lovelace" in response.content.decode()


@pytest.fixture
def comment(items):
    return review_item_comment(
        item=items[0], user=UserFactory(role=roles.OPERATOR), body="Asked sales about it."
    )


@pytest.fixture
def rule_fix(items):
    return RuleFix.objects.create(
        fingerprint=items[0].fingerprint,
        flow=items[0].flow,
        draft_version=FieldMapVersionFactory(),
        item_ids=[item.pk for item in items],
        requested_by=UserFactory(role=roles.BUSINESS_OWNER),
    )


@pytest.mark.parametrize("model", ["reviewitemcomment", "rulefix"])
def test_comments_and_rule_fixes_are_listed_and_shown_to_the_admin(
    admin_web, comment, rule_fix, model
):
    found, shown = {
        "reviewitemcomment": (comment, comment.body),
        "rulefix": (rule_fix, rule_fix.fingerprint),
    }[model]

    listed = admin_web.get(reverse(f"admin:review_queue_{model}_changelist"))
    page = admin_web.get(reverse(f"admin:review_queue_{model}_change", args=[found.pk]))

    assert listed.status_code == page.status_code == 200
    assert shown in listed.content.decode()
    assert shown in page.content.decode()


@pytest.mark.parametrize("model", ["reviewitemcomment", "rulefix"])
def test_comments_and_rule_fixes_are_read_only_in_the_admin(admin_web, comment, rule_fix, model):
    found = {"reviewitemcomment": comment, "rulefix": rule_fix}[model]
    info = f"admin:review_queue_{model}"

    assert admin_web.get(reverse(f"{info}_add")).status_code == 403
    assert admin_web.post(reverse(f"{info}_delete", args=[found.pk])).status_code == 403
    page = admin_web.get(reverse(f"{info}_change", args=[found.pk]))
    assert b'type="submit" value="Save"' not in page.content
    assert ReviewItemComment.objects.count() == RuleFix.objects.count() == 1


def test_the_lists_of_comments_and_rule_fixes_read_no_payloads_or_item_ids(
    admin_web, comment, rule_fix
):
    for model in ("reviewitemcomment", "rulefix"):
        with CaptureQueriesContext(connection) as queries:
            admin_web.get(reverse(f"admin:review_queue_{model}_changelist"))
        read = " ".join(q["sql"] for q in queries)
        assert '"review_queue_reviewitem"."payload"' not in read
        assert '"review_queue_rulefix"."item_ids"' not in read
        assert '"review_queue_bulkaction"."item_ids"' not in read


def test_an_operator_cannot_open_comments_or_rule_fixes_in_the_admin(client, comment, rule_fix):
    client.force_login(UserFactory(role=roles.OPERATOR))
    for model in ("reviewitemcomment", "rulefix"):
        response = client.get(reverse(f"admin:review_queue_{model}_changelist"))
        assert response.status_code == 302 and "login" in response.url
