"""The queue's CSV export: start it from the list, follow its progress, download the file."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from . import exports

view_permission = permission_required(exports.VIEW_PERMISSION, raise_exception=True)


@require_POST
@login_required
@view_permission
def export_start(request: HttpRequest) -> HttpResponse:
    """Record an export of what the list's filters (``filter_query``) select; a job writes the
    file, and the answer is the export's progress page."""
    query = QueryDict(mutable=True)
    for name, values in QueryDict(request.POST.get("filter_query", "")).lists():
        # Empty fields of the filter form filter nothing: the export's page shows the rest.
        query.setlist(name, [value for value in values if value])
    try:
        export = exports.queue_export_start(user=request.user, filter_query=query.urlencode())
    except exports.ExportFiltersInvalid as exc:
        for problem in exc.problems:
            messages.error(request, f"Nothing exported: {problem}")
        return redirect(f"{reverse('review_queue:item_list')}?{query.urlencode()}")
    except exports.ExportNotQueued as exc:
        messages.error(request, f"The export was NOT queued, and no file will be written: {exc}")
        return redirect("review_queue:export_detail", pk=exc.export_id)
    messages.success(request, "Export queued: this page shows its progress.")
    return redirect("review_queue:export_detail", pk=export.pk)


@login_required
@view_permission
def export_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The export's progress; refreshes itself while it runs, then offers the file."""
    export = get_object_or_404(exports.queue_exports_visible_to(request.user), pk=pk)
    context = {"export": export, "file_ready": exports.queue_export_file(export) is not None}
    return render(request, "review_queue/export_detail.html", context)


@login_required
@view_permission
def export_download(request: HttpRequest, pk: int) -> FileResponse:
    """The export's file, streamed from disk in chunks."""
    export = get_object_or_404(exports.queue_exports_visible_to(request.user), pk=pk)
    path = exports.queue_export_file(export)
    if path is None:
        raise Http404("This export has no file (not finished, failed, or deleted after a day).")
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=export.download_name,
        content_type="text/csv; charset=utf-8",
    )
