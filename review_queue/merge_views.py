"""Merging a possible duplicate: the merge page (choose the survivor and each field's value,
preview the merged record, apply) and a merge's own page (its progress, its undo)."""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from integration_console.sync.models import Merge
from integration_console.sync.redaction import mask_payload, sensitive_fields
from integration_console.sync.services.merges import (
    RULES,
    SOURCE,
    MergeRefused,
    merge_abilities,
    merge_resume,
    merge_undo_request,
    merged_values,
)

from . import selectors, services
from .forms import style_widgets
from .models import ReviewItem
from .services import ACT_PERMISSION

view_permission = permission_required("review_queue.view_reviewitem", raise_exception=True)
act_permission = permission_required(ACT_PERMISSION, raise_exception=True)


class UndoMergeForm(forms.Form):
    reason = forms.CharField(
        label="Why undo it",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept with the merge and in the item's history.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_widgets(self.fields.values())


@require_http_methods(["GET", "POST"])
@login_required
@act_permission
def item_merge(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the plan, with each field's default choice by the chosen rule. POST with
    ``preview``: the merged record as chosen; POST with ``apply``: queue the merge."""
    item = get_object_or_404(selectors.review_item_list(), pk=pk)
    candidates = [c for c in item.candidates if isinstance(c, dict)]
    ids = [str(c.get("target_id")) for c in candidates]
    if item.kind != "possible_duplicate" or not ids:
        raise Http404("Only a possible duplicate with candidates can be merged.")
    data = request.POST if request.method == "POST" else request.GET
    survivor = data.get("survivor") if data.get("survivor") in ids else ids[0]
    merged_away = [i for i in data.getlist("merge_away") if i in ids and i != survivor]
    rule = data.get("rule") if data.get("rule") in RULES else "owner"
    sides, defaults = services.review_item_merge_plan(
        item, survivor=survivor, rule=rule, merged_ids=merged_away
    )
    keys = {side.key for side in sides}
    choices = {
        name: data.get(f"field_{name}") if data.get(f"field_{name}") in keys else default
        for name, default in defaults.items()
    }
    if request.method == "POST" and "apply" in request.POST:
        try:
            merge = services.review_item_merge(
                item=item,
                user=request.user,
                survivor_id=survivor,
                merged_ids=merged_away,
                choices=choices,
                expected_version=_version(request),
            )
        except services.ItemChanged:
            messages.error(
                request,
                "The item changed since you opened it (someone else acted on it): look again "
                "before merging.",
            )
            return redirect("review_queue:item_detail", pk=item.pk)
        except services.ActionNotAllowed as exc:
            messages.error(request, str(exc))
            return redirect("review_queue:item_detail", pk=item.pk)
        messages.success(request, f"Merge into {survivor} queued.")
        return redirect("review_queue:merge_detail", pk=merge.pk)
    labels = item.flow.data_class.field_labels
    rows = [
        {
            "field": name,
            "label": labels[name],
            "cells": [
                {
                    "key": side.key,
                    "value": side.values.get(name),
                    "chosen": choices[name] == side.key,
                }
                for side in sides
            ],
            "differs": len({_shown(side.values.get(name)) for side in sides}) > 1,
        }
        for name in defaults
    ]
    preview = None
    if request.method == "POST":
        merged = merged_values(choices, sides)
        preview = [
            {"label": row["label"], "value": merged.get(row["field"]), "field": row["field"]}
            for row in rows
        ]
    context = {
        "item": item,
        "ids": ids,
        "survivor": survivor,
        "merged_away": merged_away,
        "rule": rule,
        "rules": RULES,
        "sides": sides,
        "rows": rows,
        "preview": preview,
        "abilities": merge_abilities(item.flow),
    }
    return render(request, "review_queue/item_merge.html", context)


@login_required
@view_permission
def merge_detail(request: HttpRequest, pk: int) -> HttpResponse:
    merge = get_object_or_404(Merge.objects.select_related("flow"), pk=pk)
    item = (
        ReviewItem.objects.filter(flow=merge.flow, source_id=merge.source_id)
        .order_by("-pk")
        .first()
    )
    labels = merge.flow.data_class.field_labels
    # The row keeps real values (an undo writes them back); the page shows sensitive ones masked.
    hidden = sensitive_fields(merge.flow.data_class.fields)
    before = mask_payload(merge.survivor_before or {}, hidden)
    merged = mask_payload(merge.values, hidden)
    values = [
        {
            "label": labels.get(name, name),
            "before": before.get(name),
            "merged": merged.get(name),
            "source": _side_label(merge, merge.choices.get(name, "")),
            "changed": (merge.survivor_before or {}).get(name) != value,
        }
        for name, value in merge.values.items()
    ]
    return render(
        request,
        "review_queue/merge_detail.html",
        {
            "merge": merge,
            "item": item,
            "steps": [_step_label(merge, step) for step in merge.steps],
            "values": values,
            "undo_form": UndoMergeForm(),
            "abilities": merge_abilities(merge.flow),
            "can_act": request.user.has_perm(ACT_PERMISSION),
            "working": merge.is_working,
        },
    )


@require_POST
@login_required
@act_permission
def merge_undo(request: HttpRequest, pk: int) -> HttpResponse:
    merge = get_object_or_404(Merge, pk=pk)
    form = UndoMergeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the merge is undone.")
        return redirect("review_queue:merge_detail", pk=merge.pk)
    try:
        merge_undo_request(
            merge=merge, actor=services.actor_for(request.user), reason=form.cleaned_data["reason"]
        )
    except MergeRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Undo queued.")
    return redirect("review_queue:merge_detail", pk=merge.pk)


@require_POST
@login_required
@act_permission
def merge_resume_view(request: HttpRequest, pk: int) -> HttpResponse:
    merge = get_object_or_404(Merge, pk=pk)
    try:
        merge_resume(merge=merge)
    except MergeRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Resume queued: the steps already done are not repeated.")
    return redirect("review_queue:merge_detail", pk=merge.pk)


def _shown(value: Any) -> str:
    return "" if value is None else str(value).strip().casefold()


def _side_label(merge: Merge, key: str) -> str:
    if key == SOURCE:
        return f"{merge.source_id} ({merge.flow.source_system})"
    return f"{key} ({merge.flow.target_system})"


def _step_label(merge: Merge, step: str) -> str:
    target = merge.flow.target_system
    action, _, target_id = step.partition(":")
    return {
        "read": f"Read {merge.source_id} from {merge.flow.source_system} and the records "
        f"from {target}",
        "remove": f"{target_id} {merge.removal or 'left in place'}d in {target}"
        if merge.removal
        else f"{target_id} left in place",
        "update": f"{merge.survivor_id} updated in {target}",
        "link": f"{merge.source_id} linked to {merge.survivor_id}; audit entry written",
    }.get(action, step)


def _version(request: HttpRequest) -> int | None:
    try:
        return int(request.POST.get("item_version", ""))
    except ValueError:
        return None
