"""The review queue list, search and overview at a million items, before and after the list's
indexes and keyset pages. Not part of the test suite.

    .venv/bin/python bench/queue_list.py [--items 1000000] [--repeat 15]

It creates its own PostgreSQL database (``ic_bench_queue`` on the server that
``BENCH_PG_URL`` names, default ``postgres://postgres@127.0.0.1:5432``), migrates it with the
queue's migration 0004 unapplied, fills it with review items by ``COPY``, times the old
queries (the Paginator's ``COUNT(*)`` and ``OFFSET`` page, the search and the overview's
join, run directly), applies 0004 (indexes, trigram search), and times the same pages through
Django's test client. It drops the database at the end. Machines differ, so the figures that
matter are the ratios against the old page 1 measured in this same run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DB_NAME = "ic_bench_queue"
PARTS = ("list", "item", "admin", "overview", "bulk")
MEASURED = set(PARTS)
SERVER = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
FLOWS = 8
OPERATORS = 5
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret"]
LAST = ["Lovelace", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton"]
COMPANIES = [f"{a} {b}" for a in ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark")
             for b in ("GmbH", "Ltd", "Inc", "AG", "SARL", "BV", "Oy", "AB")]  # fmt: skip
KINDS = {  # kind: (weight, reason, failing field)
    "invalid": (40, "email: Enter a valid email address.", "email"),
    "target_rejected": (25, "ERP rejects country 'UK'", "country_code"),
    "already_exists": (10, "A customer with this VAT id exists", "vat_id"),
    "possible_duplicate": (10, "Two customers match by name and postcode", "name"),
    "mapping_error": (5, "phone: cannot parse as E.164", "phone"),
    "retries_exhausted": (5, "ERP timed out 5 times", ""),
    "conflict": (5, "Both systems changed the billing address", "address"),
}
# About a quarter needs attention, as in the year of a busy integration.
STATUSES = [("open", 18), ("in_progress", 5), ("retrying", 2), ("resolved", 60), ("dismissed", 15)]
ACTIVE = ("open", "in_progress", "retrying")


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--items", type=int, default=1_000_000)
    args.add_argument("--repeat", type=int, default=15)
    args.add_argument(
        "--database",
        default=os.environ.get("BENCH_DB_NAME", "ic_bench_queue"),
        help="the database to create (and drop at the end); default ic_bench_queue",
    )
    args.add_argument(
        "--keep", action="store_true", help="keep the database at the end, to --reuse it"
    )
    args.add_argument(
        "--reuse",
        action="store_true",
        help="measure a database a --keep run left, without filling it again (and without the "
        "figures from before the indexes)",
    )
    args.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"what to measure after the fill, of {','.join(PARTS)} (default: all)",
    )
    options = args.parse_args()
    global DB_NAME, MEASURED
    MEASURED = set(options.parts.split(","))
    DB_NAME = options.database
    if not options.reuse:
        create_database()
    try:
        run(options.items, options.repeat, reuse=options.reuse)
    finally:
        from django.db import connections

        connections.close_all()
        if not options.keep:
            drop_database()


def server_connection():
    import psycopg

    return psycopg.connect(f"{SERVER}/postgres", autocommit=True)


def create_database() -> None:
    with server_connection() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def drop_database() -> None:
    with server_connection() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def configure_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "integration_console.settings"
    os.environ["DATABASE_URL"] = f"{SERVER}/{DB_NAME}"
    os.environ["SECRET_KEY"] = "bench-only-throwaway-secret-key"
    os.environ["DEBUG"] = "0"  # DEBUG would keep every query in memory
    os.environ["SECURE_SSL_REDIRECT"] = "0"
    os.environ["SECURE_COOKIES"] = "0"
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def run(items: int, repeat: int, *, reuse: bool = False) -> None:
    configure_django()
    from django.core.management import call_command
    from django.db import connection

    if reuse:
        from django.contrib.auth import get_user_model

        call_command("migrate", verbosity=0)  # those added since the database was kept

        users = list(
            get_user_model()
            .objects.filter(username__startswith="operator")
            .order_by("username")
            .values_list("pk", flat=True)
        )
        measure_all(items, repeat, {}, users)
        return

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    call_command("migrate", "review_queue", "0003", verbosity=0)
    flows, users = make_world()
    fill(items, flows, users)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE review_queue_reviewitem")
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('review_queue_reviewitem'))")
        size = cursor.fetchone()[0]
    filled = time.perf_counter() - started
    print(f"filled {items:,} items in {filled:.0f} s (table with indexes: {size})")

    before = measure_before(repeat)

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
    call_command("migrate", "review_queue", verbosity=0)
    with connection.cursor() as cursor:
        # The migrations' backfill rewrote every row: without a VACUUM, every index-only scan
        # visits the table too, and autovacuum would start in the middle of the figures.
        cursor.execute("VACUUM ANALYZE review_queue_reviewitem")
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('review_queue_reviewitem'))")
        size = cursor.fetchone()[0]
    print(f"migrations 0004 and on took {time.perf_counter() - started:.0f} s; now {size}")

    measure_all(items, repeat, before, users)


def measure_all(items: int, repeat: int, before: dict, users: list[int]) -> None:
    after = measure_after(repeat, users[0], lists="list" in MEASURED)
    if "list" in MEASURED:
        report(items, before, after)
        print_plans()
    measures = {
        "item page": lambda: measure_item_pages(repeat, users),
        "admin": lambda: measure_admin(repeat, users[0]),
        "overview": lambda: measure_overview(repeat, users[0]),
        "bulk": lambda: measure_bulk(repeat, users),
    }
    figures = {name: measure() for name, measure in measures.items() if name.split()[0] in MEASURED}
    report_more(items, after["page 1"], figures)


# --- the world --------------------------------------------------------------------------------


def make_world():
    from django.contrib.auth import get_user_model

    from tests.factories import FlowFactory

    flows = [FlowFactory(name=f"Flow {n}") for n in range(FLOWS)]
    user_model = get_user_model()
    users = [
        user_model.objects.create_superuser(f"operator{n}", f"operator{n}@example.com", "x")
        for n in range(OPERATORS)
    ]
    return [f.pk for f in flows], [u.pk for u in users]


def fill(items: int, flows: list[int], users: list[int]) -> None:
    """``items`` review items over the last year, in one COPY; one of them is Grace Hopper."""
    from django.db import connection

    rng = random.Random(9)
    kinds = list(KINDS)
    kind_weights = [KINDS[k][0] for k in kinds]
    statuses = [s for s, _ in STATUSES]
    status_weights = [w for _, w in STATUSES]
    # The year up to this hour, so that the overview's last 30 days hold a month of items
    # whenever the bench runs.
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    year_ago = end - timedelta(days=365)
    step = 365 * 86400 / items
    closing = random.Random(11)  # its own, so the other draws stay those of earlier runs
    columns = (
        "flow_id, source_id, kind, status, reason, field_errors, source_snapshot, payload, "
        "target_response, existing_target_id, target_id, fingerprint, occurrences, first_seen, "
        "last_seen, assignee_id, resolution, closed_at"
    )
    kind_of = rng.choices(kinds, kind_weights, k=items)
    status_of = rng.choices(statuses, status_weights, k=items)
    hopper = items * 2 // 3
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY review_queue_reviewitem ({columns}) FROM STDIN") as copy:
            for n in range(items):
                kind, status = kind_of[n], status_of[n]
                _, reason, field = KINDS[kind]
                first, last = rng.choice(FIRST), rng.choice(LAST)
                company = rng.choice(COMPANIES)
                if n == hopper:
                    first, last, company = "Grace", "Hopper", "Remington Rand"
                domain = company.split()[0].lower()
                contact = {
                    "name": f"{first} {last}",
                    "email": f"{first}.{last}{n}@{domain}.example".lower(),
                    "company": company,
                    "phone": f"+4930{n:08d}",
                    "country_code": rng.choice(["DE", "UK", "FR", "NL"]),
                    "city": rng.choice(["Berlin", "London", "Paris", "Utrecht"]),
                }
                snapshot = {"id": f"C-{n:07d}", **contact, "updated_at": "2026-11-01T10:00:00Z"}
                seen = year_ago + timedelta(seconds=n * step)
                occurrences = 1 if rng.random() < 0.7 else rng.randint(2, 40)
                last_seen = seen + timedelta(hours=rng.random() * 48 * (occurrences > 1))
                errors = {field: ["Not accepted."]} if field else {}
                response = {"status": 422, "errors": errors} if kind == "target_rejected" else None
                assignee = rng.choice(users) if status in ACTIVE and rng.random() < 0.3 else None
                # Closed items were closed within three days of their last failure: the
                # overview's "closed per day" and "time to resolve" read a month of them.
                closed_at = None
                if status not in ACTIVE:
                    closed_at = min(last_seen + timedelta(hours=closing.random() * 72), end)
                copy.write_row(
                    (
                        flows[n % len(flows)],
                        f"C-{n:07d}",
                        kind,
                        status,
                        reason,
                        json.dumps(errors),
                        json.dumps(snapshot),
                        json.dumps(contact),
                        None if response is None else json.dumps(response),
                        "",
                        "",
                        f"{n % len(flows)}{kind}"[:16],
                        occurrences,
                        seen,
                        last_seen,
                        assignee,
                        "" if status in ACTIVE else "fixed",
                        closed_at,
                    )
                )


# --- measuring --------------------------------------------------------------------------------


def timed(
    action: Callable[[], object], repeat: int, *, setup: Callable[[], object] | None = None
) -> dict:
    """Median, p95 and queries of ``action``, after one untimed run; ``setup`` runs, untimed,
    before each."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if setup:
        setup()
    action()  # warm: the first read of a cold page is the disk's figure, not the query's
    times = []
    for _ in range(repeat):
        if setup:
            setup()
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            action()
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return {"median": statistics.median(times), "p95": p95, "queries": len(queries)}


def measure_before(repeat: int) -> dict[str, dict]:
    """The queries the list and the overview made before 0004, executed directly."""
    from django.core.paginator import Paginator
    from django.db import connection
    from django.db.models import Count, Q

    from integration_console.sync.models import Flow
    from review_queue.models import ReviewItem
    from review_queue.selectors import review_item_list

    # The columns later migrations added are not there yet: leave them out of the old pages.
    with connection.cursor() as cursor:
        table = connection.introspection.get_table_description(cursor, ReviewItem._meta.db_table)
    there = {column.name for column in table}
    later = [f.name for f in ReviewItem._meta.concrete_fields if f.column not in there]
    active = review_item_list().defer(*later).filter(status__in=ACTIVE)

    def page(number, qs=active):
        return lambda: list(Paginator(qs, 50).page(number))

    last = Paginator(active, 50).num_pages
    search = active.filter(Q(source_id__icontains="hopper") | Q(reason__icontains="hopper"))

    def overview():
        flows = Flow.objects.select_related(
            "source_system", "target_system", "data_class", "field_map"
        ).annotate(open_items=Count("review_items", filter=Q(review_items__status__in=ACTIVE)))
        list(flows)
        kinds = (
            Flow.objects.filter(review_items__status__in=ACTIVE)
            .values("review_items__kind")
            .annotate(count=Count("review_items"))
            .order_by("-count", "review_items__kind")
        )
        list(kinds)

    return {
        "page 1": timed(page(1), repeat),
        "page 51": timed(page(51), repeat),
        "last page": timed(page(last), max(3, repeat // 3)),
        "search (source id, reason)": timed(page(1, search), max(3, repeat // 3)),
        "overview": timed(overview, max(3, repeat // 3)),
    }


def measure_after(repeat: int, user_id: int, *, lists: bool = True) -> dict[str, dict]:
    """The list's pages, search and the overview through Django's test client; with
    ``lists`` False, page 1 alone (the others' yardstick)."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    from review_queue.models import ReviewItem

    setup_test_environment()  # so that responses carry their template context
    client = Client()
    client.force_login(get_user_model().objects.get(pk=user_id))
    url = reverse("review_queue:item_list")
    a_flow = ReviewItem.objects.values_list("flow", flat=True).first()

    def get(params: dict) -> Callable[[], object]:
        def action():
            response = client.get(url, params)
            assert response.status_code == 200, response.status_code
            return response

        return action

    if not lists:
        return {"page 1": timed(get({}), repeat)}

    # Follow Next 50 times: the 51st page, each step timed.
    response = get({})()
    steps = []
    for _ in range(50):
        cursor = str(response.context["page"].next)
        started = time.perf_counter()
        response = get({"after": cursor})()
        steps.append((time.perf_counter() - started) * 1000)
    page_51 = str(response.context["page"].next)
    oldest = (
        ReviewItem.objects.filter(status__in=ACTIVE)
        .order_by("last_seen", "id")
        .values_list("last_seen", "id")[50]
    )
    last_page = f"{oldest[0].isoformat()}_{oldest[1]}"
    found = get({"q": "hopper"})().context["page"].items
    # Grace Hopper's item is active or not by chance; search all statuses to be sure of her.
    found = get({"q": "grace.hopper", "status": ""})().context["page"].items
    assert found, "search did not find Grace Hopper"
    figures = {
        "page 1": timed(get({}), repeat),
        "page 51": timed(get({"after": page_51}), repeat),
        "last page": timed(get({"after": last_page}), repeat),
        "kind filter": timed(get({"kind": "conflict"}), repeat),
        "assigned to nobody": timed(get({"assigned": "nobody"}), repeat),
        "flow filter": timed(get({"flow": a_flow}), repeat),
        "status resolved": timed(get({"status": "resolved"}), repeat),
        "search (source id, reason)": timed(get({"q": "hopper"}), repeat),
        "search 'Remington' (payload)": timed(get({"q": "Remington"}), repeat),
        "search 'initech' (~1/6 of items)": timed(get({"q": "initech"}), repeat),
        # The queue's figures as most requests find them: counted less than a minute
        # before (measure_overview has the other cases).
        "overview (figures counted < 1 min before)": timed(
            lambda: client.get(reverse("ops:overview")), repeat
        ),
    }
    figures["following Next, 50 steps"] = {
        "median": statistics.median(steps),
        "p95": sorted(steps)[round(0.95 * 49)],
        "queries": figures["page 1"]["queries"],
    }
    return figures


# --- the item page, the admin, the overview and bulk actions -----------------------------------

TIMELINE = 40  # events of the item with a long timeline: it failed on 40 runs


def logged_in(user_id: int):
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(pk=user_id))
    return client


def getter(client, url: str, params: dict | None = None) -> Callable[[], object]:
    def action():
        response = client.get(url, params or {})
        assert response.status_code == 200, (url, response.status_code)
        return response

    return action


def measure_item_pages(repeat: int, users: list[int]) -> dict[str, dict]:
    """The item page of a few items as an operator opens them from the list: one that failed
    on 40 runs, was taken and commented on; an assigned possible duplicate; one the target
    rejected (with its answer); a dismissed one."""
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    from review_queue.models import ReviewItem, ReviewItemEvent
    from review_queue.services import review_item_comment, review_item_take

    operator = get_user_model().objects.get(pk=users[0])
    active = ReviewItem.objects.filter(status="open", kind="invalid").order_by("-last_seen", "-id")
    long_timeline = active.first()
    ReviewItemEvent.objects.bulk_create(
        ReviewItemEvent(
            item=long_timeline,
            action=ReviewItemEvent.Action.RECURRED,
            actor="job:bench",
            note=long_timeline.reason,
            item_version=1,
        )
        for _ in range(TIMELINE)
    )
    review_item_take(item=long_timeline, user=operator)
    for n in range(3):
        review_item_comment(item=long_timeline, user=operator, body=f"Asked sales ({n}).")
    items = {
        f"item page: open, {TIMELINE} failures, 3 comments": long_timeline,
        "item page: possible duplicate, assigned": ReviewItem.objects.filter(
            status="in_progress", kind="possible_duplicate", assignee__isnull=False
        ).first(),
        "item page: rejected by the target": ReviewItem.objects.filter(
            status="open", kind="target_rejected"
        ).first(),
        "item page: dismissed": ReviewItem.objects.filter(status="dismissed").first(),
    }
    client = logged_in(users[0])
    return {
        name: timed(getter(client, reverse("review_queue:item_detail", args=[item.pk])), repeat)
        for name, item in items.items()
    }


ADMIN_PAGES = {
    "admin: page 1": {},
    "admin: status open": {"status__exact": "open"},
    "admin: kind conflict, open": {"kind__exact": "conflict", "status__exact": "open"},
    "admin: one flow": {"flow__id__exact": None},  # the first flow's id, when measured
    "admin: page 50": {"p": "50"},
    "admin: search 'hopper'": {"q": "hopper"},
}


def measure_admin(repeat: int, user_id: int) -> dict[str, tuple[dict, dict]]:
    """The admin's list of review items for a superuser, as review_queue/admin.py had it
    (Django's defaults: a COUNT(*) of the whole table for the pages and another for "n
    total", select_related() of the flow only, every column) and as it is now."""
    from django.contrib import admin
    from django.contrib.admin.views.main import ChangeList
    from django.core.paginator import Paginator
    from django.urls import reverse

    from review_queue.models import ReviewItem

    model_admin = admin.site._registry[ReviewItem]
    as_before = {
        "paginator": Paginator,
        "show_full_result_count": True,
        "list_select_related": False,
        "get_changelist": lambda request, **kwargs: ChangeList,
    }
    client = logged_in(user_id)
    url = reverse("admin:review_queue_reviewitem_changelist")
    a_flow = ReviewItem.objects.values_list("flow", flat=True).first()
    figures = {}
    for name, params in ADMIN_PAGES.items():
        params = {k: a_flow if v is None else v for k, v in params.items()}
        for attribute, value in as_before.items():
            setattr(model_admin, attribute, value)
        try:
            before = timed(getter(client, url, params), max(3, repeat // 3))
        finally:
            for attribute in as_before:
                delattr(model_admin, attribute)  # the class's own again
        figures[name] = (before, timed(getter(client, url, params), repeat))
    return figures


def measure_overview(repeat: int, user_id: int) -> dict[str, dict]:
    """The ops overview through the client: as most requests find it (the queue's figures
    counted less than a minute before, and drawn by an earlier request); as the first request
    after a count finds it (it draws the charts); as one finds it a minute later (the figures
    shown while their recount is queued); and with the figures counted in the request, as
    every request counted them before the snapshot (and as the first of the day still does).
    Then each of its reads on its own."""
    from datetime import timedelta

    from django.urls import reverse
    from django.utils import timezone

    from integration_console.ops import selectors, services
    from integration_console.ops.models import OverviewSnapshot
    from integration_console.sync.selectors import recent_runs

    client = logged_in(user_id)
    page = getter(client, reverse("ops:overview"))
    asked = []
    # The recount a request queues is not run in this process's threads while it is timed.
    services.enqueue_job = lambda path, *args, job_id=None, on_failure=None: asked.append(args)
    services.overview_recount()
    snapshot = OverviewSnapshot.objects.all()

    def fresh():
        snapshot.update(counted_at=timezone.now(), recount_asked_at=None)

    def a_minute_old():
        snapshot.update(counted_at=timezone.now() - timedelta(minutes=2), recount_asked_at=None)

    fresh()
    figures = {
        "overview: as most requests find it": timed(page, repeat),
        "overview: first request after a count (draws)": timed(page, repeat, setup=fresh),
        "overview: old figures, recount queued": timed(page, repeat, setup=a_minute_old),
        "overview: figures counted in the request (before)": timed(
            page, repeat, setup=snapshot.delete
        ),
    }
    assert asked, "no recount was queued"
    now = timezone.now()
    backlog = selectors.backlog_by_kind_and_age(now=now)
    reads = {
        "the recount (its job)": lambda: services.overview_recount(),
        "backlog by flow, kind and age": lambda: selectors.backlog_by_kind_and_age(now=now),
        "opened and closed per day": lambda: selectors.items_opened_and_closed_per_day(now=now),
        "median time to resolve": lambda: selectors.time_to_resolve_per_day(now=now),
        "flows and recent runs": lambda: (selectors.flow_overview(backlog), list(recent_runs())),
    }
    for name, read in reads.items():
        figures[f"  {name}"] = timed(read, repeat)
    return figures


BULK_ITEMS = 10_000
BASELINE_ITEMS = 2_000  # item by item, the old way: enough batches for a rate


def bench_items(flow_id: int, count: int, kind: str) -> str:
    """``count`` open items of one flow and kind (one cause: one group), written as a failure
    would write them; their fingerprint."""
    from review_queue.models import ReviewItem

    field = KINDS[kind][2]
    errors = {field: ["Not accepted."]} if field else {}
    fingerprint = ReviewItem.fingerprint_for(flow_id, kind, errors)
    rng = random.Random(flow_id)
    rows = []
    for n in range(count):
        first, last, company = rng.choice(FIRST), rng.choice(LAST), rng.choice(COMPANIES)
        contact = {
            "name": f"{first} {last}",
            "email": f"{first}.{last}.{n}@bulk.example".lower(),
            "company": company,
            "phone": f"+4940{n:08d}",
            "country_code": "DE",
        }
        rows.append(
            ReviewItem(
                flow_id=flow_id,
                source_id=f"B{flow_id}-{n:06d}",
                kind=kind,
                reason=KINDS[kind][1],
                field_errors=errors,
                source_snapshot={"id": f"B-{n:06d}", **contact},
                payload=contact,
                fingerprint=fingerprint,
                cause=KINDS[kind][1][:255],
            )
        )
    ReviewItem.objects.bulk_create(rows, batch_size=2000)
    return fingerprint


def measure_bulk(repeat: int, users: list[int]) -> dict[str, dict]:
    """A dismissal of 10,000 items (all that match a filter, from the list's bulk form) and
    an assignment of 10,000 (a group's, from its page): the request that starts each, and
    the rate of the job that does the work, executed here as one worker would. Beside them,
    the same job item by item through the services (the way before _Together), on 2,000."""
    from django.db import connection
    from django.urls import reverse

    from integration_console.sync.models import Flow
    from review_queue import bulk
    from review_queue.models import BulkAction

    flows = {}
    for name in BULK_FLOWS:  # each a copy of the first flow, under a name of its own
        flow = Flow.objects.order_by("pk").first()
        flow.pk, flow.name = None, f"Bulk bench {uuid.uuid4().hex[:8]}: {name}"
        flow.save()
        flows[name] = flow.pk
    fingerprints = {
        name: bench_items(flows[name], count, kind) for name, (count, kind) in BULK_FLOWS.items()
    }
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE review_queue_reviewitem")
    queued: list[tuple] = []
    # The request's job is not run at its commit: this process runs it below, timed alone.
    bulk.enqueue_job = lambda path, *args, job_id=None, on_failure=None: queued.append(args)
    client = logged_in(users[0])
    assignee = users[1]

    def dismiss_request(flow_name: str):
        def action():
            response = client.post(
                reverse("review_queue:bulk_action"),
                {
                    "action": "dismiss",
                    "reason": "Bench: test contacts",
                    "all_matching": "on",
                    "filter_query": f"flow={flows[flow_name]}",
                },
            )
            assert response.status_code == 302, response.status_code
            return response

        return action

    def assign_request(flow_name: str):
        def action():
            response = client.post(
                reverse("review_queue:group_assign", args=[fingerprints[flow_name]]),
                {"assignee": str(assignee)},
            )
            assert response.status_code == 302, response.status_code
            return response

        return action

    def execute(expected: int) -> dict:
        """The last action asked for, executed slice after slice as its jobs would be; the
        others the timed requests left are cancelled."""
        mine = BulkAction.objects.order_by("-pk").first()
        BulkAction.objects.filter(status="queued").exclude(pk=mine.pk).update(status="cancelled")
        queued.clear()
        started = time.perf_counter()
        done = bulk.bulk_action_execute(bulk_action_id=mine.pk)
        while done.is_active and queued:
            _, token = queued.pop()
            done = bulk.bulk_action_execute(bulk_action_id=mine.pk, token=token)
        seconds = time.perf_counter() - started
        assert (done.status, done.succeeded) == ("succeeded", expected), (
            done.status,
            done.succeeded,
            done.refusals[:3],
        )
        return {"seconds": seconds, "rate": expected / seconds, "items": expected}

    figures = {
        "start a dismissal of 10,000 (list's bulk form)": timed(dismiss_request("dismiss"), repeat),
    }
    figures["dismiss 10,000: one worker"] = execute(BULK_ITEMS)
    figures["start an assignment of 10,000 (group page)"] = timed(assign_request("assign"), repeat)
    figures["assign 10,000: one worker"] = execute(BULK_ITEMS)
    # The item-by-item path, as every batch took it before.
    together = bulk._Execution._apply_together
    bulk._Execution._apply_together = lambda self, ids: self._apply_each(ids, savepoint=True)
    try:
        dismiss_request("dismiss, item by item")()
        figures["dismiss 2,000 item by item (before)"] = execute(BASELINE_ITEMS)
        assign_request("assign, item by item")()
        figures["assign 2,000 item by item (before)"] = execute(BASELINE_ITEMS)
    finally:
        bulk._Execution._apply_together = together
    return figures


BULK_FLOWS = {  # name: (items, kind)
    "dismiss": (BULK_ITEMS, "invalid"),
    "assign": (BULK_ITEMS, "target_rejected"),
    "dismiss, item by item": (BASELINE_ITEMS, "invalid"),
    "assign, item by item": (BASELINE_ITEMS, "target_rejected"),
}


def report_more(items: int, page_1: dict, figures: dict) -> None:
    """The item page, the admin, the overview and the bulk actions, with their targets."""
    base = page_1["median"]
    print(f"\n{items:,} review items; the list's page 1 in this run: {base:.1f} ms")
    if "item page" in figures:
        print("\n| page | median ms | p95 ms | queries | median/list page 1 |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, figure in figures["item page"].items():
            print(
                f"| {name} | {figure['median']:.1f} | {figure['p95']:.1f} | "
                f"{figure['queries']} | {figure['median'] / base:.2f} |"
            )
    if "admin" in figures:
        print("\nThe admin's list of review items (superuser), as it was and as it is now\n")
        print(
            "| page | before: median ms | p95 ms | queries | after: median ms | p95 ms "
            "| queries | after/before |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, (old, new) in figures["admin"].items():
            print(
                f"| {name} | {old['median']:.1f} | {old['p95']:.1f} | {old['queries']} "
                f"| {new['median']:.1f} | {new['p95']:.1f} | {new['queries']} "
                f"| {new['median'] / old['median']:.3f} |"
            )
    if "overview" in figures:
        print("\nThe ops overview (target: p95 < 100 ms), and each of its reads alone\n")
        print("| read | median ms | p95 ms | queries | median/counted in the request | met |")
        print("| --- | ---: | ---: | ---: | ---: | --- |")
        overview = figures["overview"]
        counted = overview["overview: figures counted in the request (before)"]["median"]
        for name, figure in overview.items():
            met = ("yes" if figure["p95"] < 100 else "NO") if not name.startswith(" ") else ""
            print(
                f"| {name} | {figure['median']:.1f} | {figure['p95']:.1f} | "
                f"{figure['queries']} | {figure['median'] / counted:.2f} | {met} |"
            )
    if "bulk" in figures:
        report_bulk(figures["bulk"])


def report_bulk(bulk: dict) -> None:
    print("\nBulk actions (targets: the request < 1 s; one worker >= 500 items/s)\n")
    print("| what | median ms | p95 ms | queries | seconds | items/s | vs item by item | met |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    baselines = {
        "dismiss": bulk["dismiss 2,000 item by item (before)"]["rate"],
        "assign": bulk["assign 2,000 item by item (before)"]["rate"],
    }
    for name, figure in bulk.items():
        if "rate" in figure:
            ratio = figure["rate"] / baselines[name.split()[0]]
            met = "yes" if figure["rate"] >= 500 else "NO"
            print(
                f"| {name} | | | | {figure['seconds']:.1f} | {figure['rate']:.0f} "
                f"| {ratio:.2f} | {met} |"
            )
        else:
            met = "yes" if figure["p95"] < 1000 else "NO"
            print(
                f"| {name} | {figure['median']:.1f} | {figure['p95']:.1f} | {figure['queries']} "
                f"| | | | {met} |"
            )


def print_plans() -> None:
    """Which index each new query reads, as PostgreSQL's EXPLAIN says."""
    from django.db import connection

    from integration_console.ops.selectors import failures_needing_attention, flow_overview
    from review_queue.filters import ReviewItemFilter
    from review_queue.models import ReviewItem
    from review_queue.selectors import review_item_list, review_item_page

    pages = {
        "list": {"status": "active"},
        "kind filter": {"status": "active", "kind": "conflict"},
        "search": {"status": "active", "q": "hopper"},
    }
    print()
    for name, params in pages.items():
        items = ReviewItemFilter(params, queryset=review_item_list()).qs
        with connection.execute_wrapper(_explain(name)):
            review_item_page(items, size=50)
    with connection.execute_wrapper(_explain("overview")):
        list(flow_overview())
        failures_needing_attention()
    del ReviewItem


def _explain(name: str):
    def wrapper(execute, sql, params, many, context):
        if "review_queue_reviewitem" in sql and not sql.startswith("EXPLAIN"):
            with context["connection"].cursor() as cursor:
                cursor.execute(f"EXPLAIN {sql}", params)
                nodes = [row[0].strip() for row in cursor.fetchall() if "Index" in row[0]]
            print(f"{name}: " + "; ".join(node.split("  (")[0] for node in nodes[:3]))
        return execute(sql, params, many, context)

    return wrapper


def report(items: int, before: dict, after: dict) -> None:
    if not before:  # --reuse: no old pages in this run
        before = {"page 1": after["page 1"]}
        print("\n(--reuse: the old pages were not measured; ratios against the new page 1)")
    base = before["page 1"]["median"]
    print(f"\n{items:,} review items; ratios against the old page 1 ({base:.1f} ms)\n")
    print("| page | before: median ms | after: median ms | p95 ms | queries | after/old page 1 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, figure in after.items():
        old = before.get(name.split(" (")[0])
        old_text = f"{old['median']:.1f}" if old else ""
        print(
            f"| {name} | {old_text} | {figure['median']:.1f} | {figure['p95']:.1f} "
            f"| {figure['queries']} | {figure['median'] / base:.3f} |"
        )


if __name__ == "__main__":
    main()
