"""The possible duplicates page: every pair at or above a score, previewed (with the record a
merge would make), then linked or merged in one bulk action (a job, with its progress page)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from integration_console.sync.models import Flow
from integration_console.sync.services.merges import RULES

from . import bulk
from .duplicates import PAIRS_LOOKED_AT, duplicate_pairs
from .models import BulkAction
from .services import ACT_PERMISSION

view_permission = permission_required("review_queue.view_reviewitem", raise_exception=True)
act_permission = permission_required(ACT_PERMISSION, raise_exception=True)

# What the single merge page defaults each field to, as well.
DEFAULT_RULE = "owner"


class PairsForm(forms.Form):
    flow = forms.ModelChoiceField(
        queryset=Flow.objects.order_by("name"), required=False, empty_label="All flows"
    )
    min_score = forms.IntegerField(
        label="Best candidate scores at least (%)", min_value=50, max_value=100, initial=90
    )
    rule = forms.ChoiceField(
        label="A merge takes each field's", choices=list(RULES.items()), required=False
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs["class"] = (
                "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            )

    def clean_rule(self) -> str:
        # Links to the page from before it previewed merges carry no rule.
        return self.cleaned_data["rule"] or DEFAULT_RULE


@login_required
@view_permission
def duplicate_pairs_page(request: HttpRequest) -> HttpResponse:
    data = request.GET if "min_score" in request.GET else {"min_score": 90}
    form = PairsForm(data)
    pairs, looked_at = [], 0
    status = 200
    if form.is_valid():
        flow = form.cleaned_data["flow"]
        pairs, looked_at = duplicate_pairs(
            flow_id=flow.pk if flow else None,
            min_score=form.cleaned_data["min_score"] / 100,
            rule=form.cleaned_data["rule"],
        )
    else:
        status = 400
    linkable = [pair for pair in pairs if not pair.linked_from]
    rule = form.cleaned_data.get("rule") or DEFAULT_RULE
    return render(
        request,
        "review_queue/duplicate_pairs.html",
        {
            "form": form,
            "pairs": pairs,
            "linkable": linkable,
            "excluded": len(pairs) - len(linkable),
            "looked_at": looked_at,
            "bound": PAIRS_LOOKED_AT,
            "rule": rule,
            "rule_label": RULES[rule],
            "can_act": request.user.has_perm(ACT_PERMISSION),
        },
        status=status,
    )


@require_POST
@login_required
@act_permission
def duplicate_pairs_link(request: HttpRequest) -> HttpResponse:
    """Link the previewed pairs (their items' ids, as the page listed them); each is checked
    again when the job reaches it, and refused with its reason if it changed."""
    selection = _selection(request)
    if selection is None:
        return redirect("review_queue:duplicate_pairs")
    min_score, ids = selection
    return _start(
        request,
        BulkAction.Action.LINK_BEST,
        {"min_score": min_score / 100},
        ids,
        queued=f"link {len(set(ids))} pairs",
        noun="links",
    )


@require_POST
@login_required
@act_permission
def duplicate_pairs_merge(request: HttpRequest) -> HttpResponse:
    """Merge each previewed record into its best candidate, each field's value by the rule the
    preview showed; nothing is merged away. Each pair is checked again when the job reaches
    it, and refused with its reason if it changed."""
    rule = request.POST.get("rule", "")
    if rule not in RULES:
        messages.error(request, f"Nothing done: {rule!r} is no way to choose the merged values.")
        return redirect("review_queue:duplicate_pairs")
    selection = _selection(request)
    if selection is None:
        return redirect("review_queue:duplicate_pairs")
    min_score, ids = selection
    return _start(
        request,
        BulkAction.Action.MERGE_BEST,
        {"min_score": min_score / 100, "rule": rule},
        ids,
        queued=f"merge {len(set(ids))} pairs into their best candidates, taking {RULES[rule]}",
        noun="merges",
    )


def _selection(request: HttpRequest) -> tuple[int, list[int]] | None:
    """The score (%) and the items' ids the page sent; None, with the message said, when
    they are unreadable or empty."""
    try:
        min_score = int(request.POST.get("min_score", ""))
        ids = [int(pk) for pk in request.POST.getlist("items")]
    except ValueError:
        messages.error(request, "Nothing done: the page sent an unreadable selection.")
        return None
    if not ids or not 50 <= min_score <= 100:
        messages.error(request, "Nothing done: no pair was selected.")
        return None
    return min_score, ids


def _start(
    request: HttpRequest,
    action: str,
    parameters: dict,
    ids: list[int],
    *,
    queued: str,
    noun: str,
) -> HttpResponse:
    """Start the bulk action and go to its progress page; "Queued" is said only when it is."""
    try:
        started = bulk.bulk_action_start(
            user=request.user, action=action, parameters=parameters, item_ids=ids
        )
    except bulk.BulkActionNotQueued as exc:
        messages.error(request, f"The {noun} were NOT queued, and nothing was done: {exc}")
        return redirect("review_queue:bulk_action_detail", pk=exc.bulk_action_id)
    messages.success(request, f"Queued: {queued}. This page shows the progress.")
    return redirect("review_queue:bulk_action_detail", pk=started.pk)
