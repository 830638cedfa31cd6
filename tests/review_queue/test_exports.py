"""The queue's CSV export (review_queue/exports.py): the request records a row and answers at
once; the job writes what the list's filters select, batch by batch, to a file that only its
owner (or staff) can download."""

import csv
import io
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integration_console import roles
from review_queue import exports
from review_queue.exports import queue_export_start, queue_exports_prune
from review_queue.models import QueueExport, ReviewItem
from tests.factories import FlowFactory, ReviewItemFactory, UserFactory

pytestmark = pytest.mark.django_db

HEADER = [
    "id",
    "flow",
    "kind",
    "status",
    "source_id",
    "target_id",
    "reason",
    "cause",
    "assignee",
    "occurrences",
    "first_seen",
    "last_seen",
    "closed_at",
]


@pytest.fixture(autouse=True)
def exports_dir(settings, tmp_path) -> Path:
    settings.EXPORTS_DIR = tmp_path / "exports"
    return settings.EXPORTS_DIR


@pytest.fixture
def operator():
    return UserFactory(role=roles.OPERATOR)


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def run_export(operator, in_process_jobs, django_capture_on_commit_callbacks):
    """Start an export as ``operator`` (or ``user``) and run its job here, to the end."""

    def run(filter_query: str = "", user=None) -> QueueExport:
        with django_capture_on_commit_callbacks(execute=True):
            export = queue_export_start(user=user or operator, filter_query=filter_query)
        export.refresh_from_db()
        return export

    return run


def rows_of(export: QueueExport) -> list[list[str]]:
    path = exports.queue_export_file(export)
    assert path is not None, export.error
    with path.open(newline="", encoding="utf-8-sig") as file:
        return list(csv.reader(file))


def by_header(export: QueueExport) -> list[dict[str, str]]:
    header, *rows = rows_of(export)
    return [dict(zip(header, row, strict=True)) for row in rows]


def page_of(export: QueueExport) -> str:
    return reverse("review_queue:export_detail", args=[export.pk])


def download_of(export: QueueExport) -> str:
    return reverse("review_queue:export_download", args=[export.pk])


def test_the_request_records_the_export_and_answers_before_any_row_is_written(
    operator_client, operator
):
    ReviewItemFactory.create_batch(3)
    # The job is queued for after the commit, which this test's transaction never reaches.
    started = time.monotonic()
    response = operator_client.post(
        reverse("review_queue:export_start"), {"filter_query": "kind=invalid&q=&flow="}
    )
    answered_in = time.monotonic() - started

    export = QueueExport.objects.get()
    assert response.status_code == 302 and response.url == page_of(export)
    assert answered_in < 1
    assert (export.status, export.rows_written, export.filter_query, export.requested_by) == (
        "queued",
        0,
        "kind=invalid",
        operator,
    )
    page = operator_client.get(page_of(export))
    assert '<meta http-equiv="refresh" content="2">' in page.content.decode()
    assert "Queued: waiting for a worker." in page.content.decode()


def test_the_file_holds_a_header_and_exactly_the_items_the_filters_select(run_export, operator):
    flow, other_flow = FlowFactory(name="CRM to ERP"), FlowFactory()
    wanted = ReviewItemFactory.create_batch(3, flow=flow, assignee=operator)
    ReviewItemFactory(flow=flow, status=ReviewItem.Status.DISMISSED)  # not active: left out
    ReviewItemFactory(flow=other_flow)  # another flow: left out

    export = run_export(f"flow={flow.pk}&page=3&after=2026-01-01T00:00:00%2B00:00_5")

    header, *rows = rows_of(export)
    assert header == HEADER
    assert sorted(int(row[0]) for row in rows) == sorted(item.pk for item in wanted)
    first = by_header(export)[0]
    item = wanted[0]
    assert first == {
        "id": str(item.pk),
        "flow": "CRM to ERP",
        "kind": "invalid",
        "status": "open",
        "source_id": item.source_id,
        "target_id": "",
        "reason": "email: Enter a valid email address.",
        "cause": item.cause,
        "assignee": operator.username,
        "occurrences": "1",
        "first_seen": item.first_seen.isoformat(),
        "last_seen": item.last_seen.isoformat(),
        "closed_at": "",
    }
    assert (export.status, export.rows_written, export.total) == ("succeeded", 3, 3)
    assert export.started_at and export.finished_at


def test_an_export_of_nothing_is_a_file_with_the_header_alone(run_export):
    export = run_export("kind=conflict")

    assert rows_of(export) == [HEADER]
    assert (export.status, export.rows_written) == ("succeeded", 0)


def test_cells_a_spreadsheet_would_run_as_a_formula_get_a_leading_quote(run_export):
    starts = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tcmd", "\rcmd"]
    for number, reason in enumerate(starts):
        ReviewItemFactory(source_id=f"{reason[:1]}id-{number}", reason=reason)
    ReviewItemFactory(source_id="plain-1", reason="Plain, harmless 1+1=2")

    reasons = {row["source_id"]: row["reason"] for row in by_header(run_export())}

    assert reasons == {
        **{f"'{reason[:1]}id-{number}": f"'{reason}" for number, reason in enumerate(starts)},
        "plain-1": "Plain, harmless 1+1=2",
    }


def test_text_with_commas_quotes_and_newlines_comes_back_as_it_was(run_export):
    reason = "name: \"Smith, Ada\"\nsays 'hi', ünïcødé ✓\r\nand more"
    ReviewItemFactory(source_id='S,1 "quoted"', reason=reason)

    [row] = by_header(run_export())

    assert (row["source_id"], row["reason"]) == ('S,1 "quoted"', reason)


def test_the_job_reads_the_selection_in_bounded_batches_without_the_payload_columns(
    run_export, monkeypatch
):
    monkeypatch.setattr(exports, "BATCH_SIZE", 2)
    ReviewItemFactory.create_batch(5)

    with CaptureQueriesContext(connection) as queries:
        export = run_export()

    reads = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT")
        and '"review_queue_reviewitem"."reason"' in query["sql"]
    ]
    # Five items, two a query: three reads (the last one short), each with its LIMIT.
    assert len(reads) == 3
    assert all("LIMIT 2" in sql for sql in reads)
    assert not any(column in sql for sql in reads for column in ("payload", "snapshot"))
    assert (export.status, export.rows_written, len(rows_of(export))) == ("succeeded", 5, 6)


def test_the_progress_page_offers_the_file_and_the_download_streams_it(
    operator_client, operator, run_export
):
    ReviewItemFactory.create_batch(2)
    export = run_export()

    page = operator_client.get(page_of(export)).content.decode()
    assert 'http-equiv="refresh"' not in page
    assert "2 items written." in page and download_of(export) in page

    response = operator_client.get(download_of(export))
    assert response.status_code == 200 and response.streaming
    day = f"{export.requested_at:%Y-%m-%d}"
    assert response["Content-Disposition"] == (f'attachment; filename="review-items-{day}.csv"')
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(body, newline="")))) == 3


def test_another_user_gets_404_for_someone_elses_export_and_staff_may_see_it(client, run_export):
    export = run_export()

    client.force_login(UserFactory(role=roles.OPERATOR))
    assert client.get(page_of(export)).status_code == 404
    assert client.get(download_of(export)).status_code == 404

    client.force_login(UserFactory(role=roles.ADMIN))
    assert client.get(page_of(export)).status_code == 200
    assert client.get(download_of(export)).status_code == 200


def test_anonymous_visitors_are_sent_to_log_in(client, run_export):
    export = run_export()

    for response in (
        client.get(page_of(export)),
        client.get(download_of(export)),
        client.post(reverse("review_queue:export_start"), {"filter_query": ""}),
    ):
        assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert QueueExport.objects.count() == 1


def test_a_user_without_the_queues_view_permission_cannot_export(client):
    client.force_login(UserFactory())

    response = client.post(reverse("review_queue:export_start"), {"filter_query": ""})

    assert response.status_code == 403
    assert not QueueExport.objects.exists()


def test_filters_the_list_cannot_apply_record_nothing_and_say_why(operator_client):
    response = operator_client.post(
        reverse("review_queue:export_start"), {"filter_query": "kind=nonsense"}
    )

    assert response.status_code == 302
    assert response.url == f"{reverse('review_queue:item_list')}?kind=nonsense"
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert message.startswith("Nothing exported: the filter 'kind'")
    assert not QueueExport.objects.exists()


def test_a_person_who_lost_the_right_to_see_the_queue_gets_no_file(run_export, operator):
    ReviewItemFactory()
    operator.is_active = False
    operator.save()

    export = run_export()

    assert export.status == "failed" and "may no longer see" in export.error
    assert exports.queue_export_file(export) is None


def test_a_job_delivered_twice_writes_the_file_once(run_export):
    ReviewItemFactory()
    export = run_export()

    again = exports.queue_export_execute(export_id=export.pk)

    assert (again.status, again.file_name) == ("succeeded", export.file_name)
    assert len(list(Path(exports.settings.EXPORTS_DIR).iterdir())) == 1


def test_files_older_than_a_day_are_deleted_and_their_page_says_so(
    operator_client, run_export, exports_dir
):
    ReviewItemFactory()
    old = run_export()
    old_path = exports.queue_export_file(old)
    day_ago = time.time() - 25 * 3600
    os.utime(old_path, (day_ago, day_ago))
    QueueExport.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(hours=25))
    stray = exports_dir / "review-items-99-abc.csv.part"  # left by a job that died
    stray.write_text("id\n")
    os.utime(stray, (day_ago, day_ago))

    fresh = run_export()  # its job prunes first

    assert not old_path.exists() and not stray.exists()
    assert exports.queue_export_file(fresh) is not None
    old.refresh_from_db()
    assert old.file_name == ""
    assert "The file was deleted" in operator_client.get(page_of(old)).content.decode()
    assert operator_client.get(download_of(old)).status_code == 404
    assert queue_exports_prune() == 0


def test_a_running_export_whose_job_went_quiet_is_marked_failed(operator):
    quiet = QueueExport.objects.create(
        requested_by=operator,
        status=QueueExport.Status.RUNNING,
        heartbeat_at=timezone.now() - timedelta(minutes=5),
    )

    queue_exports_prune()

    quiet.refresh_from_db()
    assert quiet.status == "failed" and "job was lost" in quiet.error


def test_the_list_offers_an_export_of_its_current_filters(operator_client):
    page = operator_client.get(reverse("review_queue:item_list"), {"kind": "invalid"})

    html = page.content.decode()
    assert 'form="export-form"' in html and ">Export CSV</button>" in html
    assert 'name="filter_query" value="kind=invalid"' in html


# Without a surrounding transaction, as in a real request: the enqueue happens at once.
@pytest.mark.django_db(transaction=True)
def test_with_the_queue_refusing_the_job_the_row_is_failed_and_the_page_says_not_queued(
    client, settings
):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # port 9 (discard) is closed here
    settings.RQ_QUEUES = {"default": {"URL": settings.REDIS_URL, "DEFAULT_TIMEOUT": 60}}
    client.force_login(UserFactory(role=roles.OPERATOR))

    response = client.post(reverse("review_queue:export_start"), {"filter_query": ""}, follow=True)

    export = QueueExport.objects.get()
    assert response.redirect_chain[-1][0] == page_of(export)
    [message] = [str(m) for m in response.context["messages"]]
    assert "NOT queued" in message and "queued:" not in message.lower().replace("not queued", "")
    assert (export.status, export.error[:10], export.file_name) == ("failed", "Not queued", "")
    html = response.content.decode()
    assert "The export was not queued" in html and 'http-equiv="refresh"' not in html
