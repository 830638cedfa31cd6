from django.apps import AppConfig


class ReviewQueueConfig(AppConfig):
    name = "review_queue"
    verbose_name = "Review queue"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the sync signals)
