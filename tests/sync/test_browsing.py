"""Read-only browsing: a system's records, page by page, as its connector reads them; nothing
is written, sensitive fields are masked, and a refusal is shown rather than raised."""

import httpx
import pytest
from django.urls import reverse

from tests.factories import demo_user

pytestmark = pytest.mark.django_db


def requests_to(simulator) -> dict[str, int]:
    return httpx.get(f"{simulator.base_url}/_control/stats").json()["requests"]


@pytest.fixture
def olivia(client, demo_flow):
    client.force_login(demo_user("olivia"))
    return client


def test_an_operator_browses_a_sources_records_page_by_page_and_nothing_is_written(
    olivia, demo_flow, simulator
):
    url = reverse("sync:system_browse", args=[demo_flow.source_system_id])
    first = olivia.get(url, {"resource": "contacts"})
    records = first.context["page"].records
    assert first.status_code == 200 and len(records) == 25
    after = first.context["page"].next_position

    second = olivia.get(
        url,
        {"resource": "contacts", "after_updated_at": after.updated_at, "after_id": after.record_id},
    )

    more = second.context["page"].records
    assert len(more) == 15 and second.context["page"].next_position is None
    assert {r["id"] for r in records}.isdisjoint({r["id"] for r in more})
    assert requests_to(simulator)["erp"] == 0
    assert httpx.get(f"{simulator.erp_url}/customers").json()["count"] == 5


def test_a_system_that_does_not_answer_is_reported_on_the_page(olivia, demo_flow):
    system = demo_flow.target_system
    system.base_url = "http://127.0.0.1:9/erp/api"
    system.save()

    page = olivia.get(reverse("sync:system_browse", args=[system.pk]), {"resource": "customers"})

    assert page.status_code == 200
    assert "did not answer as expected" in page.content.decode()


def test_browsing_masks_what_flows_map_into_sensitive_fields(olivia, demo_flow, simulator):
    data_class = demo_flow.data_class
    data_class.schema = {
        "fields": [
            {**field, "sensitive": True} if field["name"] == "phone" else field
            for field in data_class.fields
        ]
    }
    data_class.save()

    page = olivia.get(
        reverse("sync:system_browse", args=[demo_flow.source_system_id]), {"resource": "contacts"}
    )

    assert all(r["phone"] == "••••••" for r in page.context["page"].records if r.get("phone"))
    assert "+49" not in page.content.decode()


def test_a_user_without_a_role_cannot_browse(client, demo_flow):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_user("nobody"))
    url = reverse("sync:system_browse", args=[demo_flow.source_system_id])
    assert client.get(url).status_code == 403
