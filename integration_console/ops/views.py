from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.functional import SimpleLazyObject

from . import charts, selectors, services

# The overview shows runs and the review queue's counts: whoever reads it may see both.
OVERVIEW_PERMISSIONS = ("sync.view_syncrun", "review_queue.view_reviewitem")


@login_required
@permission_required(OVERVIEW_PERMISSIONS, raise_exception=True)
def overview(request: HttpRequest) -> HttpResponse:
    """The flows and runs as they are; the review queue's figures as last counted, at most a
    few minutes ago (services.overview_figures), and the page says when."""
    overview = selectors.ops_overview(figures=services.overview_figures())
    context = {
        **overview,
        # Drawn only when the template's cache of this count's figures has not got them.
        "charts": SimpleLazyObject(lambda: charts.overview_charts(overview)),
        "figures_counted": overview["counted_at"].isoformat(),
    }
    return render(request, "ops/overview.html", context)
