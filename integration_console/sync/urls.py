from django.urls import path
from django.views.generic import RedirectView

from . import matching_views, views

app_name = "sync"
urlpatterns = [
    # The overview moved to the ops app (the home page); old links still land there.
    path("", RedirectView.as_view(pattern_name="home", query_string=True), name="overview"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("flows/<int:flow_id>/run/", views.run_start, name="run_start"),
    path("flows/<int:flow_id>/matching/", matching_views.flow_matching, name="flow_matching"),
    path(
        "flows/<int:flow_id>/matching/thresholds/",
        matching_views.flow_matching_thresholds,
        name="flow_matching_thresholds",
    ),
    path(
        "flows/<int:flow_id>/matching/refresh/",
        matching_views.flow_matching_refresh,
        name="flow_matching_refresh",
    ),
    path("systems/<int:system_id>/browse/", views.system_browse, name="system_browse"),
    path("systems/<int:system_id>/test/", views.system_test, name="system_test"),
]
