"""Shared fixtures: the simulator process, the demo world, an RQ worker, the browser."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Sync Playwright runs an event loop in the test thread; the ORM refuses to run beside one.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

BASE_DIR = Path(__file__).resolve().parent.parent
ARTIFACTS = BASE_DIR / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
REQUIRE_SERVICES = os.environ.get("IC_REQUIRE_SERVICES") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In the PostgreSQL + Redis lane, a test skipped for a missing service is a failure."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_SERVICES and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"Skipped in a lane that requires every service: {reason}"


@pytest.fixture(autouse=True)
def fresh_alias_tables():
    """Alias tables are cached per process; each test starts from its own database's."""
    from integration_console.catalog.transforms import forget_alias_tables

    forget_alias_tables()
    yield
    forget_alias_tables()


@pytest.fixture(scope="session")
def simulator_process():
    from connectors.simulator.runner import start_simulator

    with start_simulator() as simulator:
        yield simulator


@pytest.fixture
def simulator(simulator_process):
    """The simulator, reset to its seeded world for each test."""
    import httpx

    httpx.post(f"{simulator_process.base_url}/_control/reset", timeout=10).raise_for_status()
    return simulator_process


@pytest.fixture
def demo_flow(db, simulator):
    """The demo world without matching: a record link is the only identity, so C-0029 meets the
    ERP's 409 and the seeded duplicates are created. Most tests are of other steps and count on
    that world; ``shipped_demo_flow`` is the demo as ``./console demo`` seeds it."""
    from integration_console.demo import seed_demo_world

    return seed_demo_world(simulator_url=simulator.base_url, matching=False)


@pytest.fixture
def shipped_demo_flow(db, simulator):
    """The demo world as ``./console demo`` seeds it: customers matched before they are
    created, against an index filled from the ERP."""
    from integration_console.demo import seed_demo_world

    return seed_demo_world(simulator_url=simulator.base_url)


@pytest.fixture
def in_process_jobs(settings):
    """Run jobs in this process even where REDIS_URL is set; for tests of what a job does."""
    settings.REDIS_URL = ""


@pytest.fixture(scope="session")
def redis_url():
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("REDIS_URL is not set: no Redis for this test (it runs in the PostgreSQL lane)")
    return url


@pytest.fixture(scope="session")
def rq_worker(redis_url, django_db_setup, django_db_blocker):
    """A real `manage.py rqworker` process, on the test database and an emptied Redis db."""
    import redis
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("an rqworker process needs a database it can share: run on PostgreSQL")
    redis.Redis.from_url(redis_url).flushdb()
    database_url = (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / "rqworker.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "default", "--with-scheduler"],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture
def job_runner(request, settings):
    """Whatever executes jobs in this lane: a real rqworker with REDIS_URL, else this process."""
    if settings.REDIS_URL:
        return request.getfixturevalue("rq_worker")
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not shutil.which(CHROMIUM):
        pytest.skip(
            f"Debian's chromium is not installed at {CHROMIUM}: apt-get install -y chromium"
        )
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
