"""A flow's matching page: its data class's match spec as people read it, the index of the
target's records that matching looks candidates up in, and the two thresholds with a preview of
what they would have decided for the flow's recent matching decisions (match_preview.py). The
views only parse, call one function there and render."""

from dataclasses import replace
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from integration_console.matching.spec import (
    BLOCKING_ROLES,
    FIELD_BLOCKING_PREFIX,
    MatchSpec,
    MatchSpecError,
)

from .dispatch import JobNotQueued, jobs_run_in_process
from .match_preview import (
    AUTO_LINK,
    BLOCKING_LABELS,
    LEGEND,
    METHOD_LABELS,
    NEW,
    REVIEW,
    VERDICT_COLOURS,
    VERDICT_LABELS,
    MatchingPreview,
    ThresholdsNotSaved,
    match_index_refresh_queue,
    match_index_summary,
    match_thresholds_save,
    matching_preview,
    spec_problems,
)
from .models import Flow
from .services.matching import MatchingOff

# --- the page ---------------------------------------------------------------------------------


# Text, not a number input: what was typed reaches the server and its message, whatever it is.
THRESHOLD_INPUT = forms.TextInput(
    attrs={"inputmode": "decimal", "class": "form-control", "autocomplete": "off"}
)


class ThresholdsForm(forms.Form):
    """Two thresholds, each from 0 to 1, review below auto-link: checked by MatchSpec itself
    (the spec they would go into), so the page refuses what saving would refuse."""

    auto_link = forms.FloatField(
        label="Auto-link at",
        min_value=0,
        max_value=1,
        widget=THRESHOLD_INPUT,
        help_text="One candidate scoring this or more (and no other from the review threshold "
        "up) is linked without asking anyone.",
    )
    review = forms.FloatField(
        label="Review from",
        min_value=0,
        max_value=1,
        widget=THRESHOLD_INPUT,
        help_text="A best candidate scoring this or more goes to a person; below, the record "
        "is created as new.",
    )

    def __init__(self, *args: Any, spec: MatchSpec, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spec = spec

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "auto_link" in cleaned and "review" in cleaned:
            try:
                replace(self.spec, auto_link=cleaned["auto_link"], review=cleaned["review"])
            except MatchSpecError as exc:
                raise ValidationError(exc.problems) from exc
        return cleaned

    @property
    def problems(self) -> list[str]:
        """Every error, each with the threshold it is about."""
        found = []
        for name, errors in self.errors.items():
            label = self.fields[name].label if name in self.fields else ""
            found += [f"{label}: {error}" if label else error for error in errors]
        return found


view_permission = permission_required("sync.view_flow", raise_exception=True)


@login_required
@view_permission
def flow_matching(request: HttpRequest, flow_id: int) -> HttpResponse:
    """The flow's match spec, its index, and the thresholds tried in the GET form (the current
    ones when none are given) against its recent decisions."""
    flow = get_object_or_404(
        Flow.objects.select_related("data_class", "target_system", "source_system"), pk=flow_id
    )
    data_class = flow.data_class
    spec = data_class.match_spec
    context: dict[str, Any] = {
        "flow": flow,
        "data_class": data_class,
        "spec": spec,
        "problems": spec_problems(data_class),
        "index": match_index_summary(flow=flow),
        "in_process_jobs": jobs_run_in_process(),
        "can_refresh": request.user.has_perm("sync.add_syncrun"),
        "can_save": request.user.has_perm("catalog.change_dataclass"),
    }
    if spec is not None:
        form = _thresholds_form(request, spec)
        tried = form.cleaned_data if form.is_bound and form.is_valid() else None
        preview = matching_preview(flow=flow, spec=spec, **(tried or {}))
        context |= {
            "spec_rows": spec_rows(spec),
            "form": form,
            "tried": tried,
            "changed": tried is not None
            and (tried["auto_link"], tried["review"]) != (spec.auto_link, spec.review),
            "preview": preview,
            "outcome_rows": _outcome_rows(preview),
            "histogram": _histogram_rows(preview),
            "legend": LEGEND,
            "flows_of_class": data_class.flows.count(),
        }
    return render(request, "sync/flow_matching.html", context)


@require_POST
@login_required
@permission_required("catalog.change_dataclass", raise_exception=True)
def flow_matching_thresholds(request: HttpRequest, flow_id: int) -> HttpResponse:
    """Use the thresholds tried: saved into the flow's data class's match spec."""
    flow = get_object_or_404(Flow.objects.select_related("data_class"), pk=flow_id)
    page = reverse("sync:flow_matching", args=[flow.pk])
    spec = flow.data_class.match_spec
    if spec is None:
        messages.error(request, f"Thresholds not saved: {flow.data_class} has no matching.")
        return redirect(page)
    form = ThresholdsForm(request.POST, spec=spec)
    if not form.is_valid():
        messages.error(request, f"Thresholds not saved: {' '.join(form.problems)}")
        # Back to the preview of what was posted, which shows the same problems.
        tried = {name: request.POST.get(name, "") for name in ("auto_link", "review")}
        return redirect(f"{page}?{urlencode(tried)}")
    auto_link, review = form.cleaned_data["auto_link"], form.cleaned_data["review"]
    try:
        saved = match_thresholds_save(
            data_class=flow.data_class, auto_link=auto_link, review=review, user=request.user
        )
    except ThresholdsNotSaved as exc:
        messages.error(request, f"Thresholds not saved: {' '.join(exc.problems)}")
        return redirect(page)
    if saved:
        messages.success(
            request,
            f"Thresholds saved: {flow.data_class} records are linked from {auto_link:g} and "
            f"sent to review from {review:g}, in every flow of {flow.data_class}.",
        )
    else:
        messages.info(request, f"The thresholds were already {auto_link:g} and {review:g}.")
    return redirect(page)


@require_POST
@login_required
@permission_required("sync.add_syncrun", raise_exception=True)
def flow_matching_refresh(request: HttpRequest, flow_id: int) -> HttpResponse:
    """Read the flow's target again into the match index, in a job."""
    flow = get_object_or_404(Flow.objects.select_related("data_class", "target_system"), pk=flow_id)
    try:
        match_index_refresh_queue(flow=flow)
    except MatchingOff as exc:
        messages.error(request, f"Not queued: {exc}")
    except JobNotQueued as exc:
        messages.error(request, f"Not queued: {exc} The index is as it was.")
    else:
        messages.success(
            request,
            f"Queued: reading {flow.target_system}'s {flow.target_resource} into the index "
            "again. The count and the time last seen below change once it is done.",
        )
    return redirect("sync:flow_matching", flow_id=flow.pk)


def _thresholds_form(request: HttpRequest, spec: MatchSpec) -> ThresholdsForm:
    """Bound to the thresholds tried, when the query names any; else showing the current."""
    if "auto_link" in request.GET or "review" in request.GET:
        return ThresholdsForm(request.GET, spec=spec)
    return ThresholdsForm(spec=spec, initial={"auto_link": spec.auto_link, "review": spec.review})


def _outcome_rows(preview: MatchingPreview) -> list[dict[str, Any]]:
    rows = []
    for verdict in (AUTO_LINK, REVIEW, NEW):
        current = preview.current.get(verdict)
        tried = preview.tried.get(verdict) if preview.tried else None
        change = None if tried is None else tried - current
        rows.append(
            {
                "verdict": verdict,
                "label": VERDICT_LABELS[verdict],
                "colour": VERDICT_COLOURS[verdict],
                "as_decided": "—" if verdict == NEW else preview.as_decided.get(verdict),
                "current": current,
                "tried": tried,
                "change": "" if change is None else (f"{change:+d}" if change else "±0"),
            }
        )
    return rows


def _histogram_rows(preview: MatchingPreview) -> list[dict[str, Any]]:
    """Each band, highest first, with its bar as SVG rectangles (x and width in a 100-wide
    viewBox, scaled to the fullest band: SVG attributes, as the Content Security Policy allows
    no inline style) and the thresholds that fall in it."""
    bands = preview.bands
    widest = max((band.count for band in bands), default=0) or 1
    thresholds = (("auto-link", preview.auto_link), ("review", preview.review))
    rows = []
    for band in reversed(bands):
        x = 0.0
        segments = []
        for verdict in (AUTO_LINK, REVIEW, NEW):
            count = band.outcomes.get(verdict)
            if not count:
                continue
            width = 100 * count / widest
            segments.append(
                {
                    "x": f"{x:.2f}",
                    "width": f"{width:.2f}",
                    "colour": VERDICT_COLOURS[verdict],
                    "title": f"{count} {VERDICT_LABELS[verdict].lower()}",
                }
            )
            x += width
        last = band.high >= 1.0
        rows.append(
            {
                "low": band.low,
                "high": band.high,
                "count": band.count,
                "segments": segments,
                "summary": ", ".join(s["title"] for s in segments) or "none",
                "thresholds": [
                    f"{name} from {value:g}"
                    for name, value in thresholds
                    if band.low <= value < band.high or (last and value == band.high)
                ],
            }
        )
    return rows


def _blocking_label(kind: str) -> str:
    if kind.startswith(FIELD_BLOCKING_PREFIX):
        return f"The field {kind[len(FIELD_BLOCKING_PREFIX) :]}, identical"
    return BLOCKING_LABELS.get(kind, kind)


def spec_rows(spec: MatchSpec) -> dict[str, Any]:
    """The spec as the page lists it: roles, blocking keys in words, and each compared field
    with its share of the total weight."""
    total = sum(c.weight for c in spec.fields) or 1
    return {
        "roles": [(role.replace("_", " "), field) for role, field in sorted(spec.roles.items())],
        "blocking": [
            {
                "kind": kind,
                "label": _blocking_label(kind),
                "fields": [spec.roles[r] for r in BLOCKING_ROLES.get(kind, ()) if r in spec.roles],
            }
            for kind in spec.blocking
        ],
        "fields": [
            {
                "field": c.field,
                "role": spec.role_of.get(c.field, ""),
                "method": c.method,
                "method_label": METHOD_LABELS.get(c.method, c.method),
                "weight": f"{c.weight:g}",
                "share": round(100 * c.weight / total),
            }
            for c in spec.fields
        ],
    }
