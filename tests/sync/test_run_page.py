"""The run page: a run spread over chunks shows how each stands, and can be cancelled by
whoever may start runs."""

import pytest
from django.urls import reverse

from integration_console.sync.models import SyncChunk, SyncRun
from tests.factories import demo_user

pytestmark = pytest.mark.django_db


def test_the_run_page_shows_its_chunks_and_how_they_stand(
    client, demo_flow, settings, in_process_jobs, django_capture_on_commit_callbacks
):
    settings.SYNC_CHUNK_RECORDS = 15
    client.force_login(demo_user("olivia"))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("sync:run_start", args=[demo_flow.pk]))
    run = SyncRun.objects.get()

    page = client.get(reverse("sync:run_detail", args=[run.pk])).content.decode()

    assert 'id="run-chunks"' in page
    assert "3 chunks, each a job any worker takes" in page
    assert "Done: 3" in page
    assert 'id="cancel-run"' not in page  # it has ended


def test_an_operator_cancels_a_running_run_from_its_page(client, demo_flow):
    run = SyncRun.objects.create(
        flow=demo_flow, stage=demo_flow.stage, triggered_by="test", status="running"
    )
    SyncChunk.objects.create(run=run, number=0, status=SyncChunk.Status.RUNNING)
    SyncChunk.objects.create(run=run, number=1)
    client.force_login(demo_user("olivia"))
    assert 'id="cancel-run"' in client.get(reverse("sync:run_detail", args=[run.pk])).text

    response = client.post(reverse("sync:run_cancel", args=[run.pk]), follow=True)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.CANCELLED and run.note == "Cancelled by user:olivia."
    assert "cancelled: its chunks stop after the page they are on" in response.text
    # The chunk not begun never starts; the running one stops after its page.
    assert SyncChunk.objects.get(number=1).status == SyncChunk.Status.STOPPED
    again = client.post(reverse("sync:run_cancel", args=[run.pk]), follow=True)
    assert "had already ended" in again.text


def test_cancelling_needs_the_right_to_start_runs_and_a_post(client, demo_flow, django_user_model):
    run = SyncRun.objects.create(
        flow=demo_flow, stage=demo_flow.stage, triggered_by="test", status="running"
    )
    url = reverse("sync:run_cancel", args=[run.pk])
    assert client.post(url).status_code == 302  # to the login page
    client.force_login(django_user_model.objects.create_user("visitor"))
    assert client.post(url).status_code == 403
    client.force_login(demo_user("olivia"))
    assert client.get(url).status_code == 405
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RUNNING
