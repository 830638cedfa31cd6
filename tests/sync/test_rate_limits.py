"""A system's rate limit holds for all its connectors at once, and a target's 429 is waited out."""

import time

import httpx
import pytest
import redis
import respx

from connectors import registry
from connectors.http import RateLimiter
from connectors.ratelimit import RedisTokenBucket
from connectors.rest.client import RestConnector
from integration_console.sync import connections
from integration_console.sync.models import AuditEntry
from integration_console.sync.pipeline import load_context, process_record
from tests.factories import FlowFactory, SystemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def without_redis(settings):
    settings.REDIS_URL = ""


@pytest.fixture
def with_redis(settings, redis_url):
    settings.REDIS_URL = redis_url
    yield
    # Buckets expire by themselves within a second or two; a database that reuses ids must
    # not find an earlier test's.
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(connections.RATE_LIMIT_KEY.format(pk="*")):
        client.delete(key)
    client.close()


@pytest.fixture(params=["without_redis", "with_redis"])
def either_way(request):
    request.getfixturevalue(request.param)
    return request.param


def test_without_redis_a_systems_connectors_share_one_limiter_in_the_process(without_redis):
    crm, erp = SystemFactory(rate_limit_per_second=5), SystemFactory(rate_limit_per_second=5)

    first, second = connections.connector_for(crm), connections.connector_for(crm)

    assert isinstance(first.limiter, RateLimiter) and first.limiter.interval == 0.2
    assert second.limiter is first.limiter
    assert connections.connector_for(erp).limiter is not first.limiter
    crm.rate_limit_per_second = 10
    assert connections.connector_for(crm).limiter.interval == 0.1


def test_with_redis_a_systems_connectors_draw_from_one_bucket(with_redis):
    crm, erp = SystemFactory(rate_limit_per_second=5), SystemFactory(rate_limit_per_second=5)

    first, second = connections.connector_for(crm), connections.connector_for(crm)

    assert isinstance(first.limiter, RedisTokenBucket) and first.limiter.interval == 0.2
    assert (
        second.limiter.key == first.limiter.key == f"integration-console:rate-limit:system:{crm.pk}"
    )
    assert connections.connector_for(erp).limiter.key != first.limiter.key


def test_two_connectors_of_one_system_together_keep_its_rate(either_way):
    system = SystemFactory(base_url="http://erp.test/api", rate_limit_per_second=20)
    workers = [connections.connector_for(system), connections.connector_for(system)]

    with respx.mock(base_url="http://erp.test/api") as mock:
        mock.get("/customers/C-1").respond(200, json={"id": "C-1"})
        started = time.monotonic()
        for _ in range(4):
            for worker in workers:
                worker.get("customers", "C-1")
        elapsed = time.monotonic() - started
        assert mock.calls.call_count == 8

    # 8 requests at 20 a second: 7 gaps of 0.05 s; each connector alone would need 3 gaps.
    assert elapsed >= 0.9 * 7 / 20


def test_a_system_without_a_limit_is_not_held_back(either_way):
    connector = connections.connector_for(SystemFactory(rate_limit_per_second=None))
    assert connector.limiter.interval == 0.0


class OwnLimitConnector:
    """A kind from before limiters were shared: it takes no ``limiter``."""

    def __init__(self, base_url, *, token, timeout, rate_limit_per_second, settings):
        self.rate_limit_per_second = rate_limit_per_second


def test_a_kind_that_takes_no_shared_limiter_still_gets_its_rate(without_redis, monkeypatch):
    monkeypatch.setattr(
        registry, "connector_kinds", lambda: {"old": f"{__name__}.OwnLimitConnector"}
    )
    system = SystemFactory(connector="old", rate_limit_per_second=3)

    connector = connections.connector_for(system)

    assert isinstance(connector, OwnLimitConnector) and connector.rate_limit_per_second == 3


def test_a_429_with_retry_after_is_retried_after_that_long():
    flow = FlowFactory(target_system__base_url="http://erp.test/api", max_attempts=3)
    record = {"id": "C-1", "name": "Ana Lima", "email": "ana@example.com", "country_code": "PT"}
    slept: list[float] = []

    with respx.mock(base_url="http://erp.test/api") as mock:
        create = mock.post("/customers")
        create.side_effect = [
            httpx.Response(429, headers={"Retry-After": "7"}, json={"detail": "slow down"}),
            httpx.Response(201, json={**record, "id": "T-1"}),
        ]
        ctx = load_context(
            flow, source=None, target=RestConnector("http://erp.test/api"), actor="test"
        )
        ctx.sleep = slept.append
        result = process_record(ctx, record)
        assert create.call_count == 2

    assert result.outcome == AuditEntry.Outcome.SUCCEEDED
    assert sum(slept) == 7.0
    first, second = AuditEntry.objects.filter(source_id="C-1").order_by("attempt")
    assert (first.outcome, first.failure_kind) == (AuditEntry.Outcome.FAILED, "transient")
    assert (second.outcome, second.target_id) == (AuditEntry.Outcome.SUCCEEDED, "T-1")


def test_a_long_retry_after_is_waited_in_full_with_the_run_kept_alive_meanwhile():
    flow = FlowFactory(target_system__base_url="http://erp.test/api", max_attempts=3)
    record = {"id": "C-1", "name": "Ana Lima", "email": "ana@example.com", "country_code": "PT"}
    slept: list[float] = []
    beats: list[float] = []

    with respx.mock(base_url="http://erp.test/api") as mock:
        mock.post("/customers").side_effect = [
            httpx.Response(429, headers={"Retry-After": "60"}, json={"detail": "slow down"}),
            httpx.Response(201, json={**record, "id": "T-1"}),
        ]
        ctx = load_context(
            flow, source=None, target=RestConnector("http://erp.test/api"), actor="test"
        )
        ctx.sleep = slept.append
        ctx.heartbeat = lambda: beats.append(sum(slept))
        result = process_record(ctx, record)

    assert result.outcome == AuditEntry.Outcome.SUCCEEDED
    assert sum(slept) == 60.0 and max(slept) <= 5.0
    # A heartbeat at least every five seconds of the wait: the run never looks abandoned.
    assert all(b - a <= 5.0 for a, b in zip(beats, beats[1:], strict=False))
    assert beats[-1] == 60.0
