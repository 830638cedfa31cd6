from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from . import selectors, services
from .filters import ReviewItemFilter
from .forms import DismissForm, PayloadFixForm
from .models import ReviewItem

PAGE_SIZE = 50


@login_required
@permission_required("review_queue.view_reviewitem", raise_exception=True)
def item_list(request: HttpRequest) -> HttpResponse:
    data = request.GET.copy()
    data.setdefault("status", ReviewItemFilter.ACTIVE)
    filterset = ReviewItemFilter(data, queryset=selectors.review_item_list())
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "review_queue/item_list.html", {"filter": filterset, "page": page})


@login_required
@permission_required("review_queue.view_reviewitem", raise_exception=True)
def item_detail(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(selectors.review_item_list(), pk=pk)
    fix_form = PayloadFixForm(initial=item.payload or {}, schema_fields=item.flow.data_class.fields)
    return _render_detail(request, item, fix_form=fix_form)


@require_POST
@login_required
@permission_required("review_queue.change_reviewitem", raise_exception=True)
def item_retry(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(ReviewItem, pk=pk)
    return _act(
        request,
        item,
        lambda: services.review_item_retry(item=item, user=request.user),
        "Retry queued.",
    )


@require_POST
@login_required
@permission_required("review_queue.change_reviewitem", raise_exception=True)
def item_fix(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(selectors.review_item_list(), pk=pk)
    form = PayloadFixForm(request.POST, schema_fields=item.flow.data_class.fields)
    if not form.is_valid():
        return _render_detail(request, item, fix_form=form, status=422)
    return _act(
        request,
        item,
        lambda: services.review_item_retry(item=item, user=request.user, payload=form.payload()),
        "Corrected payload saved; retry queued.",
    )


@require_POST
@login_required
@permission_required("review_queue.change_reviewitem", raise_exception=True)
def item_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(selectors.review_item_list(), pk=pk)
    form = DismissForm(request.POST)
    if not form.is_valid():
        fix_form = PayloadFixForm(
            initial=item.payload or {}, schema_fields=item.flow.data_class.fields
        )
        return _render_detail(request, item, fix_form=fix_form, dismiss_form=form, status=422)
    reason = form.cleaned_data["reason"]
    return _act(
        request,
        item,
        lambda: services.review_item_dismiss(item=item, user=request.user, reason=reason),
        "Item dismissed.",
    )


def _act(request: HttpRequest, item: ReviewItem, action, success_message: str) -> HttpResponse:
    try:
        action()
    except services.ActionNotAllowed as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, success_message)
    return redirect("review_queue:item_detail", pk=item.pk)


def _render_detail(request, item, *, fix_form, dismiss_form=None, status=200) -> HttpResponse:
    context = {
        "item": item,
        "fix_form": fix_form,
        "dismiss_form": dismiss_form or DismissForm(),
        "events": item.events.all(),
        "audit_entries": selectors.review_item_audit_entries(item),
        "record_link": selectors.review_item_record_link(item),
        "can_act": request.user.has_perm("review_queue.change_reviewitem"),
    }
    return render(request, "review_queue/item_detail.html", context, status=status)
