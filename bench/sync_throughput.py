"""Records per second of a console sync run, against the least any sync must do over the same
HTTP, and the run's peak Python memory at two sizes. Not part of the test suite.

    .venv/bin/python bench/sync_throughput.py [--contacts 1000] [--repeat 1]

Machines differ, so the headline figures are ratios against the baseline measured in this
very run; absolute records/s are printed beside them for context only.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import re
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

if TYPE_CHECKING:
    from connectors.simulator.runner import RunningSimulator
    from integration_console.sync.models import Flow

PAGE_SIZE = 50
# The ERP's phone rule, written by hand as an integrator without the console would.
E164 = re.compile(r"\+[1-9]\d{6,14}")
# The smaller world of the memory phase has at least this many contacts when --contacts
# allows: until the cyclic collector's first full passes, the peak still holds the garbage
# of earlier records (about 1.2 MiB at 500, 1.8 MiB from 2000 on), which reads as growth.
MEMORY_MIN_CONTACTS = 1000


@dataclass(frozen=True)
class Phase:
    name: str
    records: int
    seconds: float
    outcome: str

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="ic-bench-") as scratch:
        configure_django(Path(scratch))
        from connectors.simulator.runner import start_simulator
        from integration_console.demo import seed_demo_world

        print_context()
        with start_simulator(contacts=args.contacts) as sim:
            flow = seed_demo_world(simulator_url=sim.base_url)
            rounds = [throughput_round(flow, sim) for _ in range(args.repeat)]
            print_throughput([median_phase(same) for same in zip(*rounds, strict=True)])
            small, large = memory_sizes(args.contacts)
            small_peak = peak_memory_at(small, sim)
            large_peak = peak_memory_at(large, sim)
        print_memory(small, small_peak, large, large_peak)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # 1000 keeps the whole run under two minutes on two cores, most of it the memory phase.
    parser.add_argument("--contacts", type=int, default=1000, help="CRM contacts to sync.")
    parser.add_argument(
        "--repeat", type=int, default=1, help="Rounds of the throughput phases; the median counts."
    )
    args = parser.parse_args()
    if args.contacts < 40 or args.repeat < 1:
        parser.error("--contacts must be at least 40 (the seeded bad records) and --repeat 1+.")
    return args


def configure_django(scratch: Path) -> None:
    """Production settings on a throwaway database, with jobs run in this process."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "integration_console.settings"
    os.environ.setdefault("SECRET_KEY", "bench-only-throwaway-secret-key")
    # Never the developer's db.sqlite3: the runs write thousands of links and audit entries.
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{scratch / 'bench.sqlite3'}")
    # With REDIS_URL a run would go to an RQ queue and this process would time nothing.
    os.environ.pop("REDIS_URL", None)
    # The run executes in this thread, so that its time is what is measured.
    os.environ["IN_PROCESS_JOBS"] = "inline"
    # DEBUG keeps every SQL query in memory, which tracemalloc would blame on the pipeline.
    os.environ["DEBUG"] = "0"

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# --- the phases ---------------------------------------------------------------------------


def throughput_round(flow: Flow, sim: RunningSimulator) -> list[Phase]:
    """Baseline, console first run, console re-run; each write phase on the seeded world."""
    reset_world(sim)
    baseline = baseline_sync(sim)
    reset_world(sim)
    forget_links(flow)
    first = console_run(flow, "console, first run")
    # No reset: the re-run meets the world the first run left, every good record linked.
    rerun = console_run(flow, "console, unchanged re-run")
    return [baseline, first, rerun]


def baseline_sync(sim: RunningSimulator) -> Phase:
    """The least any sync must do: page through the contacts and POST each as a customer,
    with no database, no audit trail and no review queue."""
    countries = erp_country_codes()
    created = refused = 0
    started = time.perf_counter()
    with httpx.Client(timeout=10) as client:
        for contact in crm_contacts(client, sim.crm_url):
            payload = customer_payload(contact, countries)
            response = client.post(f"{sim.erp_url}/customers", json=payload)
            if response.status_code == httpx.codes.CREATED:
                created += 1
            else:
                refused += 1
    seconds = time.perf_counter() - started
    return Phase(
        "baseline (bare httpx)", created + refused, seconds, f"created {created}, refused {refused}"
    )


def erp_country_codes() -> dict[str, str]:
    """Country name, as the CRM writes it, to the code of each country the ERP serves."""
    import pycountry

    from integration_console.demo import ERP_COUNTRIES

    return {pycountry.countries.get(alpha_2=code).name: code for code in ERP_COUNTRIES}


def crm_contacts(client: httpx.Client, crm_url: str) -> Iterator[dict[str, str]]:
    page: int | None = 1
    while page is not None:
        params = {"page": page, "page_size": PAGE_SIZE}
        body = client.get(f"{crm_url}/contacts", params=params).raise_for_status().json()
        yield from body["results"]
        page = body["next"]


def customer_payload(contact: dict[str, str], countries: dict[str, str]) -> dict[str, str]:
    payload = {
        "given_name": contact["first_name"].strip(),
        "family_name": contact["last_name"].strip(),
        "email": contact["email"].strip().lower(),
        "country_code": countries.get(contact["country"].strip(), ""),
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
    if run.status not in (SyncRun.Status.SUCCEEDED, SyncRun.Status.SUCCEEDED_WITH_FAILURES):
        raise SystemExit(f"{name}: the run ended {run.status}: {run.error or '(no error)'}")
    outcome = f"created {run.created_count}, skipped {run.skipped_count}, failed {run.failed_count}"
    return Phase(name, run.read_count, seconds, outcome)


def peak_memory_at(contacts: int, sim: RunningSimulator) -> int:
    """Peak bytes traced during a first console run over a world of ``contacts``; reuses
    ``sim`` when it has that many, else starts its own."""
    from connectors.simulator.runner import start_simulator

    if contacts == simulator_contacts(sim):
        return peak_memory(sim)
    with start_simulator(contacts=contacts) as sized:
        return peak_memory(sized)


def peak_memory(sim: RunningSimulator) -> int:
    from integration_console.demo import seed_demo_world

    # Points the demo systems at this simulator; otherwise idempotent.
    flow = seed_demo_world(simulator_url=sim.base_url)
    reset_world(sim)
    forget_links(flow)
    gc.collect()
    tracemalloc.start()
    try:
        console_run(flow, "console, traced")
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def memory_sizes(contacts: int) -> tuple[int, int]:
    """N and 4N, or N/4 and N when N/4 is still large enough to be past the warm-up."""
    if contacts // 4 >= MEMORY_MIN_CONTACTS:
        return contacts // 4, contacts
    return contacts, 4 * contacts


# --- the worlds ---------------------------------------------------------------------------


def reset_world(sim: RunningSimulator) -> None:
    httpx.post(f"{sim.base_url}/_control/reset", timeout=10).raise_for_status()


def simulator_contacts(sim: RunningSimulator) -> int:
    stats = httpx.get(f"{sim.base_url}/_control/stats", timeout=10).raise_for_status().json()
    return stats["crm"]["contacts"]


def forget_links(flow: Flow) -> None:
    """Make every contact new to the flow again, as before its first run ever."""
    from integration_console.sync.models import RecordLink

    RecordLink.objects.filter(flow=flow).delete()


# --- the report ---------------------------------------------------------------------------


def median_phase(phases: Sequence[Phase]) -> Phase:
    """The round of median duration (the faster middle one for an even count)."""
    return sorted(phases, key=lambda phase: phase.seconds)[(len(phases) - 1) // 2]


def print_context() -> None:
    from django.db import connection

    version = ".".join(map(str, connection.get_database_version()))
    print(
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"database {connection.vendor} {version}, {os.cpu_count()} cpus, "
        f"{platform.system()} {platform.machine()}"
    )


def print_throughput(phases: list[Phase]) -> None:
    baseline = phases[0].records_per_second
    print()
    print(f"{'phase':<28}{'records':>8}{'seconds':>9}{'records/s':>11}{'vs baseline':>13}  outcome")
    for phase in phases:
        print(
            f"{phase.name:<28}{phase.records:>8}{phase.seconds:>9.2f}"
            f"{phase.records_per_second:>11.0f}{phase.records_per_second / baseline:>13.3f}"
            f"  {phase.outcome}"
        )


def print_memory(small: int, small_peak: int, large: int, large_peak: int) -> None:
    print()
    print(
        f"peak traced memory, console first run: {small} contacts {small_peak / 2**20:.1f} MiB, "
        f"{large} contacts {large_peak / 2**20:.1f} MiB"
    )
    print(f"memory ratio peak({large})/peak({small}): {large_peak / small_peak:.2f}")


if __name__ == "__main__":
    main()
