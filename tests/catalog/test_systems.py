"""A system names the environment variable of its token; only names the setting allows."""

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError

from integration_console.catalog.models import System

pytestmark = pytest.mark.django_db


def system(auth_env_var: str) -> System:
    return System(name="CRM", base_url="https://crm.example.com/api", auth_env_var=auth_env_var)


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL", "ic_crm_token", "IC_"])
def test_a_token_variable_outside_the_pattern_is_refused_naming_the_pattern(name):
    with pytest.raises(ValidationError) as refused:
        system(name).full_clean()
    (message,) = refused.value.message_dict["auth_env_var"]
    assert name in message
    assert "^IC_[A-Z0-9_]+$" in message


def test_the_allowed_token_variables_follow_the_setting(settings):
    settings.CONNECTOR_SECRET_ENV_PATTERN = r"CRM_[A-Z_]+"
    system("CRM_TOKEN").full_clean()
    system("").full_clean()
    with pytest.raises(ValidationError, match="CRM_\\[A-Z_\\]\\+"):
        system("IC_CRM_TOKEN").full_clean()
    with pytest.raises(ValidationError):
        system("CRM_TOKEN_AND_MORE!").full_clean()  # the whole name must match


def test_a_pattern_that_is_not_a_regular_expression_is_a_configuration_error(settings):
    settings.CONNECTOR_SECRET_ENV_PATTERN = "^IC_[A-Z"
    with pytest.raises(ImproperlyConfigured, match="CONNECTOR_SECRET_ENV_PATTERN"):
        system("IC_CRM_TOKEN").full_clean()
