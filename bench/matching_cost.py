"""What matching a record costs the engine with 10,000 and with 1,000,000 target records in
its index, on SQLite and PostgreSQL. Not part of the test suite.

    .venv/bin/python bench/matching_cost.py                    # 10,000 and 1,000,000
    .venv/bin/python bench/matching_cost.py --sizes 10000,100000 --databases sqlite
    .venv/bin/python bench/matching_cost.py --databases postgresql --shared-buffers 2GB

For each database and size, a child process on a fresh database fills the match index
(``TargetRecord`` and ``TargetRecordKey``, as ``refresh_match_index`` or the engine's own writes
fill it) with generated people (``bench/people.py``: seeded, with known duplicates), then times
``identify.match_records`` over pages of 100 incoming records, as the engine calls it once a
page: its three queries and the scoring. Printed: microseconds per record (median of the
pages, best of PASSES passes) and the ratio against the smallest size in the same run; the
target is flat (1.0x). Beside them, the work a record asks for (keys, index entries read,
candidates scored), which does not depend on how busy the machine is.

PostgreSQL runs on the server at 127.0.0.1:5432 as it is configured. With ``--shared-buffers``,
on a throwaway server of the benchmark's own instead (initdb in a temporary directory, a free
port, that much shared memory), started and stopped by the benchmark: what matching costs on a
server sized for its match index. The shared server is never restarted or reconfigured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.people import ROLES  # noqa: E402
from bench.sync_throughput import fresh_database  # noqa: E402

PAGE = 100
INCOMING = 2_000
FILL_BATCH = 5_000
# The incoming records are matched this many times (the normalisers' caches emptied before
# each pass) and the best pass is kept: a pass is a few seconds, which another process on a
# busy machine can slow down at random.
PASSES = 5


def main() -> None:
    args = parse_args()
    if args.child:
        child(args)
        return
    rows = []
    for database in args.databases:
        for size in args.sizes:
            figures = measure(database, size, args.shared_buffers)
            rows.append((database, size, figures))
            print(
                f"  {label(database, args):<10} {size:>9,} targets: "
                f"{figures['us_per_record']:8.0f} µs/record "
                f"(filled in {figures['fill_s']:.0f} s; passes "
                f"{', '.join(f'{p:.0f}' for p in figures['passes'])}); a record: "
                f"{figures['keys']:.1f} keys, {figures['entries']:.1f} index entries read, "
                f"{figures['candidates']:.2f} candidates scored",
                flush=True,
            )
    print()
    print(
        "| database | target records | µs per record (median page) | vs smallest "
        "| index entries read | candidates scored |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for database in args.databases:
        mine = [(size, f) for d, size, f in rows if d == database]
        base = mine[0][1]["us_per_record"]
        for size, f in mine:
            print(
                f"| {label(database, args)} | {size:,} | {f['us_per_record']:.0f} "
                f"| {f['us_per_record'] / base:.2f}x | {f['entries']:.1f} | {f['candidates']:.2f} |"
            )


def label(database: str, args: argparse.Namespace) -> str:
    if database == "postgresql" and args.shared_buffers:
        return f"postgresql (own server, shared_buffers {args.shared_buffers})"
    return database


def parse_args() -> argparse.Namespace:
    def numbers(text: str) -> list[int]:
        return [int(part) for part in text.split(",")]

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=numbers, default=[10_000, 1_000_000])
    parser.add_argument(
        "--databases", type=lambda t: t.split(","), default=["sqlite", "postgresql"]
    )
    parser.add_argument(
        "--shared-buffers",
        help="PostgreSQL on a throwaway server of its own with this shared_buffers (e.g. 2GB)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def measure(database: str, size: int, shared_buffers: str | None) -> dict:
    server = (
        own_postgres(shared_buffers)
        if database == "postgresql" and shared_buffers
        else fresh_database(database)
    )
    with server as url:
        command = [sys.executable, __file__, "--child", "--size", str(size)]
        done = subprocess.run(
            command, env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True
        )
    if done.returncode:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-5000:])
        raise SystemExit(f"The measurement ({database}, {size}) failed.")
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextmanager
def own_postgres(shared_buffers: str) -> Iterator[str]:
    """A database on a PostgreSQL server of this benchmark's own, with ``shared_buffers``: made
    with initdb in a temporary directory, listening on a free port, stopped and deleted after.
    PostgreSQL refuses to run as root, so as root it runs as the postgres user."""
    bindir = Path(
        subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
    )
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    with tempfile.TemporaryDirectory(prefix="ic-bench-pg-") as scratch:
        data = Path(scratch) / "data"
        if as_postgres:
            shutil.chown(scratch, "postgres")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        run = partial(subprocess.run, check=True, capture_output=True)
        run([*as_postgres, bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust"])
        options = f"-p {port} -k {scratch} -c listen_addresses=127.0.0.1 "
        options += f"-c shared_buffers={shared_buffers}"
        pg_ctl = [*as_postgres, bindir / "pg_ctl", "-D", data, "-w"]
        run([*pg_ctl, "-o", options, "-l", Path(scratch) / "server.log", "start"])
        try:
            run(
                [bindir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "bench"]
            )
            yield f"postgres://postgres@127.0.0.1:{port}/bench"
        finally:
            run([*pg_ctl, "-m", "immediate", "stop"])


def child(args: argparse.Namespace) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "integration_console.settings"
    os.environ.setdefault("SECRET_KEY", "bench-only-throwaway-secret-key")
    os.environ["DEBUG"] = "0"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bench.people import people
    from integration_console.catalog.models import DataClass, FieldMap, System
    from integration_console.matching.spec import default_people_spec
    from integration_console.sync.identify import Matching, _store, match_records
    from integration_console.sync.models import Flow

    call_command("migrate", verbosity=0)
    spec = default_people_spec(ROLES)
    crm = System.objects.create(name="CRM", base_url="http://crm.invalid/api")
    erp = System.objects.create(name="ERP", base_url="http://erp.invalid/api")
    people_class = DataClass.objects.create(
        name="person", label="Person", matching=spec.to_config()
    )
    field_map = FieldMap.objects.create(
        name="people", data_class=people_class, source_system=crm, target_system=erp
    )
    flow = Flow.objects.create(
        name="people",
        data_class=people_class,
        source_system=crm,
        source_resource="people",
        target_system=erp,
        target_resource="people",
        field_map=field_map,
    )
    matching = Matching(spec, erp.pk, "people")
    targets, incoming = people(args.size, INCOMING, seed=1)
    started = time.perf_counter()
    from django.utils import timezone

    for start in range(0, len(targets), FILL_BATCH):
        batch = targets[start : start + FILL_BATCH]
        _store(matching, {t.record_id: t.payload for t in batch}, timezone.now())
    if connection.vendor == "postgresql":
        # What autovacuum does to a table filled this way, in its own time: without it every
        # index entry read would also visit the table to check that its row is visible.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
    fill = time.perf_counter() - started
    pages = [
        {p.record_id: p.payload for p in incoming[start : start + PAGE]}
        for start in range(0, len(incoming), PAGE)
    ]
    passes = []
    for _ in range(PASSES):
        forget_normalised()
        timings = []
        for page in pages:
            began = time.perf_counter()
            match_records(matching, flow, page)
            timings.append((time.perf_counter() - began) / len(page) * 1e6)
        passes.append(statistics.median(timings))
    figures = {"us_per_record": min(passes), "passes": passes, "fill_s": fill}
    print(json.dumps({**figures, **work_a_record(matching, pages)}))


def work_a_record(matching, pages: list[dict]) -> dict:
    """What a record asked of the index, on average: its keys, the index entries their walks
    read, and the candidates scored. These, not the clock, say whether the work grows."""
    from integration_console.matching.keys import blocking_keys, most_shared
    from integration_console.sync.identify import _records_of_keys

    keys = entries = candidates = records = 0
    for page in pages:
        keys_of = {source_id: blocking_keys(p, matching.spec) for source_id, p in page.items()}
        found = _records_of_keys(matching, sorted(set().union(*keys_of.values())))
        for record_keys in keys_of.values():
            records += 1
            keys += len(record_keys)
            entries += sum(len(found.get(key, ())) for key in record_keys)
            candidates += len(most_shared(record_keys, found))
    return {
        "keys": keys / records,
        "entries": entries / records,
        "candidates": candidates / records,
    }


def forget_normalised() -> None:
    """Empty the normalisers' caches: filling the index just normalised every target, which a
    worker matching a page has not done. Left warm, they would hold all of a small target and
    little of a large one, and the small one would look cheaper than it is."""
    from integration_console.matching import normalise, scoring

    for module in (normalise, scoring):
        for value in vars(module).values():
            if hasattr(value, "cache_clear"):
                value.cache_clear()


if __name__ == "__main__":
    main()
