import pytest

from review_queue.models import ReviewItem
from tests.factories import demo_user, run_flow


@pytest.fixture
def queued(demo_flow, in_process_jobs, django_capture_on_commit_callbacks):
    """The demo's first run done: its four items, by source id."""
    run_flow(demo_flow, django_capture_on_commit_callbacks)
    return {item.source_id: item for item in ReviewItem.objects.all()}


@pytest.fixture
def operator_client(client, queued):
    client.force_login(demo_user("olivia"))
    return client
