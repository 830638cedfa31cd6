"""A System's settings in the admin: explained by its connector kind, checked when saved."""

import pytest
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_adding_a_system_shows_an_example_of_each_kinds_settings(admin_client):
    page = admin_client.get(reverse("admin:catalog_system_add")).content.decode()

    assert "<code>rest</code>" in page and "records_path" in page
    assert "<code>tryton</code>" in page and "&quot;database&quot;" in page


def test_a_tryton_system_without_its_database_is_refused_when_saved(admin_client):
    response = admin_client.post(
        reverse("admin:catalog_system_add"),
        {
            "name": "ERP",
            "connector": "tryton",
            "base_url": "http://erp.example",
            "settings": "{}",
            "timeout_seconds": "10",
        },
    )

    assert response.status_code == 200
    assert "database" in str(response.context["adminform"].form.errors["settings"])
