from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from . import charts, selectors

# The overview shows runs and the review queue's counts: whoever reads it may see both.
OVERVIEW_PERMISSIONS = ("sync.view_syncrun", "review_queue.view_reviewitem")


@login_required
@permission_required(OVERVIEW_PERMISSIONS, raise_exception=True)
def overview(request: HttpRequest) -> HttpResponse:
    figures = selectors.ops_overview()
    context = {**figures, "charts": charts.overview_charts(figures)}
    return render(request, "ops/overview.html", context)
