from typing import Any

from django import forms

from integration_console.catalog.schema import is_blank, payload_errors
from integration_console.sync.redaction import MASK, sensitive_fields

from .models import ReviewItem
from .services import people_who_may_act

SENSITIVE_HELP = "Hidden. Enter a new value, or leave empty to send the value the source has now."


class ItemVersionForm(forms.Form):
    """Every action on an item's page sends the item's version that page showed: an action on
    an item that changed since is refused with what changed (services.ItemChanged). The
    template writes the hidden input; a schema field may be called ``version``, hence the
    prefix."""

    item_version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class PayloadFixForm(ItemVersionForm):
    """A form built from the target data class's schema, prefilled with what is known of the
    failed payload, and the item's field errors next to the fields until it is submitted.

    A sensitive field (declared in the schema, or found masked in the stored payload) is
    never prefilled: a mask must not travel back into a retry. Left empty, it is left out of
    ``payload()`` and named in ``sensitive_left_empty``; the retry then sends the value the
    source has now."""

    def __init__(
        self,
        *args: Any,
        schema_fields: list[dict],
        item_errors: dict[str, list[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.schema_fields = schema_fields
        self.item_errors = item_errors or {}
        stored_masked = {name for name, value in self.initial.items() if value == MASK}
        self.sensitive = sensitive_fields(schema_fields) | stored_masked
        # A copy: ``initial`` is often the item's own payload, which must stay as it is.
        self.initial = {k: v for k, v in self.initial.items() if k not in self.sensitive}
        for spec in schema_fields:
            if spec["name"] in self.sensitive:
                field = _form_field({**spec, "required": False})
                field.help_text = SENSITIVE_HELP
                field.widget.attrs["autocomplete"] = "off"
            else:
                field = _form_field(spec)
            self.fields[spec["name"]] = field
        style_widgets(self.fields.values())

    @property
    def rows(self) -> list[tuple[forms.BoundField, list[str]]]:
        """Each field with the item's errors for it, shown until the form is submitted (then
        the form's own errors are the ones that count)."""
        return [
            (self[name], [] if self.is_bound else self.item_errors.get(name, []))
            for name in self.fields
            if name != "item_version"
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name, value in list(cleaned.items()):
            if name != "item_version" and value == MASK:
                self.add_error(name, "Enter a new value, or leave the field empty.")
        left_empty = set(self.sensitive_left_empty)
        for name, messages in payload_errors(self.schema_fields, self.payload()).items():
            # A field the form already refused has its message; an empty sensitive field is
            # filled from the source by the retry, and checked there.
            if name not in self.fields or self.has_error(name) or name in left_empty:
                continue
            for message in messages:
                self.add_error(name, message)
        return cleaned

    @property
    def sensitive_left_empty(self) -> list[str]:
        """The sensitive fields the operator left empty: the retry reads them from the source."""
        return [
            spec["name"]
            for spec in self.schema_fields
            if spec["name"] in self.sensitive and is_blank(self.cleaned_data.get(spec["name"]))
        ]

    def payload(self) -> dict[str, Any]:
        """The corrected payload: blank optional fields are left out, as a transform would,
        and so are sensitive fields left empty (see ``sensitive_left_empty``)."""
        payload = {}
        for spec in self.schema_fields:
            value = self.cleaned_data.get(spec["name"])
            if not is_blank(value):
                payload[spec["name"]] = value
        return payload


def style_widgets(fields) -> None:
    """Bootstrap classes on widgets, so templates can render fields as they are."""
    for field in fields:
        widget = field.widget
        css = "form-select" if isinstance(widget, forms.Select) else "form-control"
        widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()


_COERCE = {"integer": int, "number": float, "boolean": lambda value: value == "True"}


def _form_field(spec: dict) -> forms.Field:
    label = spec.get("label") or spec["name"].replace("_", " ").capitalize()
    common = {"label": label, "required": bool(spec.get("required"))}
    kind = spec.get("type", "string")
    if spec.get("allowed_values"):
        # Typed: the schema's allowed values are ints for an integer field, not strings.
        choices = [("", "---------")] + [(v, v) for v in spec["allowed_values"]]
        return forms.TypedChoiceField(
            choices=choices, coerce=_COERCE.get(kind, str), empty_value=None, **common
        )
    if kind == "integer":
        return forms.IntegerField(**common)
    if kind == "number":
        return forms.FloatField(**common)
    if kind == "boolean":
        return forms.NullBooleanField(label=label, required=False)
    return forms.CharField(max_length=500, strip=True, **common)


class DismissForm(ItemVersionForm):
    reason = forms.CharField(
        label="Reason for dismissing",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why this record should not be synced. Kept in the item's history.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_widgets(self.fields.values())


class CommentForm(forms.Form):
    """A comment changes nothing of the item, so it carries no version: it is never refused
    because someone acted on the item meanwhile."""

    body = forms.CharField(
        label="Add a comment", max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_widgets(self.fields.values())


class ReopenForm(ItemVersionForm):
    reason = forms.CharField(label="Why reopen it", max_length=500)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_widgets(self.fields.values())


class AssignForm(ItemVersionForm):
    assignee = forms.ModelChoiceField(
        label="Assign to",
        queryset=None,
        required=False,
        empty_label="Nobody (unassign)",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = people_who_may_act()
        style_widgets(self.fields.values())


class LinkForm(ItemVersionForm):
    target_id = forms.CharField(label="Target record id", max_length=200)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_widgets(self.fields.values())


class CreateAnywayForm(ItemVersionForm):
    reason = forms.CharField(
        label="Why it is not a duplicate",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept with each pair: matching will not offer these records for it again.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_widgets(self.fields.values())


class BulkActionForm(forms.Form):
    """Retry or dismiss the ticked items, or every item the current filters select."""

    action = forms.ChoiceField(choices=[("retry", "Retry as is"), ("dismiss", "Dismiss")])
    reason = forms.CharField(label="Reason (to dismiss)", max_length=500, required=False)
    items = forms.ModelMultipleChoiceField(queryset=ReviewItem.objects.all(), required=False)
    all_matching = forms.BooleanField(required=False)
    filter_query = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_widgets([self.fields["action"], self.fields["reason"]])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not cleaned.get("items") and not cleaned.get("all_matching"):
            raise forms.ValidationError("Tick the items to act on, or all that match the filters.")
        if cleaned.get("action") == "dismiss" and not cleaned.get("reason", "").strip():
            self.add_error("reason", "Say why these items are dismissed.")
        return cleaned


class SaveViewForm(forms.Form):
    """Name the list's current filters; ``filter_query`` carries them from the page."""

    name = forms.CharField(label="Save this view as", max_length=80)
    filter_query = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.update({"placeholder": "Name", "class": "form-control-sm"})
        style_widgets([self.fields["name"]])
