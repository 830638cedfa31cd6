"""Systems that require a token: it is read from the environment and never stored."""

import json
import logging

import pytest
from django.core import serializers
from django.core.exceptions import ImproperlyConfigured

from connectors.simulator.runner import start_simulator
from integration_console.catalog.models import System
from integration_console.demo import seed_demo_world
from integration_console.sync import connections
from integration_console.sync.failures import FailureKind
from integration_console.sync.models import AuditEntry, RecordLink, SyncRun
from review_queue.models import ReviewItem
from tests.factories import run_flow

pytestmark = pytest.mark.django_db

TOKEN = "s3cr3t-demo-token-4f9a"


@pytest.fixture(scope="module")
def guarded_simulator():
    with start_simulator(token=TOKEN) as simulator:
        yield simulator


@pytest.fixture
def guarded_flow(db, guarded_simulator):
    import httpx

    httpx.post(f"{guarded_simulator.base_url}/_control/reset").raise_for_status()
    return seed_demo_world(simulator_url=guarded_simulator.base_url, matching=False)


def test_the_token_from_the_environment_opens_the_system_and_is_stored_nowhere(
    guarded_flow, monkeypatch, caplog, in_process_jobs, django_capture_on_commit_callbacks
):
    monkeypatch.setenv("IC_CRM_API_TOKEN", TOKEN)
    monkeypatch.setenv("IC_ERP_API_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG)
    run = run_flow(guarded_flow, django_capture_on_commit_callbacks)

    assert (run.status, run.created_count, run.failed_count) == (
        SyncRun.Status.SUCCEEDED_WITH_FAILURES,
        36,
        4,
    )
    stored = serializers.serialize(
        "json",
        [
            *AuditEntry.objects.all(),
            *ReviewItem.objects.all(),
            *SyncRun.objects.all(),
            *guarded_flow.source_system.history.all(),
            *guarded_flow.target_system.history.all(),
        ],
    )
    assert TOKEN not in stored
    assert TOKEN not in caplog.text
    assert json.loads(stored)


def test_without_the_token_the_run_fails_with_the_reason_and_drops_nothing(
    guarded_flow, monkeypatch, in_process_jobs, django_capture_on_commit_callbacks
):
    monkeypatch.delenv("IC_CRM_API_TOKEN", raising=False)
    run = run_flow(guarded_flow, django_capture_on_commit_callbacks)

    assert run.status == SyncRun.Status.FAILED
    assert "401" in run.error
    # Nothing was read, so nothing is lost: the next run with the token reads everything.
    assert run.read_count == 0
    guarded_flow.refresh_from_db()
    assert (guarded_flow.cursor_updated_at, guarded_flow.cursor_source_id) == (None, "")


def test_a_target_refusing_our_token_stops_the_run_after_one_record(
    guarded_flow, monkeypatch, in_process_jobs, django_capture_on_commit_callbacks
):
    monkeypatch.setenv("IC_CRM_API_TOKEN", TOKEN)
    monkeypatch.setenv("IC_ERP_API_TOKEN", "expired-token")
    run = run_flow(guarded_flow, django_capture_on_commit_callbacks)

    assert run.status == SyncRun.Status.FAILED
    assert "Simulated ERP refused our credentials" in run.error
    assert "IC_ERP_API_TOKEN" in run.error
    assert "expired-token" not in run.error
    # One record met the refusal; the rest of its page was never sent. (Records of the page
    # that are invalid whatever the target says are still queued as invalid.)
    refused = ReviewItem.objects.filter(kind=FailureKind.TARGET_REJECTED)
    assert refused.count() == 1
    assert not ReviewItem.objects.exclude(kind__in=[FailureKind.TARGET_REJECTED, "invalid"])
    assert RecordLink.objects.count() == 0


class EnvironmentSpy(dict):
    """os.environ as connector_for sees it, remembering every name it was asked for."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked: list[str] = []

    def get(self, key, default=None):
        self.asked.append(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.asked.append(key)
        return super().__getitem__(key)


def test_a_token_variable_outside_the_pattern_is_refused_before_it_is_read(monkeypatch):
    environ = EnvironmentSpy(SECRET_KEY="the-servers-own-secret")
    monkeypatch.setattr(connections, "os", type("os", (), {"environ": environ}))
    leaky = System(name="Leaky", base_url="http://127.0.0.1:9/api", auth_env_var="SECRET_KEY")

    with pytest.raises(ImproperlyConfigured, match=r"\^IC_\[A-Z0-9_\]\+\$") as refused:
        connections.connector_for(leaky)
    assert "SECRET_KEY" in str(refused.value)
    assert "the-servers-own-secret" not in str(refused.value)
    assert environ.asked == []


def test_a_systems_rate_limit_reaches_its_connector():
    system = System(name="Slow", base_url="http://127.0.0.1:9/api", rate_limit_per_second=4)
    connector = connections.connector_for(system)
    try:
        assert connector.limiter.interval == 0.25
    finally:
        connector.close()
