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
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DB_NAME = "ic_bench_queue"
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
    options = args.parse_args()
    create_database()
    try:
        run(options.items, options.repeat)
    finally:
        from django.db import connections

        connections.close_all()
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


def run(items: int, repeat: int) -> None:
    configure_django()
    from django.core.management import call_command
    from django.db import connection

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
        cursor.execute("ANALYZE review_queue_reviewitem")
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('review_queue_reviewitem'))")
        size = cursor.fetchone()[0]
    print(f"migration 0004 (indexes) took {time.perf_counter() - started:.0f} s; now {size}")

    after = measure_after(repeat, users[0])
    report(items, before, after)
    print_plans()


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
    """``items`` review items over a year, in one COPY; one of them is Grace Hopper."""
    from django.db import connection

    rng = random.Random(9)
    kinds = list(KINDS)
    kind_weights = [KINDS[k][0] for k in kinds]
    statuses = [s for s, _ in STATUSES]
    status_weights = [w for _, w in STATUSES]
    year_ago = datetime(2026, 11, 26, tzinfo=UTC) - timedelta(days=365)
    step = 365 * 86400 / items
    columns = (
        "flow_id, source_id, kind, status, reason, field_errors, source_snapshot, payload, "
        "target_response, existing_target_id, target_id, fingerprint, occurrences, first_seen, "
        "last_seen, assignee_id, resolution"
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
                    )
                )


# --- measuring --------------------------------------------------------------------------------


def timed(action: Callable[[], object], repeat: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    action()  # warm: the first read of a cold page is the disk's figure, not the query's
    times = []
    for _ in range(repeat):
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
    from django.db.models import Count, Q

    from integration_console.sync.models import Flow
    from review_queue.models import ReviewItem
    from review_queue.selectors import review_item_list

    active = review_item_list().filter(status__in=ACTIVE)

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

    del ReviewItem
    return {
        "page 1": timed(page(1), repeat),
        "page 51": timed(page(51), repeat),
        "last page": timed(page(last), max(3, repeat // 3)),
        "search (source id, reason)": timed(page(1, search), max(3, repeat // 3)),
        "overview": timed(overview, max(3, repeat // 3)),
    }


def measure_after(repeat: int, user_id: int) -> dict[str, dict]:
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
        "overview": timed(lambda: client.get(reverse("ops:overview")), repeat),
    }
    figures["following Next, 50 steps"] = {
        "median": statistics.median(steps),
        "p95": sorted(steps)[round(0.95 * 49)],
        "queries": figures["page 1"]["queries"],
    }
    return figures


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
    base = before["page 1"]["median"]
    print(f"\n{items:,} review items; ratios against the old page 1 ({base:.1f} ms)\n")
    print("| page | before: median ms | after: median ms | p95 ms | queries | after/old page 1 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, figure in after.items():
        old = before.get(name)
        old_text = f"{old['median']:.1f}" if old else ""
        print(
            f"| {name} | {old_text} | {figure['median']:.1f} | {figure['p95']:.1f} "
            f"| {figure['queries']} | {figure['median'] / base:.3f} |"
        )


if __name__ == "__main__":
    main()
