"""A system's refusals, read by its error rules, become the taxonomy's kinds."""

import pytest

from connectors.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConnectorError,
    NotFoundError,
    RejectedError,
    TransientError,
)
from connectors.rest.client import RestConnector

from .conftest import Reply

RULES = {
    "errors": {
        "rules": [
            {"status": 400, "body_pattern": "(?i)already (exists|taken)", "kind": "already_exists"},
            {"status": 400, "body_pattern": "try again", "kind": "transient"},
            {"status": 400, "body_pattern": "no such", "kind": "not_found"},
            {"status": [400, 418], "body_pattern": "session", "kind": "auth"},
            {"status": "2xx", "body_pattern": '"success": false', "kind": "rejected"},
        ],
        "message_path": "message",
        "field_errors_path": "",
    },
}


def erp(api, **settings):
    return RestConnector(api.url, settings={"resources": {"customers": {**RULES, **settings}}})


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, {"email": ["Email already exists."]}, AlreadyExistsError),
        (400, {"message": "Busy, try again later"}, TransientError),
        (400, {"message": "no such customer"}, NotFoundError),
        (418, {"message": "session gone"}, AuthenticationError),
        (200, {"success": False, "message": "Refused"}, RejectedError),
        (400, {"email": ["Enter a valid email."]}, RejectedError),
    ],
)
def test_status_and_body_pattern_rules_choose_the_kind(api, status, body, kind):
    api.answer(lambda seen: Reply(status, body))

    with pytest.raises(ConnectorError) as refused:
        erp(api).create("customers", {"email": "x"}, idempotency_key="k")

    assert type(refused.value) is kind


def test_the_message_and_field_errors_are_read_where_the_settings_say(api):
    api.answer(
        lambda seen: Reply(400, {"message": "Validation failed", "email": ["Enter a valid email."]})
    )

    with pytest.raises(RejectedError) as refused:
        erp(api).create("customers", {"email": "x"}, idempotency_key="k")

    assert refused.value.field_errors == {"email": ["Enter a valid email."]}
    assert refused.value.message == "POST /customers: 400 Bad Request. Validation failed"


def test_field_errors_given_as_a_list_of_objects_are_read_too(api):
    body = {"errors": [{"field": "phone", "message": "Not E.164."}]}
    api.answer(lambda seen: Reply(422, body))

    with pytest.raises(RejectedError) as refused:
        RestConnector(api.url).create("customers", {}, idempotency_key="k")

    assert refused.value.field_errors == {"phone": ["Not E.164."]}


def test_the_record_behind_a_duplicate_is_looked_up_by_the_duplicated_field(api):
    def handler(seen):
        if seen.method == "POST":
            return Reply(400, {"email": ["A customer with this email already exists."]})
        matches = seen.query.get("email", "").lower() == "ada@example.com"
        return Reply(json={"items": [{"id": "E-7", "email": "ADA@example.com"}] if matches else []})

    api.answer(handler)
    connector = erp(
        api,
        records_path="items",
        pagination={"type": "offset"},
        errors={**RULES["errors"], "existing": {"field": "email", "param": "email"}},
    )

    with pytest.raises(AlreadyExistsError) as refused:
        connector.create("customers", {"email": "ada@example.com"}, idempotency_key="k")

    assert refused.value.existing_id == "E-7"
    assert api.seen[1].query["email"] == "ada@example.com"


def test_a_redirect_is_not_followed_by_default_and_the_error_says_where_it_points(api):
    api.answer(lambda seen: Reply(301, headers={"Location": "/customers/?x=1"}))

    with pytest.raises(
        RejectedError, match=r"301 Moved Permanently, pointing to http://[^ ]+/customers/\?x=1"
    ):
        RestConnector(api.url).create("customers", {}, idempotency_key="k")


def test_a_write_that_a_followed_redirect_turned_into_a_read_is_refused(api):
    def handler(seen):
        if not seen.path.endswith("/"):
            return Reply(301, headers={"Location": seen.path + "/"})
        return Reply(json={"results": []})

    api.answer(handler)
    connector = RestConnector(api.url, settings={"follow_redirects": True})

    assert list(connector.iter_records("customers")) == []
    with pytest.raises(RejectedError, match="made it a GET"):
        connector.create("customers", {"email": "x"}, idempotency_key="k")


@pytest.mark.parametrize(("status", "kind"), [(500, TransientError), (400, RejectedError)])
def test_an_html_error_page_keeps_the_kind_of_its_status(api, status, kind):
    api.answer(lambda seen: Reply(status, text="<html><h1>Server Error</h1></html>"))

    with pytest.raises(ConnectorError) as refused:
        RestConnector(api.url).update("customers", "E-1", {})

    assert type(refused.value) is kind
    assert "text/html, not JSON" in refused.value.message
    assert refused.value.response_body.startswith("<html>")


def test_a_2xx_that_is_not_json_is_rejected_not_taken_for_records(api):
    api.answer(lambda seen: Reply(200, text="<html>Please log in</html>"))

    with pytest.raises(RejectedError, match="not JSON"):
        list(RestConnector(api.url).iter_records("customers"))


def test_a_create_answered_with_a_message_and_an_id_gives_the_stored_record(api):
    api.answer(lambda seen: Reply(200, {"message": "created", "data": {"id": 17}}))
    connector = erp(api, written_record_path="data", created_id_path="data.id", idempotency=None)

    stored = connector.create("customers", {"email": "a@b.example"}, idempotency_key="k")

    assert stored == {"email": "a@b.example", "id": 17}
    assert api.seen[0].header("Idempotency-Key") is None


def test_a_create_whose_answer_names_no_id_is_an_error_that_says_it_may_have_happened(api):
    api.answer(lambda seen: Reply(200, {"message": "created"}))

    with pytest.raises(ConnectorError, match="may have been created"):
        erp(api, created_id_path="data.id").create("customers", {}, idempotency_key="k")


def test_a_payload_path_wraps_what_is_written(api):
    api.answer(lambda seen: Reply(200, {"customer": {"id": "E-1", **seen.json()["customer"]}}))
    connector = erp(api, payload_path="customer", record_path="customer")

    stored = connector.update("customers", "E-1", {"email": "a@b.example"})

    assert api.seen[0].json() == {"customer": {"email": "a@b.example"}}
    assert stored == {"id": "E-1", "email": "a@b.example"}
