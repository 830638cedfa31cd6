from django.urls import path

from . import export_views, group_views, merge_views, saved_view_views, views

app_name = "review_queue"
urlpatterns = [
    path("", views.item_list, name="item_list"),
    path("bulk/", views.bulk_action, name="bulk_action"),
    path("bulk/<int:pk>/", views.bulk_action_detail, name="bulk_action_detail"),
    path("bulk/<int:pk>/cancel/", views.bulk_action_cancel, name="bulk_action_cancel"),
    path("bulk/<int:pk>/resume/", views.bulk_action_resume, name="bulk_action_resume"),
    path("exports/", export_views.export_start, name="export_start"),
    path("exports/<int:pk>/", export_views.export_detail, name="export_detail"),
    path("exports/<int:pk>/download/", export_views.export_download, name="export_download"),
    path("views/", saved_view_views.saved_view_create, name="saved_view_create"),
    path("views/<int:pk>/delete/", saved_view_views.saved_view_delete, name="saved_view_delete"),
    path("groups/", group_views.group_list, name="group_list"),
    path("groups/<slug:fingerprint>/", group_views.group_detail, name="group_detail"),
    path("groups/<slug:fingerprint>/retry/", group_views.group_retry, name="group_retry"),
    path("groups/<slug:fingerprint>/assign/", group_views.group_assign, name="group_assign"),
    path("groups/<slug:fingerprint>/dismiss/", group_views.group_dismiss, name="group_dismiss"),
    path("groups/<slug:fingerprint>/fix-rule/", group_views.group_fix_rule, name="group_fix_rule"),
    path("<int:pk>/", views.item_detail, name="item_detail"),
    path("<int:pk>/retry/", views.item_retry, name="item_retry"),
    path("<int:pk>/fix/", views.item_fix, name="item_fix"),
    path("<int:pk>/dismiss/", views.item_dismiss, name="item_dismiss"),
    path("<int:pk>/take/", views.item_take, name="item_take"),
    path("<int:pk>/assign/", views.item_assign, name="item_assign"),
    path("<int:pk>/reopen/", views.item_reopen, name="item_reopen"),
    path("<int:pk>/comment/", views.item_comment, name="item_comment"),
    path("<int:pk>/link/", views.item_link, name="item_link"),
    path("<int:pk>/create-anyway/", views.item_create_anyway, name="item_create_anyway"),
    path("<int:pk>/merge/", merge_views.item_merge, name="item_merge"),
    path("merges/<int:pk>/", merge_views.merge_detail, name="merge_detail"),
    path("merges/<int:pk>/undo/", merge_views.merge_undo, name="merge_undo"),
    path("merges/<int:pk>/resume/", merge_views.merge_resume_view, name="merge_resume"),
]
