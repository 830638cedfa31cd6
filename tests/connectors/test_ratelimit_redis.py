"""A system's rate limit in Redis: one token bucket that every worker process draws from."""

import logging
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

from connectors.ratelimit import RedisTokenBucket

BASE_DIR = Path(__file__).resolve().parents[2]

# One worker process: waits for the common start, then takes ``count`` tokens from the bucket
# and prints the moment each request could go.
WORKER = """
import sys, time
import redis
from connectors.ratelimit import RedisTokenBucket

url, key, rate, count, start = sys.argv[1:]
bucket = RedisTokenBucket(redis.Redis.from_url(url), key, float(rate))
time.sleep(max(0.0, float(start) - time.time()))
for _ in range(int(count)):
    bucket.wait()
    print(repr(time.time()), flush=True)
"""


class SleepRecorder:
    def __init__(self) -> None:
        self.slept: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.fixture
def client(redis_url):
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


@pytest.fixture
def key(client):
    name = f"test:rate-limit:{uuid.uuid4().hex}"
    yield name
    client.delete(name)


def most_in_any_window(moments: list[float], seconds: float) -> int:
    moments = sorted(moments)
    return max(
        sum(1 for later in moments[index:] if later - moment < seconds)
        for index, moment in enumerate(moments)
    )


def test_two_processes_sharing_a_systems_bucket_keep_its_rate_together(redis_url, key):
    rate, each = 25, 12
    start = time.time() + 2.0  # both Pythons started and imported by then
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, redis_url, key, str(rate), str(each), str(start)],
            cwd=BASE_DIR,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=20)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0]
    first, second = ([float(line) for line in output.split()] for output in outputs)
    assert len(first) == len(second) == each
    # They did run side by side: each sent requests while the other was sending.
    assert first[0] < second[-1] and second[0] < first[-1]

    moments = first + second
    # 24 requests at 25 a second take 23/25 s however they are shared; each process alone
    # would have been done in 11/25 s.
    assert max(moments) - min(moments) >= 0.8 * (2 * each - 1) / rate
    # In any 0.4 s, about 0.4 * 25 = 10 requests (11 counting both ends); apart they would
    # send about 20.
    assert most_in_any_window(moments, 0.4) <= 13


def test_each_request_sleeps_just_until_its_token_is_due(client, key):
    sleep = SleepRecorder()
    bucket = RedisTokenBucket(client, key, 10, sleep=sleep)

    for _ in range(4):
        bucket.wait()

    # A full bucket lets the first go at once; the others reserved the next free moments in
    # turn, 0.1 s apart (the recorder does not sleep, so little real time passed).
    assert len(sleep.slept) == 3
    for slept, due in zip(sleep.slept, [0.1, 0.2, 0.3], strict=True):
        assert due - 0.03 <= slept <= due


def test_an_idle_bucket_holds_no_more_than_its_burst(client, key):
    sleep = SleepRecorder()
    bucket = RedisTokenBucket(client, key, 20, burst=3, sleep=sleep)
    bucket.wait()
    time.sleep(0.5)  # 10 tokens' worth of idle time, but the bucket holds 3

    for _ in range(3):
        bucket.wait()
    assert sleep.slept == []
    bucket.wait()
    assert len(sleep.slept) == 1 and 0.02 <= sleep.slept[0] <= 0.05


def test_systems_have_buckets_of_their_own(client, key):
    sleep = SleepRecorder()
    busy = RedisTokenBucket(client, key, 1, sleep=sleep)
    for _ in range(3):
        busy.wait()
    assert len(sleep.slept) == 2

    other = RedisTokenBucket(client, f"{key}:other", 1, sleep=sleep)
    other.wait()
    assert len(sleep.slept) == 2
    client.delete(f"{key}:other")


def test_a_bucket_expires_once_it_would_be_full_again(client, key):
    RedisTokenBucket(client, key, 2, burst=2).wait()
    # Full again after 1/2 s; gone a second after that.
    assert 0 < client.pttl(key) <= 2000


def test_without_redis_the_process_spaces_its_own_requests(caplog):
    unreachable = redis.Redis.from_url("redis://127.0.0.1:1/0")
    sleep = SleepRecorder()
    bucket = RedisTokenBucket(unreachable, "test:rate-limit:down", 4, sleep=sleep)

    with caplog.at_level(logging.WARNING, logger="connectors.ratelimit"):
        for _ in range(3):
            bucket.wait()

    assert len(sleep.slept) == 2
    for slept, due in zip(sleep.slept, [0.25, 0.5], strict=True):
        assert due - 0.1 <= slept <= due
    (warning,) = caplog.records
    assert "Redis cannot be reached" in warning.getMessage()
