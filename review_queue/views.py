from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from integration_console.sync.dispatch import JobNotQueued

from . import bulk, compare, saved_views, selectors, services, timeline
from .filters import ReviewItemFilter
from .forms import (
    AssignForm,
    BulkActionForm,
    CommentForm,
    CreateAnywayForm,
    DismissForm,
    ItemVersionForm,
    LinkForm,
    PayloadFixForm,
    ReopenForm,
    SaveViewForm,
)
from .models import BulkAction, ReviewItem

PAGE_SIZE = 50
TIMELINE_PAGE_SIZE = 20  # entries of an item's timeline (history, audit entries, comments)

view_permission = permission_required("review_queue.view_reviewitem", raise_exception=True)
act_permission = permission_required("review_queue.change_reviewitem", raise_exception=True)


@login_required
@view_permission
def item_list(request: HttpRequest) -> HttpResponse:
    """Paged by keyset (``after``/``before`` carry a row's (last_seen, id)); no total is
    counted. A filter value or position the list cannot use is answered 400 with the reason,
    never ignored."""
    filterset = _filtered(request, request.GET)
    problems = [
        f"{filterset.form.fields[name].label or name}: {error}" if name != "__all__" else error
        for name, errors in filterset.errors.items()
        for error in errors
    ]
    cursors = {}
    for name in ("after", "before"):
        if request.GET.get(name):
            try:
                cursors[name] = selectors.ItemCursor.parse(request.GET[name])
            except ValueError as error:
                problems.append(f"Position ({name}): {error}.")
    page = None
    if not problems:
        page = selectors.review_item_page(filterset.qs, size=PAGE_SIZE, **cursors)
    query = request.GET.copy()
    for name in ("after", "before"):
        query.pop(name, None)
    bulk_form = BulkActionForm(initial={"filter_query": query.urlencode()})
    context = {"filter": filterset, "page": page, "bulk_form": bulk_form, "problems": problems}
    context["views"] = saved_views.queue_view_links(user=request.user, query=query)
    context["save_view_form"] = SaveViewForm(initial={"filter_query": query.urlencode()})
    return render(request, "review_queue/item_list.html", context, status=400 if problems else 200)


@require_http_methods(["GET", "POST"])
@login_required
@act_permission
def bulk_action(request: HttpRequest) -> HttpResponse:
    """GET: the user's recent bulk actions (staff: everyone's). POST: start one on the ticked
    items or on all that match the list's filters; it runs as a job, and the answer is its
    progress page."""
    if request.method == "GET":
        context = {"bulk_actions": bulk.bulk_actions_recent(request.user)}
        return render(request, "review_queue/bulk_action_list.html", context)
    form = BulkActionForm(request.POST)
    query = QueryDict(request.POST.get("filter_query", ""))
    back = f"{reverse('review_queue:item_list')}?{query.urlencode()}"
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    data = form.cleaned_data
    action = data["action"]
    try:
        started = bulk.bulk_action_start(
            user=request.user,
            action=action,
            parameters={"reason": data["reason"]} if action == "dismiss" else {},
            item_ids=None if data["all_matching"] else [item.pk for item in data["items"]],
            filter_query=query.urlencode(),
        )
    except bulk.BulkSelectionInvalid as exc:
        for problem in exc.problems:
            messages.error(request, f"Nothing done: {problem}")
        return redirect(back)
    except bulk.BulkActionNotQueued as exc:
        messages.error(request, f"The bulk action was NOT queued, and nothing was done: {exc}")
        return redirect("review_queue:bulk_action_detail", pk=exc.bulk_action_id)
    what = "all items matching the filters" if started.all_matching else _items(started.total)
    verb = started.get_action_display().lower()
    messages.success(request, f"Queued: {verb} {what}. This page shows its progress.")
    return redirect("review_queue:bulk_action_detail", pk=started.pk)


def _items(count: int | None) -> str:
    return f"{count} item{pluralize(count or 0)}"


@login_required
@act_permission
def bulk_action_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The action's progress: counts, refusals; refreshes itself while the action runs."""
    found = get_object_or_404(bulk.bulk_actions_visible_to(request.user), pk=pk)
    merges = bulk.bulk_action_merges(found)
    return render(
        request,
        "review_queue/bulk_action_detail.html",
        {
            "bulk_action": found,
            "stalled": bulk.bulk_action_is_stalled(found),
            "merges": merges,
            # The merges go on after the action that queued them has ended.
            "merges_under_way": any(merge.is_working for merge in merges),
        },
    )


@require_POST
@login_required
@act_permission
def bulk_action_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    found = get_object_or_404(bulk.bulk_actions_visible_to(request.user), pk=pk)
    cancelled = bulk.bulk_action_cancel(bulk_action=found, user=request.user)
    if cancelled.status == BulkAction.Status.CANCELLING:
        messages.success(request, "Cancelling: the job stops before its next batch.")
    elif cancelled.status == BulkAction.Status.CANCELLED:
        messages.success(request, "Cancelled.")
    else:
        messages.info(request, "The action had already finished: nothing to cancel.")
    return redirect("review_queue:bulk_action_detail", pk=pk)


@require_POST
@login_required
@act_permission
def bulk_action_resume(request: HttpRequest, pk: int) -> HttpResponse:
    found = get_object_or_404(bulk.bulk_actions_visible_to(request.user), pk=pk)
    try:
        resumed = bulk.bulk_action_resume(bulk_action=found)
    except bulk.BulkActionNotQueued as exc:
        messages.error(request, f"Not resumed: the job was NOT queued: {exc}")
    else:
        if resumed:
            messages.success(request, "Resume queued: it goes on after the last recorded batch.")
        else:
            messages.info(request, "The action is not stalled: nothing to resume.")
    return redirect("review_queue:bulk_action_detail", pk=pk)


def _filtered(request: HttpRequest, params: QueryDict) -> ReviewItemFilter:
    data = params.copy()
    data.setdefault("status", ReviewItemFilter.ACTIVE)
    return ReviewItemFilter(data, queryset=selectors.review_item_list(), request=request)


@login_required
@view_permission
def item_detail(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(selectors.review_item_list(), pk=pk)
    return _render_detail(request, item)


@require_POST
@login_required
@act_permission
def item_retry(request: HttpRequest, pk: int) -> HttpResponse:
    return _form_action(
        request,
        pk,
        ItemVersionForm,
        "version_form",
        "Retry queued.",
        lambda item, data: services.review_item_retry(
            item=item, user=request.user, expected_version=data["item_version"]
        ),
    )


@require_POST
@login_required
@act_permission
def item_fix(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(selectors.review_item_list(), pk=pk)
    form = _fix_form(item, request.POST)
    if not form.is_valid():
        return _render_detail(request, item, fix_form=form)
    done = "Corrected payload saved; retry queued."
    if form.sensitive_left_empty:
        done += f" Sent as the source has them now: {', '.join(form.sensitive_left_empty)}."
    return _act(
        request,
        item,
        lambda: services.review_item_retry(
            item=item,
            user=request.user,
            payload=form.payload(),
            expected_version=form.cleaned_data["item_version"],
        ),
        done,
        fix_form=form,
    )


@require_POST
@login_required
@act_permission
def item_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    return _form_action(
        request,
        pk,
        DismissForm,
        "dismiss_form",
        "Item dismissed.",
        lambda item, data: services.review_item_dismiss(
            item=item,
            user=request.user,
            reason=data["reason"],
            expected_version=data["item_version"],
        ),
    )


@require_POST
@login_required
@act_permission
def item_assign(request: HttpRequest, pk: int) -> HttpResponse:
    return _form_action(
        request,
        pk,
        AssignForm,
        "assign_form",
        "Assignment saved.",
        lambda item, data: services.review_item_assign(
            item=item,
            user=request.user,
            assignee=data["assignee"],
            expected_version=data["item_version"],
        ),
    )


@require_POST
@login_required
@act_permission
def item_take(request: HttpRequest, pk: int) -> HttpResponse:
    return _form_action(
        request,
        pk,
        ItemVersionForm,
        "version_form",
        "The item is yours.",
        lambda item, data: services.review_item_take(
            item=item, user=request.user, expected_version=data["item_version"]
        ),
    )


@require_POST
@login_required
@act_permission
def item_reopen(request: HttpRequest, pk: int) -> HttpResponse:
    return _form_action(
        request,
        pk,
        ReopenForm,
        "reopen_form",
        "Item reopened.",
        lambda item, data: services.review_item_reopen(
            item=item,
            user=request.user,
            reason=data["reason"],
            expected_version=data["item_version"],
        ),
    )


@require_POST
@login_required
@act_permission
def item_comment(request: HttpRequest, pk: int) -> HttpResponse:
    return _form_action(
        request,
        pk,
        CommentForm,
        "comment_form",
        "Comment added.",
        lambda item, data: services.review_item_comment(
            item=item, user=request.user, body=data["body"]
        ),
    )


@require_POST
@login_required
@act_permission
def item_link(request: HttpRequest, pk: int) -> HttpResponse:
    return _form_action(
        request,
        pk,
        LinkForm,
        "link_form",
        "Linked; the item is resolved.",
        lambda item, data: services.review_item_link(
            item=item,
            user=request.user,
            target_id=data["target_id"],
            expected_version=data["item_version"],
        ),
    )


@require_POST
@login_required
@act_permission
def item_create_anyway(request: HttpRequest, pk: int) -> HttpResponse:
    return _form_action(
        request,
        pk,
        CreateAnywayForm,
        "create_anyway_form",
        "Remembered as not a duplicate; retry queued to create it.",
        lambda item, data: services.review_item_create_anyway(
            item=item,
            user=request.user,
            reason=data["reason"],
            expected_version=data["item_version"],
        ),
    )


def _form_action(
    request: HttpRequest,
    pk: int,
    form_class: type[forms.Form],
    form_name: str,
    success_message: str,
    perform: Callable[[ReviewItem, dict[str, Any]], Any],
) -> HttpResponse:
    """An action that takes a small form (at least the item's version the operator saw):
    invalid, the page comes back with its errors."""
    item = get_object_or_404(selectors.review_item_list(), pk=pk)
    form = form_class(request.POST)
    if not form.is_valid():
        return _render_detail(request, item, **{form_name: form})
    return _act(
        request,
        item,
        lambda: perform(item, form.cleaned_data),
        success_message,
        **{form_name: form},
    )


def _act(
    request: HttpRequest,
    item: ReviewItem,
    action: Callable[[], Any],
    success_message: str,
    **sent_forms: forms.Form,
) -> HttpResponse:
    """Done or refused, back to the item's page. Refused because the item changed since the
    operator opened it, the page comes back at once (409), as the item is now, with what
    changed and the operator's entries still in their forms: nothing they typed is lost."""
    try:
        action()
    except services.ItemChanged as changed:
        item = get_object_or_404(selectors.review_item_list(), pk=item.pk)
        return _render_detail(request, item, changed=changed.changes, status=409, **sent_forms)
    except (services.ActionNotAllowed, JobNotQueued) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, success_message)
    return redirect("review_queue:item_detail", pk=item.pk)


def _render_detail(
    request: HttpRequest,
    item: ReviewItem,
    *,
    changed: list[timeline.ItemChange] | None = None,
    status: int | None = None,
    **bound_forms: Any,
) -> HttpResponse:
    """The detail page; a bound form is shown in place of its blank twin (with its errors,
    and then the answer is 422). Every form on it carries the item's version shown. A form
    sent from an older version of the item also says what changed since (``changed``)."""
    sent = [form for form in bound_forms.values() if form.is_bound]
    stale_page = any(form.has_error("item_version") for form in sent)
    if changed is None:
        seen = {
            form.cleaned_data.get("item_version")
            for form in sent
            if not form.has_error("item_version")
        }
        seen.discard(None)
        if seen and seen != {item.version}:
            changed = timeline.review_item_changes_since(item, min(seen))
    problems = []
    cursors = {}
    for name in ("after", "before"):
        if request.GET.get(name):
            try:
                cursors[name] = timeline.TimelineCursor.parse(request.GET[name])
            except ValueError as error:
                problems.append(f"Timeline position ({name}): {error}. Showing the newest.")
                cursors = {}
                break
    forms = {
        "fix_form": _fix_form(item),
        "dismiss_form": DismissForm(),
        "reopen_form": ReopenForm(),
        "comment_form": CommentForm(),
        "link_form": LinkForm(initial={"target_id": item.existing_target_id}),
        "create_anyway_form": CreateAnywayForm(),
        "assign_form": AssignForm(initial={"assignee": item.assignee_id}),
        **bound_forms,
    }
    shown = selectors.review_item_shown(item)
    context = {
        "item": item,
        **forms,
        "payload": shown.payload,
        "source_snapshot": shown.source_snapshot,
        "sensitive": shown.sensitive,
        "timeline": timeline.review_item_timeline(item, size=TIMELINE_PAGE_SIZE, **cursors),
        "timeline_problems": problems,
        "changed": changed,
        "stale_page": stale_page,
        "record_link": selectors.review_item_record_link(item),
        "corrections": selectors.review_item_corrections(item),
        "comparison": compare.candidate_comparison(item, shown.payload),
        "merge": selectors.review_item_latest_merge(item),
        "can_act": request.user.has_perm("review_queue.change_reviewitem"),
    }
    if status is None:
        status = 422 if sent else 400 if problems else 200
    return render(request, "review_queue/item_detail.html", context, status=status)


def _fix_form(item: ReviewItem, data: QueryDict | None = None) -> PayloadFixForm:
    """Prefilled with what is known (the stored payload, when the record got that far), and
    the item's field errors beside the fields; bound or not, the stored payload tells the form
    which fields it holds masked."""
    return PayloadFixForm(
        data,
        initial=item.payload or {},
        schema_fields=item.flow.data_class.fields,
        item_errors=item.field_errors,
    )
