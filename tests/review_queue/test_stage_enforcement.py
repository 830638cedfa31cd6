"""One stage check covers runs, retries and links: a flow that is read only or in dry run
writes nothing to its target, whoever asks."""

import httpx
import pytest

from connectors.rest.client import RestConnector
from integration_console.sync.models import Flow, RecordLink
from integration_console.sync.pipeline import StagedTarget, StageForbidsWrite
from integration_console.sync.services import record_retry
from review_queue.models import ReviewItem
from review_queue.services import ActionNotAllowed, review_item_link, review_item_retry
from tests.factories import demo_user

pytestmark = pytest.mark.django_db


def erp_count(simulator) -> int:
    return httpx.get(f"{simulator.erp_url}/customers").json()["count"]


def switch(flow, stage):
    flow.stage = stage
    flow.save()


@pytest.mark.parametrize("stage", [Flow.Stage.READ_ONLY, Flow.Stage.DRY_RUN])
def test_a_retry_is_refused_while_the_flow_writes_nothing(queued, demo_flow, simulator, stage):
    switch(demo_flow, stage)
    item = queued["C-0021"]

    with pytest.raises(ActionNotAllowed, match="nothing is written"):
        review_item_retry(item=item, user=demo_user("olivia"), payload={**item.payload})

    item.refresh_from_db()
    assert item.status == "open"
    assert erp_count(simulator) == 5 + 36


@pytest.mark.parametrize("stage", [Flow.Stage.READ_ONLY, Flow.Stage.DRY_RUN])
def test_a_link_is_refused_while_the_flow_writes_nothing(queued, demo_flow, stage):
    switch(demo_flow, stage)

    with pytest.raises(ActionNotAllowed, match="nothing is written"):
        review_item_link(item=queued["C-0029"], user=demo_user("olivia"), target_id="E-10002")

    assert not RecordLink.objects.filter(source_id="C-0029").exists()


def test_a_retry_whose_flow_stopped_writing_meanwhile_reopens_its_item(
    queued, demo_flow, django_capture_on_commit_callbacks
):
    item = queued["C-0021"]
    ReviewItem.objects.filter(pk=item.pk).update(status="retrying")
    switch(demo_flow, Flow.Stage.DRY_RUN)

    record_retry(flow=demo_flow, source_id="C-0021", actor="user:olivia")

    item.refresh_from_db()
    assert item.status == "open"
    assert "dry run" in item.events.latest("id").note


@pytest.mark.parametrize("stage", [Flow.Stage.READ_ONLY, Flow.Stage.DRY_RUN])
def test_the_target_of_a_flow_that_writes_nothing_refuses_every_write(demo_flow, simulator, stage):
    switch(demo_flow, stage)
    target = StagedTarget(RestConnector(simulator.erp_url), demo_flow)

    with pytest.raises(StageForbidsWrite):
        target.create("customers", {"given_name": "X"}, idempotency_key="k")
    with pytest.raises(StageForbidsWrite):
        target.update("customers", "E-10001", {"given_name": "X"})
    assert target.get("customers", "E-10001")["id"] == "E-10001"
