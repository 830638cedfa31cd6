"""Test connection: an admin reads one page of a resource with a system's saved settings and
sees the request, the answer and the records; nothing is written, secrets never shown."""

import httpx
import pytest
from django.urls import reverse

from tests.factories import demo_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(client, demo_flow):
    client.force_login(demo_user("ada"))
    return client


def test_testing_a_rest_system_shows_the_request_the_answer_and_the_records(
    ada, demo_flow, simulator
):
    url = reverse("sync:system_test", args=[demo_flow.source_system_id])
    page = ada.get(url, {"resource": "contacts", "run": "1"})

    probe = page.context["probe"]
    assert probe.ok and len(probe.records) == 5
    assert probe.steps[-1].request.method == "GET"
    assert probe.steps[-1].answer.status == 200
    assert "Connected: 5 records" in page.content.decode()
    assert httpx.get(f"{simulator.erp_url}/customers").json()["count"] == 5


def test_a_token_is_masked_in_the_request_shown(ada, demo_flow, simulator, monkeypatch):
    system = demo_flow.source_system
    system.auth_env_var = "IC_CRM_TEST_TOKEN"
    system.save()
    monkeypatch.setenv("IC_CRM_TEST_TOKEN", "very-secret-token-123")

    page = ada.get(
        reverse("sync:system_test", args=[system.pk]), {"resource": "contacts", "run": "1"}
    )

    assert "very-secret-token-123" not in page.content.decode()


def test_a_system_that_does_not_answer_says_why(ada, demo_flow):
    system = demo_flow.target_system
    system.base_url = "http://127.0.0.1:9/erp/api"
    system.save()

    page = ada.get(
        reverse("sync:system_test", args=[system.pk]), {"resource": "customers", "run": "1"}
    )

    assert not page.context["probe"].ok
    assert page.context["probe"].error_kind == "transient"


def test_operators_may_not_test_connections(client, demo_flow):
    client.force_login(demo_user("olivia"))
    url = reverse("sync:system_test", args=[demo_flow.source_system_id])
    assert client.get(url).status_code == 403
