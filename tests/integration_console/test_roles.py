"""The three roles, as the demo users hold them: who may see and change what."""

import pytest
from django.contrib import admin
from django.urls import reverse, reverse_lazy

from integration_console import roles
from integration_console.catalog.models import System
from tests.factories import UserFactory, demo_user

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
    from integration_console.web.admin import ReadOnlyAdminMixin

    # Rows the engine or the console's own pages write, which the admin only shows, are left
    # out: what can be edited in the admin is what must keep its history.
    editable = [
        model
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in OUR_APPS and not isinstance(model_admin, ReadOnlyAdminMixin)
    ]
    assert editable
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
        "max_concurrent_writes": "4",
        "description": system.description,
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.content[:2000]

    latest = system.history.first()
    assert latest.history_user.username == "ada"
    assert latest.timeout_seconds == 5.0
    assert "timeout_seconds" in {c.field for c in latest.diff_against(latest.prev_record).changes}


def test_after_migrate_each_role_group_holds_exactly_what_roles_py_gives_it(db):
    from django.contrib.auth.models import Group, Permission

    from integration_console import roles

    def held(role: str) -> set[str]:
        group = Group.objects.get(name=role)
        return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}

    for role, codes in roles.ROLE_PERMISSIONS.items():
        assert held(role) == set(codes), role
    every_admin_app_permission = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.filter(content_type__app_label__in=roles.ADMIN_APPS)
    }
    assert held(roles.ADMIN) == every_admin_app_permission


def test_a_permission_taken_from_a_role_is_given_back_by_the_next_migrate(db):
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    operator = Group.objects.get(name=roles.OPERATOR)
    operator.permissions.remove(*operator.permissions.filter(codename="change_reviewitem"))

    call_command("migrate", verbosity=0)

    assert operator.permissions.filter(codename="change_reviewitem").exists()


RQ_DASHBOARD = "admin:django_rq_home"


@pytest.fixture
def no_redis_needed(settings):
    # With no queues the dashboard renders without asking Redis anything.
    settings.RQ_QUEUES = {}


@pytest.mark.parametrize(
    "url",
    [
        reverse_lazy(RQ_DASHBOARD),
        reverse_lazy("admin:django_rq_dashboard_changelist"),
        reverse_lazy("admin:django_rq_jobs", args=[0]),
        reverse_lazy("admin:django_rq_failed_jobs", args=[0]),
        reverse_lazy("admin:django_rq_workers", args=[0]),
    ],
)
def test_a_business_owner_is_refused_the_rq_dashboard(client, no_redis_needed, url):
    client.force_login(UserFactory(role=roles.BUSINESS_OWNER))
    assert client.get(url).status_code == 403


def test_the_rq_dashboard_is_not_served_beside_the_admin_either(client, no_redis_needed):
    # django-rq's own urls, mounted beside the admin, checked no more than is_staff.
    client.force_login(UserFactory(role=roles.BUSINESS_OWNER))
    assert client.get("/admin/django_rq/queues/0/").status_code == 404


def test_a_business_owner_sees_no_rq_link_and_no_rq_stats(client, no_redis_needed):
    client.force_login(UserFactory(role=roles.BUSINESS_OWNER))
    assert reverse(RQ_DASHBOARD) not in client.get(reverse("admin:index")).content.decode()
    assert client.get(reverse("admin:django_rq_home_json")).status_code == 401


def test_an_admin_opens_the_rq_dashboard_from_the_admin(client, no_redis_needed):
    client.force_login(UserFactory(role=roles.ADMIN))
    assert reverse(RQ_DASHBOARD) in client.get(reverse("admin:index")).content.decode()
    assert client.get(reverse(RQ_DASHBOARD)).status_code == 200
    assert client.get(reverse("admin:django_rq_home_json")).status_code == 200


def test_a_superuser_opens_the_rq_dashboard(client, no_redis_needed):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert client.get(reverse(RQ_DASHBOARD)).status_code == 200


def test_an_operator_is_sent_to_log_in_to_the_rq_dashboard(client, no_redis_needed):
    client.force_login(UserFactory(role=roles.OPERATOR))
    response = client.get(reverse(RQ_DASHBOARD))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
