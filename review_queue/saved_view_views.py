"""Saving the queue list's filters under a name, and deleting a saved view."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from . import saved_views
from .forms import SaveViewForm
from .views import view_permission


@require_POST
@login_required
@view_permission
def saved_view_create(request: HttpRequest) -> HttpResponse:
    form = SaveViewForm(request.POST)
    query = request.POST.get("filter_query", "")
    back = f"{reverse('review_queue:item_list')}?{saved_views.saved_view_query(query)}"
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"View not saved: {error}")
        return redirect(back)
    try:
        view = saved_views.saved_view_create(
            owner=request.user, name=form.cleaned_data["name"], query=query
        )
    except saved_views.SavedViewInvalid as exc:
        for problem in exc.problems:
            messages.error(request, f"View not saved: {problem}")
        return redirect(back)
    messages.success(request, f"Saved the view “{view.name}”.")
    return redirect(f"{reverse('review_queue:item_list')}?{view.query}")


@require_POST
@login_required
@view_permission
def saved_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    view = get_object_or_404(saved_views.saved_views_of(request.user), pk=pk)
    saved_views.saved_view_delete(view=view)
    messages.success(request, f"Deleted the view “{view.name}”.")
    return redirect("review_queue:item_list")
