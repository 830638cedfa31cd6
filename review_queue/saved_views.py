"""Saved views of the queue list: the built-in ones everybody has, and those a user names.

A view is the list's query string. It is stored in one canonical form (filter fields only, no
page position, empty values dropped, the default status left out), so the same filters saved
twice read the same and the list can tell which view it is showing."""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import QueryDict

from .filters import ReviewItemFilter
from .models import ReviewItem, SavedView


@dataclass(frozen=True)
class BuiltInView:
    name: str
    query: str


BUILT_IN_VIEWS = (
    BuiltInView("All needing attention", ""),
    BuiltInView("Mine", "assigned=me"),
    BuiltInView("Unassigned", "assigned=nobody"),
    BuiltInView("Past SLA", "past_sla=1"),
    BuiltInView("Possible duplicates", "kind=possible_duplicate"),
)


class SavedViewInvalid(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def saved_view_query(query: str | QueryDict) -> str:
    """The canonical form of a list's query string. ``status`` is kept when empty, since an
    empty status means "any status" while a missing one means the default, needing attention."""
    params = QueryDict(query) if isinstance(query, str) else query
    names = list(ReviewItemFilter.base_filters)
    kept = QueryDict(mutable=True)
    for name in names:
        for value in params.getlist(name):
            if name == "status" and value == ReviewItemFilter.ACTIVE:
                continue
            if value or name == "status":
                kept.appendlist(name, value)
    return kept.urlencode()


def saved_view_problems(query: str) -> list[str]:
    """Why ReviewItemFilter refuses these filters, worded as the list words them; [] if valid."""
    filterset = ReviewItemFilter(QueryDict(query), queryset=ReviewItem.objects.none())
    return [
        f"{filterset.form.fields[name].label or name}: {error}" if name != "__all__" else error
        for name, errors in filterset.errors.items()
        for error in errors
    ]


def saved_views_of(user: AbstractBaseUser) -> QuerySet[SavedView]:
    return SavedView.objects.filter(owner=user)


def saved_view_create(*, owner: AbstractBaseUser, name: str, query: str) -> SavedView:
    """Store the filters under the owner's name for them, in canonical form. Raises
    SavedViewInvalid with every reason when the filters are invalid or the name is taken;
    nothing is stored then."""
    name = name.strip()
    query = saved_view_query(query)
    problems = saved_view_problems(query)
    if not name:
        problems.insert(0, "Name: give the view a name.")
    if problems:
        raise SavedViewInvalid(problems)
    try:
        with transaction.atomic():
            return SavedView.objects.create(owner=owner, name=name, query=query)
    except IntegrityError:
        raise SavedViewInvalid([f"You already have a view named “{name}”."]) from None


def saved_view_delete(*, view: SavedView) -> None:
    view.delete()


@dataclass(frozen=True)
class ViewLink:
    """A view as the list shows it: a link, marked current when the list shows its filters."""

    name: str
    query: str
    current: bool
    saved_view: SavedView | None = None


def queue_view_links(*, user: AbstractBaseUser, query: QueryDict) -> dict[str, list[ViewLink]]:
    """The built-in views and the user's own saved views, as links for the list (one query)."""
    current = saved_view_query(query)
    return {
        "built_in": [
            ViewLink(view.name, view.query, view.query == current) for view in BUILT_IN_VIEWS
        ],
        "saved": [
            ViewLink(view.name, view.query, view.query == current, view)
            for view in saved_views_of(user)
        ],
    }
