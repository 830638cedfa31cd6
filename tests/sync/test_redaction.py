from integration_console.sync.redaction import MASK, redact


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
