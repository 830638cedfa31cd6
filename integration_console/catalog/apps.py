from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "integration_console.catalog"
    label = "catalog"
    verbose_name = "Catalog"
