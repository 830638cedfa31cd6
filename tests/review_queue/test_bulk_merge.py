"""Merging many possible duplicates into their best candidates in one bulk action, after a
preview of the record each merge makes: over real HTTP against the simulator, whose records
are read back after the job."""

import re
import time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from integration_console import roles
from integration_console.sync.models import Merge, RecordLink
from integration_console.sync.redaction import MASK
from review_queue import services
from review_queue.bulk import bulk_action_start
from review_queue.models import BulkAction, ReviewItem, ReviewItemEvent
from tests.factories import (
    DataClassFactory,
    FlowFactory,
    ReviewItemFactory,
    UserFactory,
    demo_user,
    run_flow,
)
from tests.sync.test_matching import erp_customer

pytestmark = pytest.mark.django_db

# The shipped demo's possible duplicates: C-0031 and C-0033 score 84%, C-0035 81%, C-0037 80%.
HIGH = {"C-0031": "E-10001", "C-0033": "E-10003"}


@pytest.fixture
def pairs(shipped_demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks):
    """The shipped demo run: its four possible duplicates, by source id."""
    run_flow(shipped_demo_flow, django_capture_on_commit_callbacks)
    return {item.source_id: item for item in ReviewItem.objects.filter(kind="possible_duplicate")}


def pairs_page(client, min_score: int, rule: str) -> str:
    response = client.get(
        reverse("review_queue:duplicate_pairs"), {"min_score": min_score, "rule": rule}
    )
    assert response.status_code == 200
    return response.content.decode()


def merged_field(page: str, item: ReviewItem, field: str) -> str:
    """The preview's line for ``field`` of the record merging ``item`` makes."""
    row = page[page.index(f'data-item="{item.pk}"') :].split("</tr>")[0]
    return row[row.index(f'data-field="{field}"') :].split("</li>")[0]


def merge_pairs(client, capture, *, items, min_score: int, rule: str):
    with capture(execute=True):
        return client.post(
            reverse("review_queue:duplicate_pairs_merge"),
            {"min_score": min_score, "rule": rule, "items": [item.pk for item in items]},
        )


@pytest.fixture
def merged(client, pairs, simulator, django_capture_on_commit_callbacks):
    """The two pairs at 84% previewed, then merged in one bulk action by the owner rule (the
    page's default); the candidates as they were before, by target id."""
    client.force_login(demo_user("olivia"))
    page = pairs_page(client, 84, "owner")
    listed = {int(pk) for pk in re.findall(r'name="items" value="(\d+)"', page)}
    assert listed == {pairs[source_id].pk for source_id in HIGH}
    before = {target_id: erp_customer(simulator, target_id) for target_id in HIGH.values()}
    response = merge_pairs(
        client,
        django_capture_on_commit_callbacks,
        items=[pairs[source_id] for source_id in HIGH],
        min_score=84,
        rule="owner",
    )
    job = BulkAction.objects.get()
    assert response.url == reverse("review_queue:bulk_action_detail", args=[job.pk])
    progress = client.get(response.url).content.decode()
    assert "Queued: merge 2 pairs into their best candidates, taking the owner system" in progress
    job.refresh_from_db()
    return job, before


def test_a_bulk_merge_writes_the_values_the_rule_chose_into_each_best_candidate(
    client, merged, pairs, simulator
):
    job, before = merged
    assert (job.action, job.status, job.succeeded, job.refused) == ("merge_best", "succeeded", 2, 0)
    assert job.parameters == {"min_score": 0.84, "rule": "owner"}
    progress = client.get(reverse("review_queue:bulk_action_detail", args=[job.pk]))
    assert re.search(r"Merge queued</dt><dd[^>]*>2<", progress.content.decode())
    for source_id, target_id in HIGH.items():
        item = pairs[source_id]
        merge = Merge.objects.get(source_id=source_id)
        assert merge.status == Merge.Status.APPLIED, merge.error
        assert (merge.survivor_id, merge.merged_ids) == (target_id, [])
        # The CRM owns customers, the ERP their company: the survivor keeps only that.
        assert {name for name, key in merge.choices.items() if key == target_id} == {"company"}
        survivor = erp_customer(simulator, target_id)
        for name, key in merge.choices.items():
            chosen = item.payload[name] if key == "source" else before[target_id][name]
            assert survivor[name] == chosen, name
        assert RecordLink.objects.get(source_id=source_id).target_id == target_id
        item.refresh_from_db()
        assert item.status == ReviewItem.Status.RESOLVED
        assert item.resolution == f"Merged into {target_id} in Simulated ERP."
    # What changed, read back: the CRM's e-mail (with its typo) and names (swapped) won.
    assert erp_customer(simulator, "E-10001")["email"] == "monique.richardosn@wilson-llc.example"
    jordi = erp_customer(simulator, "E-10003")
    assert (jordi["given_name"], jordi["family_name"], jordi["crm_ref"]) == (
        "De Keyser",
        "Jordi",
        "C-0033",
    )


def test_the_progress_page_lists_each_merge_it_queued_and_where_it_stands(
    client, pairs, simulator, django_capture_on_commit_callbacks
):
    client.force_login(demo_user("olivia"))
    chosen = [pairs["C-0031"], pairs["C-0035"]]
    # "Most complete" keeps E-10005's formatted phone, which the simulated ERP refuses.
    merge_pairs(
        client, django_capture_on_commit_callbacks, items=chosen, min_score=80, rule="most_complete"
    )
    job = BulkAction.objects.get()

    page = client.get(reverse("review_queue:bulk_action_detail", args=[job.pk])).content.decode()

    listed = page[page.index('id="bulk-merges"') :].split("</table>")[0]
    applied, stopped = Merge.objects.get(source_id="C-0031"), Merge.objects.get(source_id="C-0035")
    assert (applied.status, stopped.status) == (Merge.Status.APPLIED, Merge.Status.FAILED)
    for merge, label in ((applied, "Applied"), (stopped, "Stopped half-way")):
        row = listed[listed.index(f'data-merge="{merge.pk}"') :].split("</tr>")[0]
        assert reverse("review_queue:merge_detail", args=[merge.pk]) in row
        assert merge.survivor_id in row and label in row
    assert "422" in listed[listed.index(f'data-merge="{stopped.pk}"') :].split("</tr>")[0]
    assert 'http-equiv="refresh"' not in page  # the action and its merges have ended
    # A merge still waiting for a worker after the action ended: the page keeps refreshing.
    Merge.objects.filter(pk=applied.pk).update(status=Merge.Status.QUEUED)
    page = client.get(reverse("review_queue:bulk_action_detail", args=[job.pk])).content.decode()
    assert 'http-equiv="refresh"' in page


def test_each_merge_of_a_bulk_merge_is_undone_one_by_one(
    client, merged, pairs, simulator, django_capture_on_commit_callbacks
):
    _, before = merged
    fields = ("given_name", "family_name", "email", "phone", "company", "crm_ref")
    first, second = HIGH.items()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("review_queue:merge_undo", args=[Merge.objects.get(source_id=first[0]).pk]),
            {"reason": "Not the same Monique"},
        )

    undone = erp_customer(simulator, first[1])
    assert {f: undone[f] for f in fields} == {f: before[first[1]][f] for f in fields}
    assert Merge.objects.get(source_id=first[0]).status == Merge.Status.UNDONE
    assert ReviewItem.objects.get(pk=pairs[first[0]].pk).status == ReviewItem.Status.OPEN
    # The other merge of the same bulk action stays in force.
    assert Merge.objects.get(source_id=second[0]).status == Merge.Status.APPLIED
    assert erp_customer(simulator, second[1])["crm_ref"] == second[0]


def test_the_rule_chosen_for_the_bulk_merge_decides_each_value(
    client, pairs, simulator, django_capture_on_commit_callbacks
):
    before = erp_customer(simulator, "E-10004")
    client.force_login(demo_user("olivia"))
    merge_pairs(
        client,
        django_capture_on_commit_callbacks,
        items=[pairs["C-0037"]],
        min_score=80,
        rule="most_complete",
    )

    merge = Merge.objects.get(source_id="C-0037")
    assert merge.status == Merge.Status.APPLIED, merge.error
    robert = erp_customer(simulator, "E-10004")
    # The ERP's given name and e-mail are the longer ones: kept (by the owner rule, the CRM's
    # "Bob" would win); the CRM reference is the CRM's.
    assert (robert["given_name"], robert["email"]) == ("Robert", before["email"])
    assert robert["crm_ref"] == "C-0037"


def test_a_pair_below_the_score_and_one_whose_candidate_is_linked_elsewhere_are_refused(
    pairs, shipped_demo_flow, simulator, django_capture_on_commit_callbacks
):
    olivia = demo_user("olivia")
    # Another CRM record was linked to E-10001 meanwhile: a retry of C-0031 finds it so.
    RecordLink.objects.create(
        flow=shipped_demo_flow,
        **RecordLink.natural_key_of(shipped_demo_flow, "C-0099"),
        target_id="E-10001",
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.review_item_retry(item=pairs["C-0031"], user=olivia)
    taken, low = (ReviewItem.objects.get(pk=pairs[s].pk) for s in ("C-0031", "C-0037"))
    assert taken.status == ReviewItem.Status.OPEN
    assert taken.candidates[0]["linked_from"] == "C-0099"
    versions = {item.pk: item.version for item in (taken, low)}
    records = {
        target_id: erp_customer(simulator, target_id) for target_id in ("E-10001", "E-10004")
    }

    with django_capture_on_commit_callbacks(execute=True):
        job = bulk_action_start(
            user=olivia,
            action=BulkAction.Action.MERGE_BEST,
            parameters={"min_score": 0.84, "rule": "owner"},
            item_ids=[taken.pk, low.pk, pairs["C-0033"].pk],
        )
    job.refresh_from_db()

    assert (job.status, job.succeeded, job.refused) == ("succeeded_with_failures", 1, 2)
    reasons = {refusal["source_id"]: refusal["reason"] for refusal in job.refusals}
    assert reasons == {
        "C-0031": "E-10001 is linked to C-0099 already: merge them one by one.",
        "C-0037": "Its best candidate scores 80%, below 84%: left for a person.",
    }
    assert set(Merge.objects.values_list("source_id", flat=True)) == {"C-0033"}
    for item in (taken, low):
        item.refresh_from_db()
        assert (item.status, item.version) == (ReviewItem.Status.OPEN, versions[item.pk])
        assert not item.events.filter(action=ReviewItemEvent.Action.MERGE_REQUESTED).exists()
    assert not RecordLink.objects.filter(source_id__in=["C-0031", "C-0037"]).exists()
    for target_id, record in records.items():
        assert erp_customer(simulator, target_id) == record


def test_a_pair_another_operator_acts_on_while_the_bulk_merge_runs_is_left_as_it_was(
    pairs, simulator, django_capture_on_commit_callbacks, monkeypatch
):
    olivia, other = demo_user("olivia"), UserFactory(username="otto", role=roles.OPERATOR)
    item = pairs["C-0031"]
    record = erp_customer(simulator, "E-10001")
    plan = services.review_item_merge_plan

    def plan_while_another_operator_acts(changing, **kwargs):
        # Otto takes the item after the job read it and before its merge locks it.
        services.review_item_assign(
            item=ReviewItem.objects.get(pk=changing.pk), user=other, assignee=other
        )
        return plan(changing, **kwargs)

    monkeypatch.setattr(services, "review_item_merge_plan", plan_while_another_operator_acts)
    with django_capture_on_commit_callbacks(execute=True):
        job = bulk_action_start(
            user=olivia,
            action=BulkAction.Action.MERGE_BEST,
            parameters={"min_score": 0.84, "rule": "owner"},
            item_ids=[item.pk],
        )
    job.refresh_from_db()

    assert (job.succeeded, job.refused) == (0, 1)
    reason = job.refusals[0]["reason"]
    assert reason.startswith("It changed while the bulk action ran: otto assigned")
    assert reason.endswith("; it was left as it was.")
    assert "since you opened it" not in reason
    assert not Merge.objects.exists()
    assert erp_customer(simulator, "E-10001") == record


def test_a_score_just_below_the_threshold_is_not_rounded_up_to_it_in_the_refusal(pairs):
    with pytest.raises(services.ActionNotAllowed) as refused:
        services.review_item_merge_best(
            item=pairs["C-0035"], user=demo_user("olivia"), min_score=0.81, rule="owner"
        )

    assert re.fullmatch(
        r"Its best candidate scores 80\.\d%, below 81%: left for a person\.", str(refused.value)
    )


def test_the_preview_shows_the_record_each_merge_makes_and_what_it_changes(client, pairs):
    client.force_login(demo_user("olivia"))
    wulf = pairs["C-0035"]

    by_owner = pairs_page(client, 80, "owner")
    email = merged_field(by_owner, wulf, "email")
    assert 'class="changes"' in email and "<mark>w.roerricht@example.de</mark>" in email
    company = merged_field(by_owner, wulf, "company")
    assert 'class="changes"' not in company and "Girschner AG" in company
    assert "taking the owner system&#x27;s value" in by_owner
    assert "no record is archived or deleted" in by_owner

    by_length = pairs_page(client, 80, "most_complete")
    email = merged_field(by_length, wulf, "email")
    assert 'class="changes"' not in email and "wulf.rorricht@girschner-ag.example" in email
    assert "<mark>C-0035</mark>" in merged_field(by_length, wulf, "crm_ref")
    assert 'name="rule" value="most_complete"' in by_length


def test_the_preview_masks_the_data_classs_sensitive_values(client):
    schema = {
        "fields": [
            {"name": "name", "label": "Name", "type": "string"},
            {"name": "iban", "label": "IBAN", "type": "string", "sensitive": True},
        ]
    }
    flow = FlowFactory(data_class=DataClassFactory(schema=schema))
    # Stored unmasked here, to show that the page masks whatever it finds.
    item = ReviewItemFactory(
        flow=flow,
        kind="possible_duplicate",
        payload={"name": "Ada Lovelace", "iban": "DE89370400440532013000"},
        candidates=[
            {
                "target_id": "T-1",
                "values": {"name": "Ada L.", "iban": "DE02120300000000202051"},
                "score": {"total": 0.95},
                "linked_from": "",
            }
        ],
    )
    client.force_login(UserFactory(role=roles.OPERATOR))
    page = pairs_page(client, 90, "owner")

    assert "DE89370400440532013000" not in page and "DE02120300000000202051" not in page
    assert f"<mark>{MASK}</mark>" in merged_field(page, item, "iban")
    assert "<mark>Ada Lovelace</mark>" in merged_field(page, item, "name")


def test_merging_pairs_needs_the_right_to_act(client, pairs):
    viewer = UserFactory(permissions=["review_queue.view_reviewitem"])
    client.force_login(viewer)
    assert 'id="merge-pairs"' not in pairs_page(client, 80, "owner")

    response = client.post(
        reverse("review_queue:duplicate_pairs_merge"),
        {"min_score": 80, "rule": "owner", "items": [pairs["C-0037"].pk]},
    )
    assert response.status_code == 403
    assert not BulkAction.objects.exists()


def test_merging_pairs_needs_the_pages_csrf_token(pairs):
    client = Client(enforce_csrf_checks=True)
    client.force_login(demo_user("olivia"))
    response = client.post(
        reverse("review_queue:duplicate_pairs_merge"),
        {"min_score": 80, "rule": "owner", "items": [pairs["C-0037"].pk]},
    )
    assert response.status_code == 403
    assert not BulkAction.objects.exists()


def test_an_unknown_rule_starts_nothing(client, pairs):
    client.force_login(demo_user("olivia"))
    response = client.post(
        reverse("review_queue:duplicate_pairs_merge"),
        {"min_score": 80, "rule": "loudest", "items": [pairs["C-0037"].pk]},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("review_queue:duplicate_pairs")
    assert "&#x27;loudest&#x27; is no way to choose the merged values" in response.content.decode()
    assert not BulkAction.objects.exists()
    with pytest.raises(services.ActionNotAllowed, match="'loudest' is no way to choose"):
        services.review_item_merge_best(
            item=pairs["C-0037"], user=demo_user("olivia"), min_score=0.5, rule="loudest"
        )
    assert not Merge.objects.exists()


# A real worker in the PostgreSQL + Redis lane; this process without Redis.
@pytest.mark.django_db(transaction=True)
def test_whatever_runs_jobs_here_merges_the_pairs(
    shipped_demo_flow, simulator, settings, django_capture_on_commit_callbacks, job_runner
):
    redis_url, settings.REDIS_URL = settings.REDIS_URL, ""
    run_flow(shipped_demo_flow, django_capture_on_commit_callbacks)  # the queue, seeded here
    settings.REDIS_URL = redis_url
    items = ReviewItem.objects.filter(source_id__in=HIGH)

    with django_capture_on_commit_callbacks(execute=True):
        job = bulk_action_start(
            user=demo_user("olivia"),
            action=BulkAction.Action.MERGE_BEST,
            parameters={"min_score": 0.84, "rule": "owner"},
            item_ids=[item.pk for item in items],
        )

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job.refresh_from_db()
        merges = Merge.objects.filter(status__in=[Merge.Status.APPLIED, Merge.Status.FAILED])
        if not job.is_active and merges.count() == len(HIGH):
            break
        time.sleep(0.2)
    assert (job.status, job.succeeded) == ("succeeded", 2), job.refusals
    assert set(Merge.objects.values_list("status", flat=True)) == {Merge.Status.APPLIED}
    for source_id, target_id in HIGH.items():
        assert erp_customer(simulator, target_id)["crm_ref"] == source_id


def test_the_preview_reads_the_ownership_rules_once_however_many_pairs_it_shows(client, pairs):
    client.force_login(demo_user("olivia"))
    counted = {}
    for min_score in (84, 50):  # two pairs, then all four
        with CaptureQueriesContext(connection) as queries:
            page = pairs_page(client, min_score, "owner")
        counted[page.count('name="items"')] = len(queries)

    assert set(counted) == {2, 4}
    assert counted[2] == counted[4]
