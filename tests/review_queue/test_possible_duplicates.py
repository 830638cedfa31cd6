"""A possible duplicate on its item page: the record beside its candidates, and the actions a
person takes on it (link to one, create anyway), over real HTTP against the simulator."""

import re

import pytest
from django.urls import reverse

from integration_console.sync.models import DistinctPair, Merge, RecordLink
from review_queue import services
from review_queue.models import BulkAction, ReviewItem, ReviewItemEvent
from tests.factories import demo_user, run_flow
from tests.sync.test_matching import crm_update, erp_customer, erp_customers, with_matching

pytestmark = pytest.mark.django_db


@pytest.fixture
def possible_duplicate(demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks):
    """C-0002 made to look like E-10003 (same name and company, another e-mail, no phone),
    after a run with matching: its possible_duplicate item."""
    from integration_console.sync.services.matching import match_index_refresh

    flow = with_matching(demo_flow)
    match_index_refresh(flow=flow)
    customer = erp_customer(simulator, "E-10003")
    crm_update(
        simulator,
        "C-0002",
        first_name=customer["given_name"],
        last_name=customer["family_name"],
        email="<b>someone.else</b>@example.org",
        phone="",
        company=customer["company"],
    )
    run_flow(flow, django_capture_on_commit_callbacks)
    return ReviewItem.objects.get(source_id="C-0002", kind="possible_duplicate")


def detail(client, item):
    return client.get(reverse("review_queue:item_detail", args=[item.pk]))


def test_the_item_page_shows_the_record_beside_its_candidates_field_by_field(
    client, possible_duplicate, simulator
):
    client.force_login(demo_user("olivia"))
    page = detail(client, possible_duplicate).content.decode()

    assert 'id="candidates"' in page
    assert 'data-target-id="E-10003"' in page
    customer = erp_customer(simulator, "E-10003")
    assert customer["family_name"] in page
    # The e-mails differ: highlighted, with how alike they are.
    email_row = page[page.index('data-field="email"') :].split("</tr>")[0]
    assert "differs" in email_row and "field-score" in email_row
    # What the source sent is shown as text, never as markup.
    assert "&lt;b&gt;someone.else&lt;/b&gt;@example.org" in page
    assert "<b>someone.else</b>" not in page
    assert "Link to E-10003" in page and "Not a duplicate: create it" in page


def test_linking_to_a_candidate_resolves_the_item_and_updates_that_record(
    client, possible_duplicate, simulator, django_capture_on_commit_callbacks
):
    client.force_login(demo_user("olivia"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("review_queue:item_link", args=[possible_duplicate.pk]),
            {"target_id": "E-10003", "item_version": possible_duplicate.version},
        )
    assert response.status_code == 302
    possible_duplicate.refresh_from_db()
    assert possible_duplicate.status == ReviewItem.Status.RESOLVED
    assert RecordLink.objects.get(source_id="C-0002").target_id == "E-10003"


def test_create_anyway_remembers_the_pair_and_creates_the_record_once(
    client, possible_duplicate, simulator, django_capture_on_commit_callbacks
):
    before = len(erp_customers(simulator))
    client.force_login(demo_user("olivia"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("review_queue:item_create_anyway", args=[possible_duplicate.pk]),
            {"reason": "Namesakes: another person", "item_version": possible_duplicate.version},
        )
    assert response.status_code == 302

    possible_duplicate.refresh_from_db()
    assert possible_duplicate.status == ReviewItem.Status.RESOLVED
    pair = DistinctPair.objects.get(source_id="C-0002")
    assert (pair.target_id, pair.reason, pair.decided_by) == (
        "E-10003",
        "Namesakes: another person",
        "user:olivia",
    )
    created = RecordLink.objects.get(source_id="C-0002").target_id
    assert created != "E-10003"
    assert len(erp_customers(simulator)) == before + 1
    assert possible_duplicate.events.filter(
        action=ReviewItemEvent.Action.CREATED_ANYWAY, note="Namesakes: another person"
    ).exists()


def test_create_anyway_is_refused_for_an_item_that_is_no_possible_duplicate(
    demo_flow, in_process_jobs, django_capture_on_commit_callbacks
):
    run_flow(demo_flow, django_capture_on_commit_callbacks)
    invalid = ReviewItem.objects.get(source_id="C-0007")
    with pytest.raises(services.ActionNotAllowed, match="Only a possible duplicate"):
        services.review_item_create_anyway(
            item=invalid, user=demo_user("olivia"), reason="Not a duplicate"
        )
    assert not DistinctPair.objects.exists()


def test_a_second_operator_acting_on_a_candidate_pair_is_told_it_changed(
    client, possible_duplicate, simulator, django_capture_on_commit_callbacks
):
    seen = possible_duplicate.version
    with django_capture_on_commit_callbacks(execute=True):
        services.review_item_link(
            item=possible_duplicate, user=demo_user("olivia"), target_id="E-10003"
        )
    client.force_login(demo_user("ada"))
    response = client.post(
        reverse("review_queue:item_create_anyway", args=[possible_duplicate.pk]),
        {"reason": "Another person", "item_version": seen},
    )
    assert response.status_code == 409
    assert not DistinctPair.objects.exists()
    assert RecordLink.objects.get(source_id="C-0002").target_id == "E-10003"
    assert not [c for c in erp_customers(simulator) if c["crm_ref"] == "C-0002"]


@pytest.fixture
def bob_item(shipped_demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks):
    """The shipped demo run: C-0037 ("Bob Boone") waits as a possible duplicate of E-10004."""
    run_flow(shipped_demo_flow, django_capture_on_commit_callbacks)
    return ReviewItem.objects.get(source_id="C-0037")


def test_the_merge_page_defaults_each_field_by_its_owner_and_previews_the_merged_record(
    client, bob_item
):
    client.force_login(demo_user("olivia"))
    url = reverse("review_queue:item_merge", args=[bob_item.pk])
    page = client.get(url, {"survivor": "E-10004"}).content.decode()
    # Sales (the CRM) owns customers, finance (the ERP) the company name.
    given = page[page.index('data-field="given_name"') :].split("</tr>")[0]
    assert 'value="source" id="f-given_name-1" checked' in given
    company = page[page.index('data-field="company"') :].split("</tr>")[0]
    assert 'value="E-10004" id="f-company-2" checked' in company
    assert 'id="merge-preview"' not in page

    preview = client.post(
        url,
        {
            "survivor": "E-10004",
            "rule": "owner",
            "field_given_name": "E-10004",
            "preview": "1",
            "item_version": bob_item.version,
        },
    ).content.decode()
    merged = preview[preview.index('id="merge-preview"') :]
    assert "Given name</span>: Robert" in merged
    assert "CRM reference</span>: C-0037" in merged
    assert 'id="apply-merge"' in preview


def test_merging_from_the_page_applies_it_and_its_page_undoes_it(
    client, bob_item, simulator, django_capture_on_commit_callbacks
):
    client.force_login(demo_user("olivia"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("review_queue:item_merge", args=[bob_item.pk]),
            {
                "survivor": "E-10004",
                "rule": "owner",
                "apply": "1",
                "item_version": bob_item.version,
            },
        )
    merge = Merge.objects.get()
    assert response.url == reverse("review_queue:merge_detail", args=[merge.pk])
    assert merge.status == Merge.Status.APPLIED, merge.error
    assert erp_customer(simulator, "E-10004")["given_name"] == "Bob"
    bob_item.refresh_from_db()
    assert bob_item.status == ReviewItem.Status.RESOLVED

    page = client.get(response.url).content.decode()
    assert "Undo the merge" in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("review_queue:merge_undo", args=[merge.pk]), {"reason": "Not the same Bob"}
        )
    merge.refresh_from_db()
    assert merge.status == Merge.Status.UNDONE
    assert erp_customer(simulator, "E-10004")["given_name"] == "Robert"
    bob_item.refresh_from_db()
    assert bob_item.status == ReviewItem.Status.OPEN


def test_two_operators_merging_one_record_get_one_merge_and_the_second_is_told(
    client, bob_item, simulator, django_capture_on_commit_callbacks
):
    seen = bob_item.version
    form = {"survivor": "E-10004", "rule": "owner", "apply": "1", "item_version": seen}
    url = reverse("review_queue:item_merge", args=[bob_item.pk])
    client.force_login(demo_user("olivia"))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, form)
    client.force_login(demo_user("ada"))
    response = client.post(url, form, follow=True)

    assert Merge.objects.count() == 1
    assert "changed since you opened it" in response.content.decode()


def test_high_score_pairs_are_previewed_then_linked_in_one_bulk_action(
    client, shipped_demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    run_flow(shipped_demo_flow, django_capture_on_commit_callbacks)
    client.force_login(demo_user("olivia"))
    scores = {
        item.source_id: item.candidates[0]["score"]["total"]
        for item in ReviewItem.objects.filter(kind="possible_duplicate")
    }
    cut = sorted(scores.values())[1]  # leaves the lowest-scoring pair out
    above = {source_id for source_id, score in scores.items() if score >= cut}
    page = client.get(
        reverse("review_queue:duplicate_pairs"), {"min_score": int(cut * 100)}
    ).content.decode()
    listed = {
        ReviewItem.objects.get(pk=pk).source_id
        for pk in re.findall(r'name="items" value="(\d+)"', page)
    }
    assert listed == {s for s, score in scores.items() if score >= int(cut * 100) / 100}
    assert above <= listed

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("review_queue:duplicate_pairs_link"),
            {
                "min_score": int(cut * 100),
                "items": [i.pk for i in ReviewItem.objects.filter(source_id__in=listed)],
            },
        )
    job = BulkAction.objects.get()
    assert response.url == reverse("review_queue:bulk_action_detail", args=[job.pk])
    job.refresh_from_db()
    assert (job.action, job.status, job.succeeded) == ("link_best", "succeeded", len(listed))
    links = dict(
        RecordLink.objects.filter(source_id__in=listed).values_list("source_id", "target_id")
    )
    expected = {
        item.source_id: item.candidates[0]["target_id"]
        for item in ReviewItem.objects.filter(source_id__in=listed)
    }
    assert links == expected
    left = set(scores) - listed
    assert ReviewItem.objects.filter(source_id__in=left, status="open").count() == len(left)


def test_a_pair_below_the_score_is_refused_by_the_bulk_link_with_its_reason(
    shipped_demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    run_flow(shipped_demo_flow, django_capture_on_commit_callbacks)
    item = ReviewItem.objects.get(source_id="C-0037")
    with pytest.raises(services.ActionNotAllowed, match="below 99%: left for a person"):
        services.review_item_link_best(item=item, user=demo_user("olivia"), min_score=0.99)


def test_a_merges_page_shows_sensitive_values_masked(client):
    from integration_console import roles
    from integration_console.sync.redaction import MASK
    from tests.factories import DataClassFactory, FlowFactory, UserFactory

    schema = {
        "fields": [
            {"name": "name", "label": "Name", "type": "string"},
            {"name": "iban", "label": "IBAN", "type": "string", "sensitive": True},
        ]
    }
    flow = FlowFactory(data_class=DataClassFactory(schema=schema))
    merge = Merge.objects.create(
        flow=flow,
        source_id="S-1",
        survivor_id="T-1",
        choices={"name": "source", "iban": "T-1"},
        values={"name": "Ada", "iban": "DE89370400440532013000"},
        survivor_before={"name": "Ada L.", "iban": "DE02120300000000202051"},
        status=Merge.Status.APPLIED,
        requested_by="user:olivia",
    )
    client.force_login(UserFactory(role=roles.OPERATOR))
    page = client.get(reverse("review_queue:merge_detail", args=[merge.pk])).content.decode()

    assert "DE89370400440532013000" not in page and "DE02120300000000202051" not in page
    assert MASK in page and "Ada L." in page
