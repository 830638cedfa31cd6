"""Without Redis, jobs run in a few threads of the web process, after commit and outside the
request; a job's follow-up jobs run after it, not inside it."""

import threading
import time

import pytest

from integration_console.sync.dispatch import enqueue_job, job_is_pending

# Outside a transaction, as in a view: the job is handed over at once.
pytestmark = pytest.mark.django_db(transaction=True)

ran: list[tuple[object, int]] = []


def note_thread(number: int) -> None:
    ran.append((threading.current_thread(), number))


def chain(number: int) -> None:
    ran.append(("depth", len(_stack())))
    if number:
        enqueue_job("tests.sync.test_dispatch.chain", number - 1)


def _stack():
    import inspect

    return inspect.stack()


@pytest.fixture(autouse=True)
def forget():
    ran.clear()


def test_many_jobs_share_a_few_threads_and_all_run(settings):
    settings.REDIS_URL, settings.IN_PROCESS_JOBS = "", "thread"
    for number in range(200):
        enqueue_job("tests.sync.test_dispatch.note_thread", number)

    deadline = time.monotonic() + 20
    while len(ran) < 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(number for _, number in ran) == list(range(200))
    threads = {id(thread) for thread, _ in ran}  # the list keeps each thread object alive
    assert len(threads) <= settings.IN_PROCESS_JOB_THREADS
    assert threading.main_thread() not in {thread for thread, _ in ran}


def test_a_jobs_follow_up_runs_after_it_not_inside_it(settings):
    settings.REDIS_URL, settings.IN_PROCESS_JOBS = "", "inline"
    enqueue_job("tests.sync.test_dispatch.chain", 50)

    depths = [depth for _, depth in ran]
    assert len(depths) == 51
    assert max(depths) - min(depths) == 0  # a loop, not a recursion 50 deep


def test_a_job_a_dead_worker_took_off_its_queue_is_not_taken_for_waiting(redis_url, settings):
    """RQ moves a job to an "intermediate" list when a worker takes it, and marks it started
    only in the work horse; a worker killed in between leaves it "queued" where no worker
    looks. The recovery must see it as lost, or the chunk it was for waits for ever."""
    import django_rq
    from rq import Queue

    settings.REDIS_URL = redis_url
    # A queue of this test's own: the lane's rqworker listens on "default".
    queue = Queue("dispatch-test", connection=django_rq.get_connection("default"))
    queue.empty()
    queue.enqueue("tests.sync.test_dispatch.note_thread", 1, job_id="dispatch-test-taken")
    queue.enqueue("tests.sync.test_dispatch.note_thread", 2, job_id="dispatch-test-waiting")
    try:
        taken, _ = Queue.dequeue_any([queue], None, connection=queue.connection)
        assert taken.id == "dispatch-test-taken"  # and its worker dies here

        assert not job_is_pending("dispatch-test-taken")
        assert job_is_pending("dispatch-test-waiting")
    finally:
        queue.empty()
        queue.intermediate_queue.remove("dispatch-test-taken")
