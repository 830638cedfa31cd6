import django_filters
from django import forms
from django.core.validators import RegexValidator
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from integration_console.sync.failures import FailureKind
from integration_console.sync.models import Flow

from .forms import style_widgets
from .models import ReviewItem
from .sla import review_items_past_sla


class ReviewItemFilter(django_filters.FilterSet):
    ACTIVE = "active"

    flow = django_filters.ModelChoiceFilter(queryset=Flow.objects.all(), empty_label="All flows")
    kind = django_filters.ChoiceFilter(choices=FailureKind.choices, empty_label="All kinds")
    status = django_filters.ChoiceFilter(
        choices=[(ACTIVE, "Needs attention"), *ReviewItem.Status.choices],
        empty_label="Any status",
        method="filter_status",
    )
    assigned = django_filters.ChoiceFilter(
        choices=[("me", "Me"), ("nobody", "Nobody")],
        empty_label="Anyone",
        method="filter_assigned",
        label="Assigned to",
    )
    q = django_filters.CharFilter(method="filter_search", label="Search")
    # One group of the groups page (review_queue/groups.py); the partial index
    # review_item_active_cause serves it in the list's order.
    fingerprint = django_filters.CharFilter(
        label="Group",
        validators=[
            RegexValidator(
                r"^[0-9a-f]{64}\Z",
                "Not a group: a group's fingerprint is 64 hexadecimal characters.",
            )
        ],
        widget=forms.TextInput(attrs={"size": 10, "placeholder": "any"}),
    )

    # A range of the partial index review_item_active_sla (review_queue/sla.py).
    past_sla = django_filters.ChoiceFilter(
        choices=[("1", "Past its SLA")],
        empty_label="Any",
        method="filter_past_sla",
        label="SLA",
    )

    class Meta:
        model = ReviewItem
        fields = ["flow", "kind", "status"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        style_widgets(self.form.fields.values())

    def filter_status(self, queryset, name, value):
        if value == self.ACTIVE:
            return queryset.filter(status__in=ReviewItem.ACTIVE_STATUSES)
        return queryset.filter(status=value)

    def filter_past_sla(self, queryset, name, value):
        return review_items_past_sla(queryset)

    def filter_assigned(self, queryset, name, value):
        if value == "me":
            return queryset.filter(assignee=self.request.user)
        return queryset.filter(assignee__isnull=True)

    def filter_search(self, queryset, name, value):
        """Source id, reason, and the payload's text (names, e-mails, companies; its keys too).
        On PostgreSQL each ``icontains`` is ``UPPER(<column>::text) LIKE ...``, which the
        trigram GIN indexes of migration 0004 answer; on SQLite it scans the table."""
        value = value.strip()
        if not value:
            return queryset
        return queryset.alias(payload_text=Cast("payload", TextField())).filter(
            Q(source_id__icontains=value)
            | Q(reason__icontains=value)
            | Q(payload_text__icontains=value)
        )
