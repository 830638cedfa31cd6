from django.apps import AppConfig
from django.db.models.signals import post_migrate


class WebConfig(AppConfig):
    name = "integration_console.web"
    label = "web"
    verbose_name = "Web"

    def ready(self) -> None:
        from integration_console.roles import sync_roles_after_migrate

        # The roles grant permissions of catalog, sync, review_queue, auth and django_rq:
        # review_queue's post_migrate comes after theirs (INSTALLED_APPS order), when all
        # their permissions exist. It is also sent after a flush.
        post_migrate.connect(
            sync_roles_after_migrate,
            sender=self.apps.get_app_config("review_queue"),
            dispatch_uid="integration_console.roles.sync_roles_after_migrate",
        )
