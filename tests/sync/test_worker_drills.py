"""Fault drills: a run of the demo flow keeps its promise when its workers are killed mid-job and
when Redis restarts under it. Every source record ends exactly once in the target, or has an
active review item; links, audit entries and review items agree with the target; the run ends.

Lane 2 only (PostgreSQL, real `manage.py rqworker` processes). Each drill brings a redis-server
of its own rather than the lane's: the session's `rq_worker` fixture listens on the lane's Redis
and would take the drill's jobs out of reach of its kills.
"""

import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from connectors.simulator.runner import RunningSimulator, start_simulator
from connectors.simulator.world import SEEDED_CUSTOMERS, SEEDED_PROBLEMS
from integration_console.sync.models import AuditEntry, Flow, RecordLink, SyncChunk, SyncRun
from integration_console.sync.services import sync_run_start, sync_runs_recover
from review_queue.models import ReviewItem

from .drill_helpers import (
    FINISHED,
    CronStandIn,
    RedisServer,
    RunDriver,
    Workers,
    free_port,
    records_linked,
)

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

# 400 contacts, 20 ms per ERP request: a run of many chunks and seconds for the faults to hit.
CONTACTS = 400
ERP_LATENCY = 0.02
# For the workers and for this process, which starts runs and calls the recovery.
DRILL_SETTINGS = {
    "SYNC_CHUNK_RECORDS": 50,
    "SYNC_HEARTBEAT_EVERY": 0.5,
    "SYNC_RUN_STALE_AFTER": 3,
    "SYNC_RUN_QUEUED_STALE_AFTER": 3,
}
RECOVER_EVERY = 1.0
# When the faults strike: the share of the records already linked.
WORKER_KILLS_AT = (0.1, 0.25, 0.4, 0.55, 0.7)
REDIS_RESTARTS_AT = (0.3, 0.6)
REDIS_DOWN_FOR = 2.0
# Generous, so that a slow machine fails only a drill that is stuck for good.
PHASE_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def simulator_process() -> Iterator[RunningSimulator]:
    """Overrides conftest's for these drills: a world big enough that a run lasts a while."""
    with start_simulator(contacts=CONTACTS) as simulator:
        yield simulator


@pytest.fixture
def drill_dir(request, artifacts_dir: Path) -> Path:
    path = artifacts_dir / "drills" / request.node.name
    path.mkdir(parents=True, exist_ok=True)
    for old_log in path.glob("*.log"):
        old_log.unlink()
    return path


@pytest.fixture
def drill_redis(redis_url: str, drill_dir: Path) -> Iterator[RedisServer]:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed: the fault drills start one of their own")
    server = RedisServer(free_port(), drill_dir / "redis-server.log")
    server.start()
    yield server
    server.kill()


@pytest.fixture
def workers(settings, drill_redis: RedisServer, simulator, drill_dir: Path) -> Iterator[Workers]:
    """The drill's rqworkers on its own Redis, with this process pointed at the same Redis and
    both on the drill's short timings; the ERP slowed down for the length of the test."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("an rqworker process needs a database it can share: run on PostgreSQL")
    settings.REDIS_URL = drill_redis.url
    settings.RQ_QUEUES = {"default": {**settings.RQ_QUEUES["default"], "URL": drill_redis.url}}
    for name, value in DRILL_SETTINGS.items():
        setattr(settings, name, value)
    database_url = (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": drill_redis.url,
        **{name: str(value) for name, value in DRILL_SETTINGS.items()},
    }
    latency = {"system": "erp", "seconds": ERP_LATENCY}
    httpx.post(f"{simulator.base_url}/_control/latency", json=latency).raise_for_status()
    pool = Workers(env, drill_dir)
    pool.start()
    yield pool
    pool.kill_all()


def start_drill(flow: Flow, workers: Workers) -> RunDriver:
    run = sync_run_start(flow=flow, triggered_by="fault drill")
    # Production calls the recovery every minute from RQ's cron; here, every second.
    cron = CronStandIn(sync_runs_recover, every=RECOVER_EVERY)
    return RunDriver(run.pk, workers=workers, cron=cron)


def linked_at_least(
    flow: Flow, share: float, *, also: Callable[[], object] | None = None
) -> Callable[[], bool]:
    count = int(share * CONTACTS)
    return lambda: records_linked(flow.pk) >= count and (also is None or bool(also()))


def test_a_run_keeps_its_promise_when_its_workers_are_killed_mid_job(demo_flow, workers, simulator):
    drive = start_drill(demo_flow, workers)

    for number, share in enumerate(WORKER_KILLS_AT, start=1):
        reached = drive.until(
            linked_at_least(demo_flow, share, also=lambda: workers.current.horses()),
            timeout=PHASE_TIMEOUT,
            waiting_for=f"{share:.0%} of the records linked and a job running (kill {number})",
        )
        assert reached, f"The run ended before kill {number}: {drive.summary()}"
        kill = workers.kill_mid_job_and_restart()
        assert kill.horses, f"Kill {number} found no work horse running a job: {kill}"

    run = drive.to_the_end(timeout=PHASE_TIMEOUT)

    assert_the_run_kept_its_promise(run, demo_flow, simulator.base_url, drive)


def test_a_run_keeps_its_promise_when_redis_restarts_under_it(
    demo_flow, workers, drill_redis, simulator
):
    drive = start_drill(demo_flow, workers)

    for number, share in enumerate(REDIS_RESTARTS_AT, start=1):
        reached = drive.until(
            linked_at_least(demo_flow, share),
            timeout=PHASE_TIMEOUT,
            waiting_for=f"{share:.0%} of the records linked (Redis restart {number})",
        )
        assert reached, f"The run ended before Redis restart {number}: {drive.summary()}"
        drill_redis.kill()
        drive.idle(REDIS_DOWN_FOR)
        drill_redis.start()

    run = drive.to_the_end(timeout=PHASE_TIMEOUT)

    assert_the_run_kept_its_promise(run, demo_flow, simulator.base_url, drive)


# --- the promise --------------------------------------------------------------------------


def test_one_run_spreads_over_every_worker_and_keeps_its_promise(demo_flow, workers, simulator):
    second = workers.start()  # two rqworker processes now listen on the drill's queue
    drive = start_drill(demo_flow, workers)

    run = drive.to_the_end(timeout=PHASE_TIMEOUT)

    assert second.running()
    executors = set(SyncChunk.objects.filter(run=run).values_list("executed_by", flat=True))
    assert len(executors) == 2, executors  # each chunk names the RQ worker that did it
    assert run.chunks_done == CONTACTS // DRILL_SETTINGS["SYNC_CHUNK_RECORDS"] + 1
    assert_the_run_kept_its_promise(run, demo_flow, simulator.base_url, drive)


def assert_the_run_kept_its_promise(
    run: SyncRun, flow: Flow, simulator_url: str, drive: RunDriver
) -> None:
    assert run.status in FINISHED, drive.summary()
    assert run.status == "succeeded_with_failures", drive.summary()

    contacts = read_all(simulator_url, "/crm/api/contacts")
    customers = read_all(simulator_url, "/erp/api/customers")
    source_ids = {contact["id"] for contact in contacts}
    assert len(source_ids) == CONTACTS

    # The ERP: each contact at most once, and nothing that is not a contact.
    synced = [customer for customer in customers if customer["crm_ref"]]
    written = Counter(customer["crm_ref"] for customer in synced)
    doubled = {ref: times for ref, times in written.items() if times > 1}
    assert not doubled, f"Contacts written to the ERP more than once: {doubled}"
    assert written.keys() <= source_ids
    assert len(customers) - len(synced) == SEEDED_CUSTOMERS
    in_target = {customer["crm_ref"]: customer["id"] for customer in synced}

    # The links are the ERP's contents, no more, no less.
    links = dict(RecordLink.objects.filter(flow=flow).values_list("source_id", "target_id"))
    assert links == in_target, differences("link", links, "ERP customer", in_target)

    # Every other record is in the queue: the seeded problems, and nothing the faults made.
    queued = set(
        ReviewItem.objects.filter(flow=flow, status__in=ReviewItem.ACTIVE_STATUSES).values_list(
            "source_id", flat=True
        )
    )
    assert queued == set(SEEDED_PROBLEMS)
    assert not queued & links.keys(), "linked and still waiting in the queue"
    lost = source_ids - links.keys() - queued
    assert not lost, f"{len(lost)} records neither in the ERP nor in the queue: {sorted(lost)}"

    # The audit: one successful create (or link) per linked record, naming its target, and a
    # failed attempt for every queued one; every entry says which run wrote it.
    entries = AuditEntry.objects.filter(flow=flow)
    succeeded: dict[str, list[str]] = {}
    for source_id, target_id in entries.filter(
        outcome=AuditEntry.Outcome.SUCCEEDED,
        action__in=[AuditEntry.Action.CREATE, AuditEntry.Action.LINK],
    ).values_list("source_id", "target_id"):
        succeeded.setdefault(source_id, []).append(target_id)
    wrong = {
        source_id: succeeded.get(source_id, [])
        for source_id, target_id in links.items()
        if succeeded.get(source_id) != [target_id]
    }
    assert not wrong, f"Linked records whose successful creates say otherwise: {wrong}"
    assert succeeded.keys() == links.keys()
    failed = set(
        entries.filter(outcome=AuditEntry.Outcome.FAILED).values_list("source_id", flat=True)
    )
    assert queued <= failed, f"Queued without a failed attempt: {sorted(queued - failed)}"
    assert not entries.exclude(run=run).exists()


def read_all(base_url: str, path: str) -> list[dict[str, str]]:
    """Every record of a simulated collection, through its HTTP API."""
    records: list[dict[str, str]] = []
    page = 1
    with httpx.Client(base_url=base_url, timeout=10) as client:
        while page:
            response = client.get(path, params={"page": page, "page_size": 200})
            body = response.raise_for_status().json()
            records += body["results"]
            page = body["next"]
    return records


def differences(left_name: str, left: dict, right_name: str, right: dict) -> str:
    only_left = sorted(left.keys() - right.keys())
    only_right = sorted(right.keys() - left.keys())
    unequal = sorted(key for key in left.keys() & right.keys() if left[key] != right[key])
    return (
        f"{len(only_left)} with a {left_name} only: {only_left[:10]}; "
        f"{len(only_right)} with an {right_name} only: {only_right[:10]}; "
        f"{len(unequal)} that disagree: {unequal[:10]}"
    )
