from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from connectors.base import Position
from integration_console.catalog.models import System

from . import browsing, connection_tests, selectors, services
from .models import AuditEntry, Flow, SyncRun

AUDIT_PAGE_SIZE = 100


@login_required
@permission_required("sync.view_syncrun", raise_exception=True)
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(SyncRun.objects.select_related("flow", "field_map_version"), pk=pk)
    entries = run.audit_entries.select_related("payload_version")
    outcome = request.GET.get("outcome", "")
    if outcome in AuditEntry.Outcome.values:
        entries = entries.filter(outcome=outcome)
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "run": run,
        "run_list": [run],
        "page": page,
        "outcome": outcome,
        "outcomes": AuditEntry.Outcome.choices,
        "chunks": selectors.run_chunks(run),
        "can_cancel": run.is_active and request.user.has_perm("sync.add_syncrun"),
    }
    return render(request, "sync/run_detail.html", context)


@require_POST
@login_required
@permission_required("sync.add_syncrun", raise_exception=True)
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(SyncRun, pk=pk)
    if services.sync_run_cancel(run=run, actor=f"user:{request.user.get_username()}"):
        messages.success(
            request,
            f"Run #{run.pk} cancelled: its chunks stop after the page they are on; what they "
            "wrote is recorded.",
        )
    else:
        messages.info(request, f"Run #{run.pk} had already ended: nothing to cancel.")
    return redirect("sync:run_detail", pk=run.pk)


@require_POST
@login_required
@permission_required("sync.add_syncrun", raise_exception=True)
def run_start(request: HttpRequest, flow_id: int) -> HttpResponse:
    flow = get_object_or_404(Flow, pk=flow_id)
    try:
        run = services.sync_run_start(flow=flow, triggered_by=f"user:{request.user.get_username()}")
    except services.RunNotQueued as exc:
        messages.error(request, f"{flow} could not be started: {exc} Nothing was run.")
        return redirect("sync:overview")
    messages.success(request, f"Run #{run.pk} of {flow} queued.")
    return redirect("sync:run_detail", pk=run.pk)


@login_required
@permission_required("catalog.view_system", raise_exception=True)
def system_browse(request: HttpRequest, system_id: int) -> HttpResponse:
    """A system's records, page by page, read through its connector: nothing is written."""
    system = get_object_or_404(System, pk=system_id)
    resources = browsing.system_resources(system)
    resource = request.GET.get("resource") or (resources[0] if resources else "")
    after = None
    if request.GET.get("after_id") and request.GET.get("after_updated_at"):
        after = Position(
            updated_at=request.GET["after_updated_at"], record_id=request.GET["after_id"]
        )
    page = (
        browsing.system_browse(system=system, resource=resource, after=after) if resource else None
    )
    context = {"system": system, "resources": resources, "resource": resource, "page": page}
    return render(request, "sync/system_browse.html", context)


@login_required
@permission_required("catalog.change_system", raise_exception=True)
def system_test(request: HttpRequest, system_id: int) -> HttpResponse:
    """Test a system's connection: one page of a resource, read with its saved settings."""
    system = get_object_or_404(System, pk=system_id)
    resources = browsing.system_resources(system)
    resource = request.GET.get("resource", "").strip() or (resources[0] if resources else "")
    probe = None
    if resource and request.GET.get("run"):
        probe = connection_tests.system_test_connection(system=system, resource=resource)
    context = {"system": system, "resources": resources, "resource": resource, "probe": probe}
    return render(request, "sync/system_test.html", context)
