"""Admin pieces every app uses, and the admin's RQ dashboard, for admins only."""

from collections.abc import Callable
from functools import wraps

from django.contrib import admin
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern
from django_rq.admin import QueueAdmin
from django_rq.models import Dashboard
from django_rq.urls import get_api_urlpatterns

# django-rq's own permission ("Access admin page"); the admin role holds it, superusers too.
RQ_DASHBOARD_PERMISSION = "django_rq.admin"


class ReadOnlyAdminMixin:
    """Rows written only by services: visible to those allowed, editable by nobody here."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class RQDashboardAdmin(QueueAdmin):
    """django-rq's dashboard at /admin/django_rq/dashboard/, for admins only.

    django-rq's views check no more than ``is_staff``, and business owners are staff (they edit
    field maps in the admin): every URL the dashboard adds is gated here on
    RQ_DASHBOARD_PERMISSION, so views django-rq adds later are closed too."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RQ_DASHBOARD_PERMISSION)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_perm(RQ_DASHBOARD_PERMISSION)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_perm(RQ_DASHBOARD_PERMISSION)

    def get_urls(self) -> list[URLPattern]:
        token_views = {p.name for p in get_api_urlpatterns(name_prefix="django_rq_")}
        return [_admins_only(p, token_view=p.name in token_views) for p in super().get_urls()]


def _admins_only(pattern: URLPattern, *, token_view: bool) -> URLPattern:
    view: Callable[..., HttpResponse] = pattern.callback

    @wraps(view)
    def gated(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        # Anyone else who is not staff is sent to log in by the admin, as before.
        if request.user.is_staff and not request.user.has_perm(RQ_DASHBOARD_PERMISSION):
            if not token_view:
                raise PermissionDenied
            # stats.json and metrics also open to staff: to them, only an API token now does.
            request.user = AnonymousUser()
        return view(request, *args, **kwargs)

    return URLPattern(pattern.pattern, gated, pattern.default_args, pattern.name)


# django_rq.admin (imported above) registers the dashboard with its staff-only admin.
if admin.site.is_registered(Dashboard):
    admin.site.unregister(Dashboard)
admin.site.register(Dashboard, RQDashboardAdmin)
