"""The three roles, as the demo users hold them: who may see and change what."""

import pytest
from django.contrib import admin
from django.urls import reverse

from integration_console.catalog.models import System
from tests.factories import demo_user

pytestmark = pytest.mark.django_db

OUR_APPS = {"catalog", "sync", "review_queue"}


@pytest.mark.parametrize(
    ("username", "allowed", "refused"),
    [
        (
            "olivia",
            ["review_queue.change_reviewitem", "sync.add_syncrun", "sync.view_auditentry"],
            [
                "catalog.approve_fieldmapversion",
                "catalog.change_system",
                "catalog.change_ownershiprule",
            ],
        ),
        (
            "bruno",
            [
                "review_queue.change_reviewitem",
                "catalog.approve_fieldmapversion",
                "catalog.change_fieldrule",
            ],
            ["catalog.change_system", "catalog.change_ownershiprule"],
        ),
        (
            "ada",
            [
                "catalog.change_system",
                "catalog.change_ownershiprule",
                "sync.change_flow",
                "catalog.approve_fieldmapversion",
                "auth.change_user",
            ],
            [],
        ),
    ],
)
def test_each_role_holds_its_permissions(demo_flow, username, allowed, refused):
    user = demo_user(username)
    assert all(user.has_perm(p) for p in allowed)
    assert not any(user.has_perm(p) for p in refused)


def test_the_operator_cannot_open_the_admin(client, demo_flow):
    client.force_login(demo_user("olivia"))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302


def test_every_admin_page_opens_for_the_admin(
    client, demo_flow, in_process_jobs, django_capture_on_commit_callbacks
):
    from tests.factories import run_flow

    run_flow(demo_flow, django_capture_on_commit_callbacks)
    client.force_login(demo_user("ada"))
    ours = [m for m in admin.site._registry if m._meta.app_label in OUR_APPS | {"auth"}]
    for model in ours:
        info = f"{model._meta.app_label}_{model._meta.model_name}"
        changelist = client.get(reverse(f"admin:{info}_changelist"))
        assert changelist.status_code == 200, info
        first = model.objects.first()
        if first is not None:
            change = client.get(reverse(f"admin:{info}_change", args=[first.pk]))
            assert change.status_code == 200, info


def test_every_model_an_admin_can_edit_keeps_history(demo_flow):
    from integration_console.sync.models import AuditEntry, SyncRun

    append_only = {AuditEntry, SyncRun}
    editable = [
        m for m in admin.site._registry if m._meta.app_label in OUR_APPS and m not in append_only
    ]
    missing = [m.__name__ for m in editable if not hasattr(m, "history")]
    assert missing == []


def test_an_edit_in_the_admin_is_in_the_history_with_who_made_it(client, demo_flow):
    client.force_login(demo_user("ada"))
    system = System.objects.get(name="Simulated ERP")
    url = reverse("admin:catalog_system_change", args=[system.pk])
    data = {
        "name": system.name,
        "connector": system.connector,
        "base_url": system.base_url,
        "auth_env_var": system.auth_env_var,
        "timeout_seconds": "5.0",
        "rate_limit_per_second": "",
        "description": system.description,
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.content[:2000]

    latest = system.history.first()
    assert latest.history_user.username == "ada"
    assert latest.timeout_seconds == 5.0
    assert "timeout_seconds" in {c.field for c in latest.diff_against(latest.prev_record).changes}
