"""A Tryton System's settings, checked when the System is saved, and the kind's registration."""

import pytest

from connectors import registry
from connectors.errors import ConnectorError
from connectors.tryton.client import TrytonConnector


def test_the_tryton_kind_is_offered_under_its_label():
    assert ("tryton", "Tryton (JSON-RPC)") in registry.connector_kind_choices()
    assert registry.connector_class("tryton") is TrytonConnector


def test_good_settings_have_no_errors():
    settings = {
        "database": "tryton",
        "user": "admin",
        "batch_size": 50,
        "resources": {"party.party": {"fields": ["name", "addresses.country.code"]}},
    }
    assert registry.connector_settings_errors("tryton", settings) == []


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"user": "admin"}, '"database" must name the Tryton database'),
        ({"database": "a/b", "user": "admin"}, '"database" must name the Tryton database'),
        ({"database": "tryton"}, '"user" must name the Tryton user'),
        ({"database": "tryton", "user": "a", "batch_size": 0}, '"batch_size" must be'),
        ({"database": "tryton", "user": "a", "resources": []}, '"resources" must map'),
        (
            {"database": "tryton", "user": "a", "resources": {"Party": {}}},
            "'Party' is not a Tryton model name",
        ),
        (
            {"database": "tryton", "user": "a", "resources": {"party.party": {"fields": "name"}}},
            "the \"fields\" of 'party.party' must be a list",
        ),
    ],
)
def test_settings_errors_say_what_is_wrong(settings, complaint):
    errors = TrytonConnector.settings_errors(settings)
    assert any(complaint in error for error in errors), errors


def test_a_connector_is_not_built_on_wrong_settings():
    with pytest.raises(ConnectorError, match='"user" must name'):
        TrytonConnector("http://tryton.invalid", token="pw", settings={"database": "tryton"})
