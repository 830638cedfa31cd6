import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger(__name__)


class SyncConfig(AppConfig):
    name = "integration_console.sync"
    label = "sync"
    verbose_name = "Sync"

    def ready(self) -> None:
        if not settings.REDIS_URL:
            logger.info("REDIS_URL is not set: background jobs run in-process after commit.")
