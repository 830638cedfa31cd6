"""Console sync runs against the least any sync must do over the same HTTP, at the sizes issue 7
names, on SQLite and on PostgreSQL; peak RSS of a first run from 10,000 to 1,000,000 source
records; one run on 1, 2 and 4 RQ workers; and Tryton parties end to end (tryton_parties.py).
Not part of the test suite.

    .venv/bin/python bench/sync_throughput.py                 # every figure (about 40 minutes)
    .venv/bin/python bench/sync_throughput.py --sizes 10000 --databases sqlite \\
        --memory 10000,100000 --workers 1,2 --no-tryton        # a quicker look

Machines differ, so the headline figures are ratios against a baseline measured in the same
run (a bare httpx loop, sequential, that pages through the CRM and POSTs each contact to the
ERP); records/s are printed beside them for context. Each measurement runs in a process of its
own, on a database of its own (a fresh SQLite file, or a fresh PostgreSQL database that is
dropped at the end), against a simulator of its own with the named number of contacts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

if TYPE_CHECKING:
    from connectors.simulator.runner import RunningSimulator
    from integration_console.sync.models import Flow

POSTGRES = "postgres://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/14"
PAGE_SIZE = 100
# The ERP's phone rule, written by hand as an integrator without the console would.
E164 = re.compile(r"\+[1-9]\d{6,14}")


@dataclass(frozen=True)
class Phase:
    name: str
    records: int
    seconds: float
    outcome: str

    @property
    def per_second(self) -> float:
        return self.records / self.seconds


# --- the orchestra: one process per measurement --------------------------------------------


def main() -> None:
    args = parse_args()
    if args.child:
        child(args)
        return
    print_context()
    for database in args.databases:
        for size in args.sizes:
            figures = measure(database, "throughput", size)
            print_throughput(database, size, [Phase(**phase) for phase in figures["phases"]])
    if args.memory:
        database = args.memory_database
        print_memory([(size, measure(database, "memory", size)) for size in args.memory])
    if args.workers:
        print_workers(
            args.workers_size,
            [(n, measure("postgres", "workers", args.workers_size, n)) for n in args.workers],
        )
    if args.tryton:
        print("\n== Tryton: parties end to end through the console (bench/tryton_parties.py)")
        subprocess.run(
            [sys.executable, str(REPO / "bench" / "tryton_parties.py"), "--console"], check=True
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    numbers = lambda text: [int(n) for n in text.split(",") if n]  # noqa: E731
    names = lambda text: [n for n in text.split(",") if n]  # noqa: E731
    parser.add_argument("--sizes", type=numbers, default=[10_000, 100_000])
    parser.add_argument("--databases", type=names, default=["sqlite", "postgres"])
    parser.add_argument("--memory", type=numbers, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--memory-database", default="postgres")
    parser.add_argument("--workers", type=numbers, default=[1, 2, 4])
    parser.add_argument("--workers-size", type=int, default=20_000)
    parser.add_argument("--no-tryton", dest="tryton", action="store_false")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--n-workers", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args()


def measure(database: str, kind: str, size: int, workers: int = 0) -> dict:
    """Run one measurement in a child process on a fresh database; its figures."""
    with fresh_database(database) as url:
        command = [sys.executable, __file__, "--child", kind, "--database", database]
        command += ["--size", str(size), "--n-workers", str(workers)]
        env = {**os.environ, "DATABASE_URL": url}
        done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-5000:])
        raise SystemExit(f"The {kind} measurement ({database}, {size}) failed.")
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextmanager
def fresh_database(database: str) -> Iterator[str]:
    if database == "sqlite":
        with tempfile.TemporaryDirectory(prefix="ic-bench-") as scratch:
            yield f"sqlite:///{scratch}/bench.sqlite3"
        return
    import psycopg

    name = f"ic_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- a child: one measurement --------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    configure_django(redis=args.child == "workers")
    from connectors.simulator.runner import start_simulator
    from integration_console.demo import seed_demo_world

    with start_simulator(contacts=args.size) as sim:
        flow = seed_demo_world(simulator_url=sim.base_url)
        flow.page_size = PAGE_SIZE
        flow.save()
        if args.child == "throughput":
            figures = {"phases": [asdict(p) for p in throughput(flow, sim)]}
        elif args.child == "memory":
            phase = console_run(flow, "console, first run")
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            figures = {"phase": asdict(phase), "peak_rss": peak}
        else:
            figures = on_workers(flow, args.n_workers)
    print(json.dumps(figures))


def configure_django(*, redis: bool) -> None:
    """Production settings on the throwaway database; jobs run in this process (timed here),
    or on RQ workers for the workers measurement."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "integration_console.settings"
    os.environ.setdefault("SECRET_KEY", "bench-only-throwaway-secret-key")
    os.environ["DEBUG"] = "0"  # the debug query log would hold every statement in memory
    os.environ["LOG_LEVEL"] = "WARNING"
    if redis:
        os.environ["REDIS_URL"] = REDIS
    else:
        os.environ.pop("REDIS_URL", None)
        os.environ["IN_PROCESS_JOBS"] = "inline"

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def throughput(flow: Flow, sim: RunningSimulator) -> list[Phase]:
    """Baseline on the seeded world; then the console's first run on the seeded world again,
    then its re-run over what the first run left (every good record linked, unchanged)."""
    reset_world(sim)
    baseline = baseline_sync(sim)
    reset_world(sim)
    first = console_run(flow, "console, first run")
    rerun = console_run(flow, "console, unchanged re-run")
    return [baseline, first, rerun]


def baseline_sync(sim: RunningSimulator) -> Phase:
    """The least any sync must do: page through the contacts and POST each as a customer,
    one after the other, with no database, no audit trail and no review queue."""
    countries = erp_country_codes()
    created = refused = 0
    started = time.perf_counter()
    with httpx.Client(timeout=30) as client:
        for contact in crm_contacts(client, sim.crm_url):
            payload = customer_payload(contact, countries)
            response = client.post(f"{sim.erp_url}/customers", json=payload)
            if response.status_code == httpx.codes.CREATED:
                created += 1
            else:
                refused += 1
    seconds = time.perf_counter() - started
    outcome = f"created {created}, refused {refused}"
    return Phase("baseline (bare httpx)", created + refused, seconds, outcome)


def erp_country_codes() -> dict[str, str]:
    """Country name, as the CRM writes it, to the code of each country the ERP serves."""
    import pycountry

    from integration_console.demo import ERP_COUNTRIES

    return {pycountry.countries.get(alpha_2=code).name: code for code in ERP_COUNTRIES}


def crm_contacts(client: httpx.Client, crm_url: str) -> Iterator[dict[str, str]]:
    """Every contact, by keyset as the console reads them (no offset paging to pay for)."""
    after: dict[str, str] = {}
    while True:
        params = {"page_size": PAGE_SIZE, **after}
        body = client.get(f"{crm_url}/contacts", params=params).raise_for_status().json()
        yield from body["results"]
        if len(body["results"]) < PAGE_SIZE:
            return
        last = body["results"][-1]
        after = {"updated_since": last["updated_at"], "after_id": last["id"]}


def customer_payload(contact: dict[str, str], countries: dict[str, str]) -> dict[str, str]:
    payload = {
        "given_name": contact["first_name"].strip(),
        "family_name": contact["last_name"].strip(),
        "email": contact["email"].strip().lower(),
        "country_code": countries.get(contact["country"].strip(), ""),
        "crm_ref": contact["id"],
    }
    phone = contact["phone"].strip()
    if E164.fullmatch(phone):
        payload["phone"] = phone
    return payload


def console_run(flow: Flow, name: str) -> Phase:
    from integration_console.sync.models import SyncRun
    from integration_console.sync.services import sync_run_start

    started = time.perf_counter()
    # Outside any transaction on_commit callbacks fire at once, so the run executes in here.
    run = sync_run_start(flow=flow, triggered_by="bench")
    seconds = time.perf_counter() - started
    run.refresh_from_db()
    return Phase(name, run.read_count, seconds, run_outcome(run, SyncRun))


def run_outcome(run, model) -> str:
    if run.status not in (model.Status.SUCCEEDED, model.Status.SUCCEEDED_WITH_FAILURES):
        raise SystemExit(f"The run ended {run.status}: {run.error or '(no error)'}")
    return (
        f"created {run.created_count}, updated {run.updated_count}, "
        f"skipped {run.skipped_count}, failed {run.failed_count}"
    )


def on_workers(flow: Flow, workers: int) -> dict:
    """One run executed by ``workers`` rqworker processes on this PostgreSQL and Redis."""
    import redis

    from integration_console.sync.models import SyncChunk, SyncRun
    from integration_console.sync.services import sync_run_start, sync_run_wait

    redis.Redis.from_url(REDIS).flushdb()
    env = {**os.environ, "REDIS_URL": REDIS}
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", "default"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    try:
        from rq import Worker

        connection = redis.Redis.from_url(REDIS)
        deadline = time.monotonic() + 60
        while Worker.count(connection=connection) < workers and time.monotonic() < deadline:
            time.sleep(0.2)
        started = time.perf_counter()
        run = sync_run_start(flow=flow, triggered_by="bench")
        run = sync_run_wait(run_id=run.pk, timeout=3600)
        seconds = (run.finished_at - run.started_at).total_seconds()
        waited = time.perf_counter() - started
        phase = Phase(f"{workers} worker(s)", run.read_count, seconds, run_outcome(run, SyncRun))
        used = SyncChunk.objects.filter(run=run).values("executed_by").distinct().count()
        return {"phase": asdict(phase), "processes_used": used, "wall_seconds": waited}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)


def reset_world(sim: RunningSimulator) -> None:
    httpx.post(f"{sim.base_url}/_control/reset", timeout=60).raise_for_status()


# --- the report ----------------------------------------------------------------------------


def print_context() -> None:
    print(
        f"{time.strftime('%Y-%m-%d')}, python {platform.python_version()}, "
        f"{os.cpu_count()} cpus, {platform.system()} {platform.machine()}; the simulator runs "
        "in a process of its own on this machine"
    )


def print_throughput(database: str, size: int, phases: list[Phase]) -> None:
    baseline = phases[0].per_second
    print(f"\n== {database}, {size:,} contacts")
    print(f"{'phase':<28}{'records':>9}{'seconds':>9}{'records/s':>11}{'vs baseline':>13}  outcome")
    for phase in phases:
        print(
            f"{phase.name:<28}{phase.records:>9}{phase.seconds:>9.2f}{phase.per_second:>11.0f}"
            f"{phase.per_second / baseline:>12.2f}x  {phase.outcome}"
        )


def print_memory(rows: list[tuple[int, dict]]) -> None:
    print("\n== peak RSS of a process running a console first run (its whole life)")
    smallest = rows[0][1]["peak_rss"]
    for size, figures in rows:
        phase = Phase(**figures["phase"])
        print(
            f"{size:>10,} contacts  {figures['peak_rss'] / 2**20:>7.0f} MiB  "
            f"{figures['peak_rss'] / smallest:>5.2f}x  ({phase.per_second:.0f} records/s)"
        )


def print_workers(size: int, rows: list[tuple[int, dict]]) -> None:
    print(f"\n== one run of {size:,} contacts on PostgreSQL, executed by N rqworker processes")
    one = Phase(**rows[0][1]["phase"]).per_second
    for workers, figures in rows:
        phase = Phase(**figures["phase"])
        print(
            f"{workers} worker(s): {phase.seconds:>7.2f} s  {phase.per_second:>6.0f} records/s  "
            f"{phase.per_second / one:>5.2f}x  (chunks executed by {figures['processes_used']} "
            f"processes; {phase.outcome})"
        )


if __name__ == "__main__":
    main()
