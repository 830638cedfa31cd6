"""The fix form: built from the target schema, it never shows or sends a masked value."""

from integration_console.sync.redaction import MASK
from review_queue.forms import SENSITIVE_HELP, PayloadFixForm

FIELDS = [
    {"name": "name", "label": "Name", "type": "string", "required": True},
    {"name": "iban", "label": "IBAN", "type": "string", "required": True, "sensitive": True},
    {"name": "tier", "label": "Tier", "type": "integer", "allowed_values": [1, 2, 3]},
    {"name": "note", "label": "Note", "type": "string"},
]


def fix_form(data=None, *, initial=None, item_errors=None):
    if data is not None:
        data = {"item_version": 1, **data}  # the item's version the page showed
    return PayloadFixForm(
        data, initial=initial or {}, schema_fields=FIELDS, item_errors=item_errors
    )


def test_a_sensitive_field_is_shown_empty_with_a_hint_never_with_its_mask():
    payload = {"name": "Ada", "iban": MASK}
    form = fix_form(initial=payload)
    html = str(form["iban"])
    assert MASK not in html
    assert "value=" not in html
    assert form["iban"].help_text == SENSITIVE_HELP
    assert form["name"].value() == "Ada"
    assert payload == {"name": "Ada", "iban": MASK}  # the item's own payload is left as it is


def test_a_value_stored_masked_is_hidden_even_in_a_field_not_declared_sensitive():
    form = fix_form(initial={"note": MASK})
    assert form["note"].value() is None
    assert form["note"].help_text == SENSITIVE_HELP


def test_a_sensitive_field_left_empty_is_left_out_of_the_payload_and_named():
    form = fix_form({"name": "Ada", "iban": "", "tier": "1"}, initial={"iban": MASK})
    assert form.is_valid(), form.errors
    assert form.payload() == {"name": "Ada", "tier": 1}
    assert form.sensitive_left_empty == ["iban"]


def test_a_new_value_for_a_sensitive_field_is_sent_and_checked():
    form = fix_form({"name": "Ada", "iban": "DE89370400440532013000"})
    assert form.is_valid(), form.errors
    assert form.payload()["iban"] == "DE89370400440532013000"
    assert form.sensitive_left_empty == []


def test_a_submitted_mask_is_refused():
    form = fix_form({"name": "Ada", "iban": MASK})
    assert not form.is_valid()
    assert form.errors["iban"] == ["Enter a new value, or leave the field empty."]


def test_an_integer_choice_is_corrected_as_an_integer():
    assert 'value="3" selected' in str(fix_form(initial={"tier": 3})["tier"])
    form = fix_form({"name": "Ada", "tier": "2"})
    assert form.is_valid(), form.errors
    assert form.payload()["tier"] == 2


def test_an_empty_required_field_says_so_once():
    form = fix_form({"name": "", "tier": ""})
    assert not form.is_valid()
    assert form.errors["name"] == ["This field is required."]


def test_the_items_field_errors_are_shown_beside_the_fields_until_the_form_is_sent():
    errors = {"tier": ["Required, but the source field 'level' is empty."]}
    rows = dict((field.name, notes) for field, notes in fix_form(item_errors=errors).rows)
    assert rows == {"name": [], "iban": [], "tier": errors["tier"], "note": []}
    sent = fix_form({"name": "Ada", "tier": "1"}, item_errors=errors)
    assert all(notes == [] for _, notes in sent.rows)
