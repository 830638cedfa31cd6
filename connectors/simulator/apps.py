from django.apps import AppConfig


class SimulatorConfig(AppConfig):
    name = "connectors.simulator"
    label = "simulator"
    verbose_name = "Simulated external systems"
