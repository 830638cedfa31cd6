from django.apps import AppConfig


class OpsConfig(AppConfig):
    """The operations overview: reads every other app; no app imports it."""

    name = "integration_console.ops"
    label = "ops"
    verbose_name = "Operations"
