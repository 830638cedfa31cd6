"""Where a console sync run spends its time: cProfile of a first run, top entries.

    .venv/bin/python bench/profile_console.py [--contacts 1000] [--top 30] [--sort tottime]

Same throwaway database and seeded simulator world as sync_throughput.py; the figures are
inflated by the profiler, so read them as shares of the run, not as its speed.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile

from sync_throughput import configure_django, console_run


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="ic-bench-") as scratch:
        os.environ.setdefault("DATABASE_URL", f"sqlite:///{scratch}/bench.sqlite3")
        configure_django(redis=False)
        from connectors.simulator.runner import start_simulator
        from integration_console.demo import seed_demo_world

        with start_simulator(contacts=args.contacts) as sim:
            flow = seed_demo_world(simulator_url=sim.base_url)
            profiler = cProfile.Profile()
            phase = profiler.runcall(console_run, flow, "console, first run")
    print(f"{phase.name}: {phase.records} records in {phase.seconds:.2f} s under cProfile")
    print(f"({phase.outcome})")
    pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1000, help="CRM contacts to sync.")
    parser.add_argument("--top", type=int, default=30, help="Entries to print.")
    parser.add_argument("--sort", choices=["cumulative", "tottime"], default="cumulative")
    return parser.parse_args()


if __name__ == "__main__":
    main()
