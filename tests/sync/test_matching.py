"""Matching in the identify step, over real HTTP against the simulator: a record the target
already holds is found before it is written, linked when it surely is that record, and shown to
a person with its candidates when it may be."""

import httpx
import pytest

from integration_console.demo import CUSTOMER_MATCH_ROLES
from integration_console.matching.keys import RARE
from integration_console.matching.spec import default_people_spec
from integration_console.sync.identify import (
    Matching,
    forget,
    match_records,
    matching_for,
    remember_written,
)
from integration_console.sync.models import (
    AuditEntry,
    DistinctPair,
    Flow,
    RecordLink,
    TargetRecord,
    TargetRecordKey,
)
from integration_console.sync.services.matching import match_index_refresh
from review_queue.models import ReviewItem
from tests.factories import run_flow

pytestmark = pytest.mark.django_db


def with_matching(flow: Flow) -> Flow:
    flow.data_class.matching = default_people_spec(CUSTOMER_MATCH_ROLES).to_config()
    flow.data_class.save()
    return Flow.objects.select_related("data_class").get(pk=flow.pk)


@pytest.fixture
def matching_flow(demo_flow, simulator):
    flow = with_matching(demo_flow)
    assert match_index_refresh(flow=flow) == 5  # the ERP's seeded customers
    return flow


def erp_customers(simulator) -> list[dict]:
    response = httpx.get(f"{simulator.erp_url}/customers", params={"page_size": 200})
    return response.json()["results"]


def erp_customer(simulator, target_id: str) -> dict:
    return httpx.get(f"{simulator.erp_url}/customers/{target_id}").json()


def crm_update(simulator, contact_id: str, **values) -> None:
    httpx.put(f"{simulator.crm_url}/contacts/{contact_id}", json=values).raise_for_status()


def test_a_record_the_target_already_holds_is_linked_before_it_is_written(
    matching_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    # C-0029 is E-10002 with its e-mail in other letter case: the ERP would refuse a create
    # with a 409. Matching finds it first, links it and brings it up to date.
    run = run_flow(matching_flow, django_capture_on_commit_callbacks)

    assert RecordLink.objects.get(source_id="C-0029").target_id == "E-10002"
    assert not ReviewItem.objects.filter(source_id="C-0029").exists()
    entries = list(AuditEntry.objects.filter(source_id="C-0029").order_by("id"))
    assert [(e.action, e.outcome, e.target_id) for e in entries] == [
        ("link", "succeeded", "E-10002"),
        ("update", "succeeded", "E-10002"),
    ]
    assert entries[0].match["target_id"] == "E-10002"
    by_field = {f["field"]: f["score"] for f in entries[0].match["score"]["fields"]}
    assert by_field["email"] == 1.0 and by_field["family_name"] == 1.0
    # The demo's other seeded duplicates wait for a person (their e-mails differ).
    assert (run.created_count, run.updated_count, run.failed_count) == (32, 1, 7)
    assert len(erp_customers(simulator)) == 5 + 32
    assert erp_customer(simulator, "E-10002")["crm_ref"] == "C-0029"


def test_a_record_that_may_be_a_duplicate_waits_for_a_person_with_its_candidates(
    matching_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    customer = erp_customer(simulator, "E-10003")
    # The same name, but another e-mail address and no phone: maybe the same person.
    crm_update(
        simulator,
        "C-0002",
        first_name=customer["given_name"],
        last_name=customer["family_name"],
        email="someone.else@example.org",
        phone="",
        company=customer["company"],
    )
    run_flow(matching_flow, django_capture_on_commit_callbacks)

    item = ReviewItem.objects.get(source_id="C-0002")
    assert item.kind == "possible_duplicate"
    assert [c["target_id"] for c in item.candidates] == ["E-10003"]
    (candidate,) = item.candidates
    assert candidate["values"]["family_name"] == customer["family_name"]
    scores = {f["field"]: f["score"] for f in candidate["score"]["fields"]}
    assert scores["family_name"] == 1.0 and scores["email"] < 0.9
    assert item.reason.startswith("Looks like E-10003 of Simulated ERP's customers (")
    assert not RecordLink.objects.filter(source_id="C-0002").exists()
    assert "someone.else@example.org" not in {c["email"] for c in erp_customers(simulator)}


def test_two_records_of_one_page_that_are_one_person_are_written_once_and_a_person_asked(
    matching_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    first = httpx.get(f"{simulator.crm_url}/contacts/C-0004").json()
    crm_update(
        simulator,
        "C-0006",
        first_name=first["first_name"],
        last_name=first["last_name"],
        email=first["email"].upper(),
        phone=first["phone"],
        company=first["company"],
        country=first["country"],
    )
    run_flow(matching_flow, django_capture_on_commit_callbacks)

    # C-0004 was written; C-0006, the same person, waits for a person: two CRM records would
    # otherwise write one ERP customer.
    written = RecordLink.objects.get(source_id="C-0004").target_id
    assert not RecordLink.objects.filter(source_id="C-0006").exists()
    item = ReviewItem.objects.get(source_id="C-0006")
    assert item.kind == "possible_duplicate"
    assert [(c["target_id"], c["linked_from"]) for c in item.candidates] == [(written, "C-0004")]
    assert "Simulated CRM record C-0004 is already linked to" in item.reason
    emails = [c["email"] for c in erp_customers(simulator)]
    assert emails.count(first["email"].strip().lower()) == 1


def test_a_pair_a_person_called_distinct_is_not_offered_again(
    matching_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    customer = erp_customer(simulator, "E-10003")
    crm_update(
        simulator,
        "C-0002",
        first_name=customer["given_name"],
        last_name=customer["family_name"],
        email="someone.else@example.org",
        phone="",
    )
    DistinctPair.objects.create(
        flow=matching_flow,
        source_id="C-0002",
        target_id="E-10003",
        reason="Namesakes",
        decided_by="user:olivia",
    )
    run_flow(matching_flow, django_capture_on_commit_callbacks)

    assert not ReviewItem.objects.filter(source_id="C-0002").exists()
    assert RecordLink.objects.get(source_id="C-0002").target_id != "E-10003"


def test_the_index_follows_the_consoles_own_writes(
    matching_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    run_flow(matching_flow, django_capture_on_commit_callbacks)

    link = RecordLink.objects.get(source_id="C-0001")
    indexed = TargetRecord.objects.get(target_id=link.target_id)
    assert indexed.values["crm_ref"] == "C-0001"
    assert TargetRecordKey.objects.filter(record=indexed).exists()
    # 5 seeded customers and 32 created (C-0029 went to E-10002, four wait for a person).
    assert TargetRecord.objects.count() == 37


def test_a_look_up_costs_the_same_queries_whatever_the_target_holds(
    matching_flow, simulator, django_assert_num_queries
):
    matching = matching_for(matching_flow)
    payloads = {
        f"S-{n}": {"given_name": "Ada", "family_name": f"Name{n}", "email": f"a{n}@x.org"}
        for n in range(50)
    }

    def index(numbers: range) -> None:
        TargetRecord.objects.bulk_create(
            TargetRecord(
                system_id=matching.system_id,
                resource=matching.resource,
                target_id=f"T-{n}",
                values={"given_name": "Ada", "family_name": f"Name{n}", "email": f"a{n}@x.org"},
            )
            for n in numbers
        )
        record_of = dict(
            TargetRecord.objects.filter(target_id__in=[f"T-{n}" for n in numbers]).values_list(
                "target_id", "pk"
            )
        )
        TargetRecordKey.objects.bulk_create(
            TargetRecordKey(
                key_hash=key_hash(matching, f"email:a{n}@x.org"), record_id=record_of[f"T-{n}"]
            )
            for n in numbers
        )

    index(range(100))
    with django_assert_num_queries(3):
        small = match_records(matching, matching_flow, payloads)
    index(range(100, 5000))
    with django_assert_num_queries(3):
        large = match_records(matching, matching_flow, payloads)
    assert small == large
    assert large["S-7"].verdict != "new" and large["S-7"].best.target_id == "T-7"


def test_records_a_dry_run_would_link_are_shown_as_links_and_nothing_is_written(
    matching_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    matching_flow.stage = Flow.Stage.DRY_RUN
    matching_flow.save()
    run_flow(matching_flow, django_capture_on_commit_callbacks)

    entry = AuditEntry.objects.get(source_id="C-0029")
    assert (entry.action, entry.outcome, entry.target_id) == ("link", "dry_run", "E-10002")
    assert not RecordLink.objects.exists()
    assert len(erp_customers(simulator)) == 5


def test_a_target_asked_finds_a_record_others_created_since_the_index_was_read(
    shipped_demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    # Someone creates C-0001's person in the ERP by hand, after the index was read.
    contact = httpx.get(f"{simulator.crm_url}/contacts/C-0001").json()
    made_by_hand = httpx.post(
        f"{simulator.erp_url}/customers",
        json={
            "given_name": contact["first_name"].strip(),
            "family_name": contact["last_name"].strip(),
            "email": contact["email"].strip().lower(),
            "phone": contact["phone"],
            "country_code": "DE",
        },
    ).json()["id"]
    erp = shipped_demo_flow.target_system
    erp.settings = {**erp.settings, "search": {"email": "email"}}
    erp.save()
    data_class = shipped_demo_flow.data_class
    data_class.matching = {**data_class.matching, "ask_target": True}
    data_class.save()

    run_flow(Flow.objects.get(pk=shipped_demo_flow.pk), django_capture_on_commit_callbacks)

    assert RecordLink.objects.get(source_id="C-0001").target_id == made_by_hand
    assert not ReviewItem.objects.filter(source_id="C-0001").exists()
    assert TargetRecord.objects.filter(target_id=made_by_hand).exists()


def test_without_asking_the_target_the_index_alone_misses_it_and_the_erp_refuses(
    shipped_demo_flow, simulator, in_process_jobs, django_capture_on_commit_callbacks
):
    contact = httpx.get(f"{simulator.crm_url}/contacts/C-0001").json()
    httpx.post(
        f"{simulator.erp_url}/customers",
        json={
            "given_name": contact["first_name"].strip(),
            "family_name": contact["last_name"].strip(),
            "email": contact["email"].strip().lower(),
            "country_code": "DE",
        },
    ).raise_for_status()

    run_flow(shipped_demo_flow, django_capture_on_commit_callbacks)

    assert ReviewItem.objects.get(source_id="C-0001").kind == "already_exists"


def test_a_page_with_more_keys_than_sqlite_takes_in_one_statement_is_looked_up_whole(
    matching_flow, simulator
):
    matching = matching_for(matching_flow)
    payloads = {
        f"S-{n}": {
            "given_name": f"Given{n}",
            "family_name": f"Family{n}",
            "email": f"p{n}@x.org",
            "phone": f"+4930{1000000 + n}",
        }
        for n in range(200)
    }
    record = TargetRecord.objects.create(
        system_id=matching.system_id,
        resource=matching.resource,
        target_id="T-199",
        values=payloads["S-199"],
    )
    TargetRecordKey.objects.create(key_hash=key_hash(matching, "email:p199@x.org"), record=record)

    decisions = match_records(matching, matching_flow, payloads)

    assert len(decisions) == 200
    assert decisions["S-199"].verdict == "auto_link"
    assert decisions["S-199"].best.target_id == "T-199"


def test_a_name_alone_offers_candidates_only_while_few_records_have_it(matching_flow):
    """A sound-alike name is the only key a record with a mistyped e-mail and another phone
    shares with its target record. Among a few records with that name it is found and goes to
    a person; among many namesakes that name alone offers no one, so what a record is compared
    with does not grow with the target (its e-mail or phone find a duplicate there)."""
    matching = matching_for(matching_flow)

    def person(given: str, family: str, number: int) -> dict:
        return {
            "given_name": given,
            "family_name": family,
            "email": f"{given}.{family}.{number}@example.org".lower(),
            "phone": f"+4930555{number:04d}",
        }

    remember_written(
        matching,
        [(f"T-ada-{n}", person("Ada", "Lovelace", n)) for n in range(RARE + 5)]
        + [(f"T-grace-{n}", person("Grace", "Hopper", n)) for n in range(RARE)],
    )
    # E-mail one typo away (its local part too), another phone: only the name is the same.
    mistyped = {
        "S-ada": {**person("Ada", "Lovelace", 2), "email": "ada.lovelace2@example.org"},
        "S-grace": {**person("Grace", "Hopper", 2), "email": "grace.hopper2@example.org"},
    }
    mistyped["S-ada"]["phone"] = mistyped["S-grace"]["phone"] = "+4940999000"

    decisions = match_records(matching, matching_flow, mistyped)

    assert decisions["S-grace"].verdict == "review"
    assert decisions["S-grace"].best.target_id == "T-grace-2"
    assert decisions["S-ada"].verdict == "new"
    # The same record with its e-mail as the target holds it is found among the namesakes.
    exact = {"S-ada": {**mistyped["S-ada"], "email": "ada.lovelace.2@example.org"}}
    assert match_records(matching, matching_flow, exact)["S-ada"].best.target_id == "T-ada-2"


def test_a_key_whose_hash_another_resource_shares_offers_none_of_its_records(
    matching_flow, monkeypatch
):
    """Keys are kept as 64-bit hashes: two of them may collide. A record of another resource
    whose key collided with this one's is not a candidate here."""
    matching = matching_for(matching_flow)
    elsewhere = Matching(matching.spec, matching.system_id, "suppliers")
    # Every key of every resource collides: the worst a hash could do.
    monkeypatch.setattr(TargetRecordKey, "hash_of", staticmethod(lambda *_: 42))
    ada = {"given_name": "Ada", "family_name": "Lovelace", "email": "ada@example.org"}
    remember_written(elsewhere, [("SUP-1", ada)])

    assert match_records(matching, matching_flow, {"S-1": ada})["S-1"].verdict == "new"
    remember_written(matching, [("T-1", ada)])
    assert match_records(matching, matching_flow, {"S-1": ada})["S-1"].best.target_id == "T-1"


def test_a_record_taken_out_of_the_index_takes_its_keys_with_it(matching_flow):
    matching = matching_for(matching_flow)
    ada = {"given_name": "Ada", "family_name": "Lovelace", "email": "ada@example.org"}
    grace = {"given_name": "Grace", "family_name": "Hopper", "email": "grace@example.org"}
    remember_written(matching, [("T-ada", ada), ("T-grace", grace)])
    row = TargetRecord.objects.get(target_id="T-ada").pk
    assert TargetRecordKey.objects.filter(record_id=row).exists()

    forget(matching, ["T-ada"])

    assert not TargetRecordKey.objects.filter(record_id=row).exists()
    assert TargetRecordKey.objects.filter(record__target_id="T-grace").exists()
    assert match_records(matching, matching_flow, {"S-1": ada})["S-1"].verdict == "new"


def key_hash(matching, key: str) -> int:
    return TargetRecordKey.hash_of(matching.system_id, matching.resource, key)
