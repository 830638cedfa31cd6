from integration_console.catalog.schema import schema_errors
from integration_console.sync.redaction import (
    MASK,
    contains_mask,
    mask_payload,
    redact,
    sensitive_fields,
    sensitive_source_paths,
)


def test_secret_looking_keys_are_masked_at_any_depth():
    payload = {"email": "a@b.c", "api_key": "k", "nested": [{"password": "p", "name": "n"}]}
    assert redact(payload) == {
        "email": "a@b.c",
        "api_key": MASK,
        "nested": [{"password": MASK, "name": "n"}],
    }


def test_redaction_does_not_change_the_original():
    payload = {"token": "t"}
    redact(payload)
    assert payload == {"token": "t"}


def test_only_connector_secrets_are_masked_by_their_names():
    secrets = ["token", "accessToken", "client_secret", "apiKey", "X-API-Key", "db_password"]
    # Record fields are not guessed at: "author" is not "auth", "iban" is for the schema to say.
    fields = ["author", "authored_by", "iban", "card_number", "passport"]
    masked = redact({key: "value" for key in secrets + fields})
    assert masked == {**{key: MASK for key in secrets}, **{key: "value" for key in fields}}


def test_a_data_class_declares_its_sensitive_fields_in_its_schema():
    fields = [
        {"name": "iban", "type": "string", "sensitive": True},
        {"name": "author", "type": "string"},
        {"name": "card", "type": "string", "sensitive": False},
        {"name": "note", "type": "string", "sensitive": "yes"},  # only a true boolean counts
    ]
    assert sensitive_fields(fields) == {"iban"}


def test_a_schema_accepts_sensitive_only_as_a_boolean():
    def schema(flag):
        return {"fields": [{"name": "iban", "type": "string", "sensitive": flag}]}

    assert schema_errors(schema(True)) == []
    assert schema_errors(schema(False)) == []
    assert schema_errors(schema("yes")) == ["Field 'iban': \"sensitive\" must be true or false."]


def test_mask_payload_masks_the_declared_fields_and_nothing_else():
    payload = {"iban": "DE89370400440532013000", "author": "Ada", "email": "a@b.c"}
    assert mask_payload(payload, {"iban"}) == {"iban": MASK, "author": "Ada", "email": "a@b.c"}
    assert payload["iban"] == "DE89370400440532013000"


def test_mask_payload_leaves_empty_values_empty():
    assert mask_payload({"iban": None, "pin": ""}, {"iban", "pin"}) == {"iban": None, "pin": ""}


def test_mask_payload_follows_dotted_source_paths_without_changing_the_original():
    record = {"bank": {"iban": "DE89", "name": "GLS"}, "id": "C-1"}
    assert mask_payload(record, {"bank.iban"}) == {
        "bank": {"iban": MASK, "name": "GLS"},
        "id": "C-1",
    }
    assert record["bank"]["iban"] == "DE89"


def test_the_source_paths_of_sensitive_fields_come_from_the_field_map_rules():
    class Rule:
        def __init__(self, source_path, target_path):
            self.source_path, self.target_path = source_path, target_path

    rules = [Rule("bank.iban", "iban"), Rule("email", "email")]
    assert sensitive_source_paths(rules, {"iban"}) == {"bank.iban"}


def test_a_mask_is_found_at_any_depth():
    assert contains_mask({"a": [{"b": MASK}]})
    assert not contains_mask({"a": ["••••", "x"], "b": None})


def test_fields_a_template_reads_into_a_sensitive_field_are_masked_in_the_source_too():
    from types import SimpleNamespace

    from integration_console.sync.redaction import sensitive_source_paths

    rules = [
        SimpleNamespace(source_path="", target_path="iban", transform="template:{bank.iban}"),
        SimpleNamespace(source_path="name", target_path="name", transform=""),
    ]
    assert sensitive_source_paths(rules, {"iban"}) == {"bank.iban"}
