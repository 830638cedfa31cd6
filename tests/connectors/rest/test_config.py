"""A System's REST settings are checked when saved, each problem named by its setting."""

import pytest
from django.core.exceptions import ValidationError

from connectors.rest.client import RestConnector

errors = RestConnector.settings_errors


def test_empty_settings_are_the_simulators_conventions_and_valid():
    assert errors({}) == []


def test_an_unknown_pagination_type_is_named_with_its_path_and_the_known_types():
    settings = {"resources": {"contacts": {"pagination": {"type": "pages"}}}}

    assert errors(settings) == [
        "resources.contacts.pagination.type: 'pages' is not one of page_number, offset, cursor, "
        "link_header, range, short_page, keyset, none"
    ]


def test_unknown_settings_are_refused_with_the_known_ones_of_their_place():
    (problem,) = errors({"pagination": {"type": "offset", "page_param": "p"}})

    assert problem.startswith("pagination.page_param: unknown setting; known here: type, ")
    assert "offset_param" in problem


def test_item_urls_need_the_id_placeholder():
    assert errors({"resources": {"c": {"get_url": "contacts/id"}}}) == [
        "resources.c.get_url: 'contacts/id' needs the {id} placeholder"
    ]


def test_error_rules_need_a_known_kind_and_a_valid_pattern():
    rules = [
        {"status": 400, "body_pattern": "(", "kind": "already_exists"},
        {"status": "4xy", "kind": "gone"},
    ]

    problems = errors({"errors": {"rules": rules}})

    assert problems[0].startswith("errors.rules.0.body_pattern: '(' is not a regular expression")
    assert problems[1:] == [
        "errors.rules.1.status: '4xy' is not an HTTP status (100-599) or a class "
        "(2xx, 3xx, 4xx, 5xx)",
        "errors.rules.1.kind: 'gone' is not one of transient, rejected, already_exists, "
        "not_found, auth",
    ]


def test_each_auth_type_names_the_settings_it_needs():
    assert errors({"auth": {"type": "basic"}}) == ["auth.username: required for auth type 'basic'"]
    assert errors({"auth": {"type": "oauth2_client_credentials", "token_url": "/t"}}) == [
        "auth.client_id: required for auth type 'oauth2_client_credentials'"
    ]


def test_a_date_format_is_a_known_name_or_a_strftime_pattern():
    assert errors({"updated_at_format": "%d.%m.%Y"}) == []
    (problem,) = errors({"updated_at_format": "dd.mm.yyyy"})
    assert problem.startswith("updated_at_format: 'dd.mm.yyyy' is not one of iso8601, ")


def test_a_systems_default_is_reported_once_not_once_per_resource():
    settings = {"update_method": "POST", "resources": {"a": {}, "b": {"update_method": "GET"}}}

    assert errors(settings) == [
        "update_method: 'POST' is not one of PUT, PATCH",
        "resources.b.update_method: 'GET' is not one of PUT, PATCH",
    ]


@pytest.mark.django_db
def test_a_system_with_wrong_rest_settings_cannot_be_saved():
    from tests.factories import SystemFactory

    system = SystemFactory.build(connector="rest", settings={"pagination": {"type": "pages"}})

    with pytest.raises(ValidationError) as refused:
        system.full_clean()

    assert refused.value.message_dict["settings"] == [
        "pagination.type: 'pages' is not one of page_number, offset, cursor, link_header, "
        "range, short_page, keyset, none"
    ]
