"""The groups page: the items that need attention, grouped by cause, and the actions on a
whole group. Each view parses the request and calls one selector or service of groups.py."""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_POST

from integration_console.catalog.models import FieldMapVersion
from integration_console.sync.failures import FailureKind
from integration_console.sync.models import Flow

from . import groups
from .bulk import BulkActionNotQueued
from .forms import style_widgets
from .models import BulkAction
from .services import ACT_PERMISSION, people_who_may_act

VIEW_PERMISSION = "review_queue.view_reviewitem"
view_permission = permission_required(VIEW_PERMISSION, raise_exception=True)
act_permission = permission_required(ACT_PERMISSION, raise_exception=True)
fix_permission = permission_required(groups.FIX_RULE_PERMISSION, raise_exception=True)


# The group pages' own small forms: an item's forms carry the version of the item its page
# showed, and a group action takes the items as they are when it runs.
class GroupFilterForm(forms.Form):
    flow = forms.ModelChoiceField(
        queryset=Flow.objects.order_by("name"), required=False, empty_label="All flows"
    )
    kind = forms.ChoiceField(choices=[("", "All kinds"), *FailureKind.choices], required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_widgets(self.fields.values())


class GroupAssignForm(forms.Form):
    """Whom to give every item of the group to; unassigning them all is a choice of its own,
    never what an untouched select sends."""

    NOBODY = "nobody"
    assignee = forms.ChoiceField(label="Assign every item to")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.people = {str(person.pk): person for person in people_who_may_act()}
        self.fields["assignee"].choices = [
            ("", "Choose a person…"),
            *((pk, person.get_username()) for pk, person in self.people.items()),
            (self.NOBODY, "Nobody (unassign them)"),
        ]
        style_widgets(self.fields.values())

    def clean_assignee(self) -> Any:
        value = self.cleaned_data["assignee"]
        return None if value == self.NOBODY else self.people[value]


class GroupDismissForm(forms.Form):
    reason = forms.CharField(
        label="Reason for dismissing them all",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why these records should not be synced. Kept in each item's history.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_widgets(self.fields.values())


@login_required
@view_permission
def group_list(request: HttpRequest) -> HttpResponse:
    """The largest groups first, a page at a time (``after`` is the last group's position);
    filters the page cannot use are answered 400 with the reason, never ignored."""
    form = GroupFilterForm(request.GET)
    problems = [
        f"{form.fields[name].label or name.capitalize()}: {error}"
        for name, errors in form.errors.items()
        for error in errors
    ]
    after = None
    if request.GET.get("after"):
        try:
            after = groups.GroupCursor.parse(request.GET["after"])
        except ValueError as error:
            problems.append(f"Position (after): {error}.")
    page = None
    if not problems:
        page = groups.review_group_page(
            flow=form.cleaned_data["flow"],
            kind=form.cleaned_data["kind"],
            after=after,
            size=groups.GROUP_PAGE_SIZE,
        )
    context = {"filter_form": form, "page": page, "problems": problems, "after": after}
    return render(request, "review_queue/group_list.html", context, status=400 if problems else 200)


@login_required
@view_permission
def group_detail(request: HttpRequest, fingerprint: str) -> HttpResponse:
    return _render_detail(request, _group_or_404(fingerprint))


@require_POST
@login_required
@act_permission
def group_retry(request: HttpRequest, fingerprint: str) -> HttpResponse:
    return _start(request, fingerprint, BulkAction.Action.RETRY, {})


@require_POST
@login_required
@act_permission
def group_assign(request: HttpRequest, fingerprint: str) -> HttpResponse:
    form = GroupAssignForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, _group_or_404(fingerprint), assign_form=form)
    assignee = form.cleaned_data["assignee"]
    parameters = {"assignee_id": assignee.pk if assignee else None}
    return _start(request, fingerprint, BulkAction.Action.ASSIGN, parameters)


@require_POST
@login_required
@act_permission
def group_dismiss(request: HttpRequest, fingerprint: str) -> HttpResponse:
    form = GroupDismissForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, _group_or_404(fingerprint), dismiss_form=form)
    parameters = {"reason": form.cleaned_data["reason"]}
    return _start(request, fingerprint, BulkAction.Action.DISMISS, parameters)


@require_POST
@login_required
@view_permission
@fix_permission
def group_fix_rule(request: HttpRequest, fingerprint: str) -> HttpResponse:
    """Open the draft that fixes the group's rule in the admin, scrolled to the first failing
    rule, with a message naming each of them."""
    try:
        fix = groups.rule_fix_start(fingerprint=fingerprint, user=request.user)
    except groups.GroupActionRefused as exc:
        messages.error(request, str(exc))
        return redirect("review_queue:group_detail", fingerprint=fingerprint)
    rows = groups.rule_fix_draft_rules(fix)
    draft = fix.draft_version
    named = "; ".join(
        f"{rule.source_path or '(no source)'} → {rule.target_path}"
        + (f" [{rule.transform}]" if rule.transform else "")
        for _, rule in rows
    )
    items = f"{len(fix.item_ids)} item{pluralize(len(fix.item_ids))}"
    if draft.status == FieldMapVersion.Status.DRAFT:
        messages.info(
            request,
            f"{draft} is the draft that fixes this group. Correct the rule{pluralize(len(rows))} "
            f"{named}, save, and submit it: once someone else approves it, the group's {items} "
            "are retried.",
        )
    else:
        messages.info(
            request,
            f"{draft} fixes this group and is {draft.get_status_display().lower()}: once it "
            f"is approved, the group's {items} are retried.",
        )
    url = reverse("admin:catalog_fieldmapversion_change", args=[draft.pk])
    return redirect(f"{url}#rules-{rows[0][0]}" if rows else url)


def _group_or_404(fingerprint: str) -> groups.ReviewGroup:
    group = groups.review_group(fingerprint)
    if group is None:
        raise Http404("No such group.")
    return group


def _start(
    request: HttpRequest, fingerprint: str, action: str, parameters: dict[str, Any]
) -> HttpResponse:
    try:
        started = groups.review_group_act(
            fingerprint=fingerprint, user=request.user, action=action, parameters=parameters
        )
    except groups.GroupActionRefused as exc:
        messages.error(request, str(exc))
        return redirect("review_queue:group_detail", fingerprint=fingerprint)
    except BulkActionNotQueued as exc:
        messages.error(request, f"The group action was NOT queued, and nothing was done: {exc}")
        return redirect("review_queue:bulk_action_detail", pk=exc.bulk_action_id)
    verb = started.get_action_display().lower()
    messages.success(
        request,
        f"Queued: {verb} the group's {started.total} item{pluralize(started.total)}. "
        "This page shows its progress.",
    )
    return redirect("review_queue:bulk_action_detail", pk=started.pk)


def _render_detail(
    request: HttpRequest, group: groups.ReviewGroup, **bound_forms: forms.Form
) -> HttpResponse:
    """The group's page; a bound form with errors replaces its blank twin, answered 422."""
    context = {
        "group": group,
        "items": groups.review_group_items(group.fingerprint),
        "rules": groups.review_group_rules(group) if group.count else [],
        "rule_fixes": groups.review_group_rule_fixes(group.fingerprint),
        "assign_form": GroupAssignForm(),
        "dismiss_form": GroupDismissForm(),
        "can_act": request.user.has_perm(ACT_PERMISSION),
        "can_fix": request.user.has_perm(groups.FIX_RULE_PERMISSION),
        **bound_forms,
    }
    status = 422 if bound_forms else 200
    return render(request, "review_queue/group_detail.html", context, status=status)
