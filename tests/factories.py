"""Helpers that put the demo world into a known state for a test."""

from django.contrib.auth.models import User

from integration_console.sync.models import Flow, SyncRun
from integration_console.sync.services import sync_run_start


def run_flow(flow: Flow, capture) -> SyncRun:
    """Start a run and execute it in this process (``capture`` is
    django_capture_on_commit_callbacks)."""
    with capture(execute=True):
        run = sync_run_start(flow=flow, triggered_by="test")
    run.refresh_from_db()
    return run


def demo_user(username: str) -> User:
    return User.objects.get(username=username)
