from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Integration Console administration"
admin.site.site_title = "Integration Console"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="ops:overview"), name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("sync/", include("integration_console.sync.urls")),
    path("queue/", include("review_queue.urls")),
    path("ops/", include("integration_console.ops.urls")),
    # The RQ dashboard comes with the admin, at /admin/django_rq/dashboard/, for admins only
    # (integration_console/web/admin.py): django-rq's own urls would let any staff user in.
    path("admin/", admin.site.urls),
]
