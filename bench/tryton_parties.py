"""Parties per second into a real Tryton 8.2: a bare JSON-RPC loop one party a call, the same
loop with 100 parties a call, and TrytonConnector.create_many (calls of 100); then reading
them back; with --console, also a console run of a CRM-to-Tryton flow over as many contacts,
end to end. Not part of the test suite.

    .venv/bin/python bench/tryton_parties.py [--parties 300] [--batch 100] [--repeat 3] [--console]

It installs and starts a throwaway Tryton (party, country; SQLite) exactly as the tests do
(tests/connectors/tryton/server.py), in a temporary folder deleted at the end. Every phase
creates its own parties, each with an email contact mechanism and an address in Portugal.
The bare loops know Portugal's country id beforehand; the connector looks the ISO code up
(once: it caches it). Each repeat runs the three phases in a rotated order (the table grows as
they go, and a busy machine slows some moments more than others); the median of the repeats is
printed. Machines differ, so the headline is the ratio against the one-at-a-time loop of this
very run; parties/s are printed for context only.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from connectors.tryton.client import TrytonConnector  # noqa: E402
from tests.connectors.tryton.server import start_tryton  # noqa: E402

PARTY = "party.party"


def payload(phase: str, n: int) -> dict[str, Any]:
    return {
        "name": f"Bench {phase} {n}",
        "code": f"B-{phase}-{n:06d}",
        "contact_mechanisms": [{"type": "email", "value": f"{phase}.{n}@bench.example"}],
        "addresses": [{"street": f"Rua {n}", "city": "Porto", "country": "PT"}],
    }


def as_tryton(party: dict[str, Any], country_id: int) -> dict[str, Any]:
    """A payload as Tryton's create takes it, written by hand."""
    return {
        "name": party["name"],
        "code": party["code"],
        "contact_mechanisms": [["create", party["contact_mechanisms"]]],
        "addresses": [["create", [{**party["addresses"][0], "country": country_id}]]],
    }


def timed(run: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    count = run()
    return count, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parties", type=int, default=300, help="parties per phase")
    parser.add_argument("--batch", type=int, default=100, help="parties per call when batched")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each phase")
    parser.add_argument(
        "--console",
        action="store_true",
        help="also sync as many CRM contacts into Tryton through a console run, end to end",
    )
    options = parser.parse_args()
    if options.console:
        scratch = tempfile.mkdtemp(prefix="ic-bench-")
        os.environ["DATABASE_URL"] = f"sqlite:///{scratch}/bench.sqlite3"
        from sync_throughput import configure_django

        configure_django(redis=False)
    n, batch = options.parties, options.batch
    runs = iter(range(1_000_000))  # makes each phase's codes unique across repeats

    started = time.perf_counter()
    with start_tryton() as tryton:
        setup = time.perf_counter() - started
        bare = tryton.bare()
        [portugal] = bare.call(
            "model.country.country.search_read", [["code", "=", "PT"]], 0, 1, None, ["id"], {}
        )
        country_id = portugal["id"]

        def one_at_a_time() -> int:
            run = f"one{next(runs)}"
            for i in range(n):
                bare.call(f"model.{PARTY}.create", [as_tryton(payload(run, i), country_id)], {})
            return n

        def batched() -> int:
            run = f"batch{next(runs)}"
            parties = [as_tryton(payload(run, i), country_id) for i in range(n)]
            for start in range(0, n, batch):
                bare.call(f"model.{PARTY}.create", parties[start : start + batch], {})
            return n

        settings = {**tryton.settings, "batch_size": batch}
        erp = TrytonConnector(tryton.base_url, token=tryton.password, settings=settings)

        def connector() -> int:
            run = f"connector{next(runs)}"
            answers = erp.create_many(PARTY, [payload(run, i) for i in range(n)])
            failed = [a for a in answers if isinstance(a, Exception)]
            if failed:
                raise SystemExit(f"create_many refused {len(failed)} parties: {failed[0]}")
            return len(answers)

        def bare_read() -> int:
            fields = ["name", "code", "email", "addresses.city", "addresses.country.code"]
            count, offset = 0, 0
            while rows := bare.call(
                f"model.{PARTY}.search_read", [], offset, 100, [["id", "ASC"]], fields, {}
            ):
                count, offset = count + len(rows), offset + len(rows)
            return count

        def connector_read() -> int:
            return sum(1 for _ in erp.iter_records(PARTY, page_size=100))

        phases = [
            ("bare JSON-RPC, 1 party a call", one_at_a_time),
            (f"bare JSON-RPC, {batch} parties a call", batched),
            (f"TrytonConnector.create_many ({batch} a call)", connector),
        ]
        seconds: dict[str, list[float]] = {name: [] for name, _ in phases}
        for repeat in range(options.repeat):
            for name, run in phases[repeat % 3 :] + phases[: repeat % 3]:
                seconds[name].append(timed(run)[1])
        results = [(name, n, statistics.median(seconds[name])) for name, _ in phases]
        if options.console:
            results.append(console_phase(tryton, bare, n))
        reads = [
            ("bare search_read by id, 100 a page", *timed(bare_read)),
            ("TrytonConnector.iter_records, 100 a page", *timed(connector_read)),
        ]
        erp.close()
        bare.close()

    print(f"Tryton 8.2.1 (SQLite), {platform.python_implementation()} {platform.python_version()}")
    steps = ", ".join(f"{step} {took:.1f} s" for step, took in tryton.timings.items())
    print(f"server set-up {setup:.1f} s ({steps})")
    print(f"{n} parties a phase, median of {options.repeat} runs")
    print()
    base = results[0][1] / results[0][2]
    print(f"{'creating parties':<46} {'parties':>8} {'seconds':>8} {'/s':>8} {'ratio':>7}")
    for name, count, median in results:
        rate = count / median
        print(f"{name:<46} {count:>8} {median:>8.2f} {rate:>8.0f} {rate / base:>6.1f}x")
    print()
    print(f"{'reading them back (all parties)':<46} {'records':>8} {'seconds':>8} {'/s':>8}")
    for name, count, took in reads:
        print(f"{name:<46} {count:>8} {took:>8.2f} {count / took:>8.0f}")


def console_phase(tryton, bare, contacts: int) -> tuple[str, int, float]:
    """A console run of the CRM-to-Tryton flow over ``contacts`` CRM contacts: read by keyset,
    transformed, validated, created in Tryton in batches, linked and audited. The parties it
    created per second; the simulator's few invalid contacts go to the review queue."""
    from connectors.simulator.runner import start_simulator
    from integration_console.demo import seed_demo_world
    from integration_console.sync.services import sync_run_start
    from tests.connectors.tryton.flows import PASSWORD_VARIABLE, crm_to_tryton_flow

    os.environ[PASSWORD_VARIABLE] = tryton.password
    with start_simulator(contacts=contacts) as sim:
        crm = seed_demo_world(simulator_url=sim.base_url).source_system
        flow = crm_to_tryton_flow(crm, tryton, bare)
        flow.page_size = 100
        flow.save()
        started = time.perf_counter()
        run = sync_run_start(flow=flow, triggered_by="bench")
        took = time.perf_counter() - started
    run.refresh_from_db()
    if run.error:
        raise SystemExit(f"The console run failed: {run.error}")
    name = f"console run, end to end ({run.failed_count} to the queue)"
    return name, run.created_count, took


if __name__ == "__main__":
    main()
