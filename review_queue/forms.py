from typing import Any

from django import forms

from integration_console.catalog.schema import payload_errors

from .models import ReviewItem


class PayloadFixForm(forms.Form):
    """A form built from the target data class's schema, prefilled with the failed payload."""

    def __init__(self, *args: Any, schema_fields: list[dict], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema_fields = schema_fields
        for spec in schema_fields:
            self.fields[spec["name"]] = _form_field(spec)
        style_widgets(self.fields.values())

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        payload = self.payload()
        for name, messages in payload_errors(self.schema_fields, payload).items():
            if name in self.fields:
                for message in messages:
                    self.add_error(name, message)
        return cleaned

    def payload(self) -> dict[str, Any]:
        """The corrected payload: blank optional fields are left out, as a transform would."""
        payload = {}
        for spec in self.schema_fields:
            value = self.cleaned_data.get(spec["name"])
            if value not in (None, ""):
                payload[spec["name"]] = value
        return payload


def style_widgets(fields) -> None:
    """Bootstrap classes on widgets, so templates can render fields as they are."""
    for field in fields:
        widget = field.widget
        css = "form-select" if isinstance(widget, forms.Select) else "form-control"
        widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()


def _form_field(spec: dict) -> forms.Field:
    label = spec.get("label") or spec["name"].replace("_", " ").capitalize()
    common = {"label": label, "required": bool(spec.get("required"))}
    kind = spec.get("type", "string")
    if spec.get("allowed_values"):
        choices = [("", "---------")] + [(v, v) for v in spec["allowed_values"]]
        return forms.ChoiceField(choices=choices, **common)
    if kind == "integer":
        return forms.IntegerField(**common)
    if kind == "number":
        return forms.FloatField(**common)
    if kind == "boolean":
        return forms.NullBooleanField(label=label, required=False)
    return forms.CharField(max_length=500, strip=True, **common)


class DismissForm(forms.Form):
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
    text = forms.CharField(
        label="Comment", max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_widgets(self.fields.values())


class ReopenForm(forms.Form):
    reason = forms.CharField(label="Why reopen it", max_length=500)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_widgets(self.fields.values())


class LinkForm(forms.Form):
    target_id = forms.CharField(label="Target record id", max_length=200)

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
