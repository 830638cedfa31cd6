"""Connector kinds: the built-in ones, and those other packages register by entry point."""

from importlib.metadata import EntryPoint

import pytest
from django.core.exceptions import ValidationError

from connectors import registry
from connectors.rest.client import RestConnector


class PluginConnector:
    label = "Plug-in shop"

    def __init__(self, base_url, *, token, timeout, rate_limit_per_second, settings):
        self.base_url, self.settings = base_url, settings

    @staticmethod
    def settings_errors(settings):
        return [] if settings.get("shop_id") else ["Say which shop: settings need a shop_id."]


@pytest.fixture
def plugin(monkeypatch):
    point = EntryPoint(
        name="plugin_shop",
        value="tests.connectors.test_registry:PluginConnector",
        group=registry.ENTRY_POINT_GROUP,
    )
    monkeypatch.setattr(registry, "entry_points", lambda group: [point])
    registry.connector_kinds.cache_clear()
    yield
    registry.connector_kinds.cache_clear()


def test_a_kind_from_another_package_is_offered_and_built(plugin):
    assert ("plugin_shop", "Plug-in shop") in registry.connector_kind_choices()
    connector = registry.build_connector(
        "plugin_shop", base_url="http://shop", token=None, timeout=5, settings={"shop_id": 7}
    )
    assert isinstance(connector, PluginConnector) and connector.settings == {"shop_id": 7}


@pytest.mark.django_db
def test_a_systems_settings_are_checked_by_its_kind_when_saved(plugin):
    from tests.factories import SystemFactory

    system = SystemFactory.build(connector="plugin_shop", settings={})
    with pytest.raises(ValidationError) as refused:
        system.full_clean()
    assert refused.value.message_dict["settings"] == ["Say which shop: settings need a shop_id."]


def test_the_rest_kind_is_built_in():
    assert registry.connector_class("rest") is RestConnector
    with pytest.raises(ValueError, match="Unknown connector kind"):
        registry.connector_class("nope")
